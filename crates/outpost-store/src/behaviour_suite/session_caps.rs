//! The suite's checks of the session caps
//! ([`McpSessionStore::create_counted`](crate::McpSessionStore::create_counted)): live counted
//! sessions are counted per owner and in total, a deleted or expired one frees its slot, and
//! concurrent creations never pass a cap between them.

use super::NOW;
use crate::{SessionAdmission, SessionCaps, Store, StoreError};

const STATE: &str = r#"{"initialize_params":{}}"#;

/// Counted sessions hold the per-owner cap (checked first) and the total, until deleted or
/// expired; sessions written by `save_state` / `record_owner` do not count.
pub async fn counted_sessions_hold_the_caps_per_owner_and_in_total(store: Store) {
    let sessions = &store.mcp_sessions;
    let caps = SessionCaps {
        per_owner: 2,
        total: 3,
    };
    let create = |id: &'static str, owner: Option<&'static str>, expires_at: i64, now: i64| {
        sessions.create_counted(id, STATE, owner, now, expires_at, caps)
    };
    // Not counted: made by the two-writer path.
    sessions
        .save_state("uncounted", STATE, NOW, NOW + 100)
        .await
        .expect("state");
    for id in ["a1", "a2"] {
        assert_eq!(
            create(id, Some("alice"), NOW + 100, NOW).await.expect("a"),
            SessionAdmission::Created
        );
    }
    let a1 = sessions
        .get("a1", NOW)
        .await
        .expect("get")
        .expect("a1 live");
    assert_eq!(
        (
            a1.owner.as_deref(),
            a1.state.as_deref(),
            a1.created_at,
            a1.expires_at
        ),
        (Some("alice"), Some(STATE), NOW, NOW + 100)
    );
    assert_eq!(
        create("a3", Some("alice"), NOW + 100, NOW)
            .await
            .expect("a3"),
        SessionAdmission::OwnerAtCap,
        "alice holds her share"
    );
    assert_eq!(sessions.get("a3", NOW).await.expect("get"), None);
    assert_eq!(
        create("b1", Some("bob"), NOW + 10, NOW).await.expect("b1"),
        SessionAdmission::Created
    );
    assert_eq!(
        create("b2", Some("bob"), NOW + 100, NOW).await.expect("b2"),
        SessionAdmission::StoreAtCap,
        "three live sessions in total"
    );
    assert_eq!(
        create("n1", None, NOW + 100, NOW).await.expect("n1"),
        SessionAdmission::StoreAtCap,
        "a session without owner counts against the total only"
    );
    assert!(
        matches!(
            create("a1", Some("carol"), NOW + 100, NOW).await,
            Err(StoreError::Conflict(_))
        ),
        "an id in use is a conflict, whatever the counts"
    );

    // A deleted session frees its owner's slot and the total's.
    sessions.delete("a1").await.expect("delete");
    assert_eq!(
        create("a3", Some("alice"), NOW + 100, NOW)
            .await
            .expect("a3"),
        SessionAdmission::Created
    );
    // An expired one too, unless touched in time: b1 expires at NOW + 10.
    assert_eq!(
        create("n1", None, NOW + 100, NOW + 5).await.expect("n1"),
        SessionAdmission::StoreAtCap
    );
    sessions.touch("a2", NOW + 200).await.expect("touch");
    assert_eq!(
        create("n1", None, NOW + 100, NOW + 10).await.expect("n1"),
        SessionAdmission::Created,
        "b1 has expired"
    );
    assert_eq!(
        create("a4", Some("alice"), NOW + 300, NOW + 50)
            .await
            .expect("a4"),
        SessionAdmission::OwnerAtCap
    );
    assert_eq!(
        create("c1", Some("carol"), NOW + 300, NOW + 50)
            .await
            .expect("c1"),
        SessionAdmission::StoreAtCap
    );
    // At NOW + 150 a3 and n1 have expired; the touched a2 still counts.
    assert_eq!(
        create("a4", Some("alice"), NOW + 300, NOW + 150)
            .await
            .expect("a4"),
        SessionAdmission::Created
    );
    assert_eq!(
        create("a5", Some("alice"), NOW + 300, NOW + 150)
            .await
            .expect("a5"),
        SessionAdmission::OwnerAtCap,
        "a2, touched, and a4"
    );
    // b1, a3, n1 and the uncounted session.
    assert_eq!(sessions.purge_expired(NOW + 150).await.expect("purge"), 4);
    assert_eq!(
        create("c1", Some("carol"), NOW + 300, NOW + 150)
            .await
            .expect("c1"),
        SessionAdmission::Created
    );
    assert_eq!(
        create("c2", Some("carol"), NOW + 300, NOW + 150)
            .await
            .expect("c2"),
        SessionAdmission::StoreAtCap
    );
}

/// Concurrent creations for one owner never pass the cap between them.
pub async fn counted_sessions_are_admitted_atomically_under_a_burst(store: Store) {
    let caps = SessionCaps {
        per_owner: 5,
        total: 100,
    };
    let attempts = (0..16).map(|n| {
        let sessions = store.mcp_sessions.clone();
        tokio::spawn(async move {
            sessions
                .create_counted(&format!("s{n}"), STATE, Some("alice"), NOW, NOW + 100, caps)
                .await
                .expect("create")
        })
    });
    let mut created = 0;
    for attempt in attempts.collect::<Vec<_>>() {
        match attempt.await.expect("task") {
            SessionAdmission::Created => created += 1,
            SessionAdmission::OwnerAtCap => {}
            SessionAdmission::StoreAtCap => panic!("the total is not reached"),
        }
    }
    assert_eq!(created, 5);
}
