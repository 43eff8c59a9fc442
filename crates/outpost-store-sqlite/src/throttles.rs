//! [`ThrottleStore`] on SQLite: one row per counted attempt. A reservation is one
//! `BEGIN IMMEDIATE` transaction — forget the key's expired attempts, count the rest, insert
//! one if the budget has room — so the database's write lock is held from the count to the
//! insert, and no other connection (another instance on the same file) counts in between. A
//! batch ([`ThrottleStore::reserve_many`]) is the same transaction inserting up to N rows.

use async_trait::async_trait;
use rusqlite::{Connection, TransactionBehavior, params};

use super::{Failure, SqliteStore, query_one};
use outpost_store::{Admission, Allowance, Budget, Reservation, StoreError, ThrottleStore};

#[async_trait]
impl ThrottleStore for SqliteStore {
    async fn reserve(&self, key: &str, budget: Budget, now: i64) -> Result<Admission, StoreError> {
        let key = key.to_owned();
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let allowed = i64::from(budget.attempts);
            let expires_at = now.saturating_add(budget.window_seconds());
            let admission = match room(&tx, &key, budget, now)? {
                Room::FullUntil(frees_at) => Admission::refused_until(frees_at, now),
                Room::Live(live) => {
                    let id = tx.query_row(
                    "INSERT INTO throttle_attempts (key, expires_at) VALUES (?1, ?2) RETURNING id",
                    params![key, expires_at],
                    |row| row.get(0),
                )?;
                    let remaining = u32::try_from(allowed - live - 1).unwrap_or(0);
                    Admission::Reserved(Reservation { key, id, remaining })
                }
            };
            tx.commit()?;
            Ok(admission)
        })
        .await
    }

    async fn reserve_many(
        &self,
        key: &str,
        budget: Budget,
        count: u32,
        now: i64,
    ) -> Result<Allowance, StoreError> {
        let key = key.to_owned();
        self.call(move |c| {
            let tx = c.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let allowed = i64::from(budget.attempts);
            let expires_at = now.saturating_add(budget.window_seconds());
            let allowance = match room(&tx, &key, budget, now)? {
                Room::FullUntil(frees_at) => Allowance::refused_until(frees_at, now),
                Room::Live(live) => {
                    let granted = (allowed - live).min(i64::from(count.max(1)));
                    let mut insert = tx.prepare(
                        "INSERT INTO throttle_attempts (key, expires_at) VALUES (?1, ?2)",
                    )?;
                    for _ in 0..granted {
                        insert.execute(params![key, expires_at])?;
                    }
                    drop(insert);
                    Allowance::Granted {
                        granted: u32::try_from(granted).unwrap_or(u32::MAX),
                    }
                }
            };
            tx.commit()?;
            Ok(allowance)
        })
        .await
    }

    async fn release(&self, reservation: &Reservation) -> Result<(), StoreError> {
        let Reservation { key, id, .. } = reservation.clone();
        self.call(move |c| {
            c.execute(
                "DELETE FROM throttle_attempts WHERE id = ?1 AND key = ?2",
                params![id, key],
            )?;
            Ok(())
        })
        .await
    }

    async fn purge_expired(&self, now: i64) -> Result<u64, StoreError> {
        self.call(move |c| {
            let removed = c.execute(
                "DELETE FROM throttle_attempts WHERE expires_at <= ?1",
                [now],
            )?;
            Ok(removed as u64)
        })
        .await
    }
}

/// Where a key's budget stands at `now`, its expired attempts forgotten.
enum Room {
    /// This many attempts are live, fewer than the budget allows.
    Live(i64),
    /// The budget is spent until then.
    FullUntil(i64),
}

/// The first step of [`ThrottleStore::reserve`] and [`ThrottleStore::reserve_many`], inside
/// their `BEGIN IMMEDIATE` transaction: forget `key`'s expired attempts, count the rest, and when
/// the budget is spent, say when it has room again.
fn room(tx: &Connection, key: &str, budget: Budget, now: i64) -> Result<Room, Failure> {
    tx.execute(
        "DELETE FROM throttle_attempts WHERE key = ?1 AND expires_at <= ?2",
        params![key, now],
    )?;
    let live: i64 = tx.query_row(
        "SELECT count(*) FROM throttle_attempts WHERE key = ?1",
        [key],
        |row| row.get(0),
    )?;
    let allowed = i64::from(budget.attempts);
    if live < allowed {
        return Ok(Room::Live(live));
    }
    // Room comes back when all but `allowed - 1` of the live attempts have expired.
    let frees_at = query_one(
        tx,
        "SELECT expires_at FROM throttle_attempts WHERE key = ?1 \
         ORDER BY expires_at LIMIT 1 OFFSET ?2",
        params![key, live - allowed],
        |row| Ok(row.get::<_, i64>(0)?),
    )?;
    Ok(Room::FullUntil(frees_at.unwrap_or_else(|| {
        now.saturating_add(budget.window_seconds())
    })))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use outpost_store::behaviour_suite::TempDir;

    use super::*;

    /// Two connections on one file, as two instances are: a burst spread over both is granted
    /// exactly the budget.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_budget_holds_across_connections_to_one_file() {
        let dir = TempDir::new();
        let path = dir.path().join("shared.db");
        let first = crate::open(&path).await.expect("open");
        let second = crate::open(&path).await.expect("open again");
        let budget = Budget::new(5, Duration::from_secs(900));
        let tasks: Vec<_> = (0..30)
            .map(|n| {
                let throttles = if n % 2 == 0 {
                    first.throttles.clone()
                } else {
                    second.throttles.clone()
                };
                tokio::spawn(async move { throttles.reserve("shared", budget, 1_000).await })
            })
            .collect();
        let mut granted = 0;
        for task in tasks {
            if let Admission::Reserved(_) = task.await.expect("task").expect("reserve") {
                granted += 1;
            }
        }
        assert_eq!(granted, 5);
    }

    /// Batches from two connections on one file never count more than the budget between
    /// them.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn batches_hold_a_budget_across_connections_to_one_file() {
        let dir = TempDir::new();
        let path = dir.path().join("shared.db");
        let first = crate::open(&path).await.expect("open");
        let second = crate::open(&path).await.expect("open again");
        let budget = Budget::new(50, Duration::from_secs(1));
        let tasks: Vec<_> = (0..20)
            .map(|n| {
                let throttles = if n % 2 == 0 {
                    first.throttles.clone()
                } else {
                    second.throttles.clone()
                };
                tokio::spawn(async move { throttles.reserve_many("rate", budget, 5, 1_000).await })
            })
            .collect();
        let mut granted = 0;
        for task in tasks {
            if let Allowance::Granted { granted: n } = task.await.expect("task").expect("reserve") {
                granted += n;
            }
        }
        assert_eq!(granted, 50);
    }
}
