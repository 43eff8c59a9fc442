//! Throttles: a sorted set of attempts per key (attempt id by the end of its window) with a
//! TTL, a global index of attempts by window end for the purge, and ids from `INCR`; a
//! reservation (or a batch of them) checks and counts in one script.

use async_trait::async_trait;

use outpost_store::{Admission, Allowance, Budget, Reservation, StoreError, ThrottleStore};

use crate::{RedisStore, parse_time};

/// The longest window stored (ten years), so window ends stay exact in Lua's numbers.
const MAX_WINDOW_SECONDS: i64 = 10 * 365 * 24 * 60 * 60;

#[async_trait]
impl ThrottleStore for RedisStore {
    async fn reserve(&self, key: &str, budget: Budget, now: i64) -> Result<Admission, StoreError> {
        let args = [
            key.to_owned(),
            budget.attempts.to_string(),
            budget.window_seconds().min(MAX_WINDOW_SECONDS).to_string(),
            now.to_string(),
        ];
        let reply: Vec<String> = self
            .eval(
                "reserving a throttle attempt",
                &self.scripts.throttle_reserve,
                &args,
            )
            .await?;
        match reply.as_slice() {
            [status, frees_at] if status == "refused" => Ok(Admission::refused_until(
                parse_time("throttle window end", frees_at)?,
                now,
            )),
            [status, id, remaining] if status == "reserved" => {
                Ok(Admission::Reserved(Reservation {
                    key: key.to_owned(),
                    id: parse_time("throttle attempt id", id)?,
                    remaining: remaining.parse().map_err(|_| {
                        StoreError::Backend(format!("malformed remaining attempts {remaining:?}"))
                    })?,
                }))
            }
            other => Err(StoreError::Backend(format!(
                "unexpected answer {other:?} reserving a throttle attempt"
            ))),
        }
    }

    async fn reserve_many(
        &self,
        key: &str,
        budget: Budget,
        count: u32,
        now: i64,
    ) -> Result<Allowance, StoreError> {
        let args = [
            key.to_owned(),
            budget.attempts.to_string(),
            budget.window_seconds().min(MAX_WINDOW_SECONDS).to_string(),
            now.to_string(),
            count.to_string(),
        ];
        let reply: Vec<String> = self
            .eval(
                "reserving throttle attempts",
                &self.scripts.throttle_reserve_many,
                &args,
            )
            .await?;
        match reply.as_slice() {
            [status, frees_at] if status == "refused" => Ok(Allowance::refused_until(
                parse_time("throttle window end", frees_at)?,
                now,
            )),
            [status, granted] if status == "granted" => Ok(Allowance::Granted {
                granted: granted.parse().map_err(|_| {
                    StoreError::Backend(format!("malformed granted attempts {granted:?}"))
                })?,
            }),
            other => Err(StoreError::Backend(format!(
                "unexpected answer {other:?} reserving throttle attempts"
            ))),
        }
    }

    async fn release(&self, reservation: &Reservation) -> Result<(), StoreError> {
        let _: i64 = self
            .eval(
                "releasing a throttle attempt",
                &self.scripts.throttle_release,
                &[reservation.key.clone(), reservation.id.to_string()],
            )
            .await?;
        Ok(())
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.eval(
            "purging throttle attempts",
            &self.scripts.throttles_purge,
            &[now.to_string()],
        )
        .await
    }
}
