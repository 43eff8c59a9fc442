//! The suite's checks of [`ThrottleStore`](crate::ThrottleStore): budgets, windows, release,
//! purge, batches, and atomicity under a concurrent burst.

use std::time::Duration;

use super::NOW;
use crate::{Admission, Allowance, Budget, Reservation, Store};

const FIVE_PER_MINUTE: Budget = Budget::new(5, Duration::from_secs(60));

async fn reserve(store: &Store, key: &str, budget: Budget, now: i64) -> Admission {
    store
        .throttles
        .reserve(key, budget, now)
        .await
        .expect("reserve")
}

fn granted(admission: Admission) -> Reservation {
    match admission {
        Admission::Reserved(reservation) => reservation,
        Admission::Refused { retry_after } => panic!("refused, retry after {retry_after}"),
    }
}

/// A budget grants its attempts per key, counting down what remains, refuses the next one
/// until the oldest leaves the window, and takes back released attempts.
pub async fn throttle_budgets_count_attempts_in_a_sliding_window(store: Store) {
    let mut held = Vec::new();
    for (n, remaining) in (0..5).zip([4, 3, 2, 1, 0]) {
        let reservation = granted(reserve(&store, "login:a", FIVE_PER_MINUTE, NOW + n).await);
        assert_eq!(
            (reservation.key.as_str(), reservation.remaining),
            ("login:a", remaining)
        );
        held.push(reservation);
    }
    let ids: std::collections::HashSet<i64> = held.iter().map(|r| r.id).collect();
    assert_eq!(ids.len(), 5, "every reservation has its own id");
    // The first attempt (at NOW) leaves the window at NOW + 60.
    assert_eq!(
        reserve(&store, "login:a", FIVE_PER_MINUTE, NOW + 10).await,
        Admission::Refused { retry_after: 50 }
    );
    assert_eq!(
        reserve(&store, "login:a", FIVE_PER_MINUTE, NOW + 59).await,
        Admission::Refused { retry_after: 1 }
    );
    let other = granted(reserve(&store, "login:b", FIVE_PER_MINUTE, NOW + 10).await);
    assert_eq!(other.remaining, 4, "keys are independent");

    // A released attempt no longer counts; releasing it again changes nothing.
    store.throttles.release(&held[2]).await.expect("release");
    store
        .throttles
        .release(&held[2])
        .await
        .expect("release twice");
    let back = granted(reserve(&store, "login:a", FIVE_PER_MINUTE, NOW + 10).await);
    assert_eq!(back.remaining, 0);
    assert!(matches!(
        reserve(&store, "login:a", FIVE_PER_MINUTE, NOW + 10).await,
        Admission::Refused { .. }
    ));

    // The window slides: at NOW + 60 the attempt made at NOW has left it.
    let later = granted(reserve(&store, "login:a", FIVE_PER_MINUTE, NOW + 60).await);
    assert_eq!(later.remaining, 0);

    // A smaller budget on the same key waits for enough attempts to leave.
    assert_eq!(
        reserve(
            &store,
            "login:a",
            Budget::new(2, Duration::from_secs(60)),
            NOW + 61
        )
        .await,
        Admission::Refused { retry_after: 9 },
        "live: the attempts of NOW+3, +4, +10, +60; room when three have left, at NOW+70"
    );
}

/// Purging forgets exactly the attempts whose window has ended.
pub async fn throttle_purge_forgets_only_expired_attempts(store: Store) {
    let short = Budget::new(10, Duration::from_secs(30));
    for n in 0..3 {
        granted(reserve(&store, &format!("k{n}"), short, NOW).await);
    }
    granted(reserve(&store, "k0", FIVE_PER_MINUTE, NOW).await);
    assert_eq!(
        store
            .throttles
            .purge_expired(NOW + 29)
            .await
            .expect("purge"),
        0
    );
    assert_eq!(
        store
            .throttles
            .purge_expired(NOW + 30)
            .await
            .expect("purge"),
        3
    );
    assert_eq!(
        store
            .throttles
            .purge_expired(NOW + 30)
            .await
            .expect("purge"),
        0
    );
    let k0 = granted(reserve(&store, "k0", FIVE_PER_MINUTE, NOW + 30).await);
    assert_eq!(k0.remaining, 3, "the unexpired attempt still counts");
}

/// Of a burst of concurrent reservations, exactly the budget is granted.
pub async fn throttle_reservations_are_atomic_under_a_burst(store: Store) {
    const BURST: usize = 40;
    let budget = Budget::new(7, Duration::from_secs(900));
    let tasks: Vec<_> = (0..BURST)
        .map(|_| {
            let throttles = store.throttles.clone();
            tokio::spawn(async move { throttles.reserve("burst", budget, NOW).await })
        })
        .collect();
    let mut granted_count = 0;
    for task in tasks {
        if let Admission::Reserved(_) = task.await.expect("task").expect("reserve") {
            granted_count += 1;
        }
    }
    assert_eq!(granted_count, 7);
}

/// A batch counts as many attempts as the budget has room for, refuses when it has none, and
/// shares the budget with single reservations; concurrent batches never exceed it.
pub async fn throttle_batches_take_what_the_budget_allows(store: Store) {
    let ten_per_second = Budget::new(10, Duration::from_secs(1));
    let many = |count, now| {
        let throttles = store.throttles.clone();
        async move {
            throttles
                .reserve_many("rate", ten_per_second, count, now)
                .await
                .expect("reserve many")
        }
    };
    assert_eq!(many(4, NOW).await, Allowance::Granted { granted: 4 });
    assert_eq!(many(0, NOW).await, Allowance::Granted { granted: 1 });
    granted(reserve(&store, "rate", ten_per_second, NOW).await);
    assert_eq!(
        many(10, NOW).await,
        Allowance::Granted { granted: 4 },
        "only the room left"
    );
    assert_eq!(many(1, NOW).await, Allowance::Refused { retry_after: 1 });
    assert_eq!(
        many(3, NOW + 1).await,
        Allowance::Granted { granted: 3 },
        "the window has passed"
    );

    let budget = Budget::new(50, Duration::from_secs(900));
    let tasks: Vec<_> = (0..30)
        .map(|_| {
            let throttles = store.throttles.clone();
            tokio::spawn(async move { throttles.reserve_many("burst-many", budget, 4, NOW).await })
        })
        .collect();
    let mut total = 0;
    for task in tasks {
        if let Allowance::Granted { granted } = task.await.expect("task").expect("reserve many") {
            total += granted;
        }
    }
    assert_eq!(total, 50);
}
