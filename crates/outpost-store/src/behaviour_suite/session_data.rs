//! The suite's checks of the handler data of MCP sessions
//! ([`McpSessionStore::replace_data`](crate::McpSessionStore::replace_data)): a compare-and-set
//! that keeps the record's other fields, and loses no change under concurrent writers.

use super::NOW;
use crate::{Store, StoreError};

/// A session's handler data is replaced only if it is still what the writer read, and keeps
/// the record's other fields as they are.
pub async fn mcp_session_data_is_replaced_only_if_unchanged(store: Store) {
    let sessions = &store.mcp_sessions;
    let state = r#"{"initialize_params":{}}"#;
    sessions
        .save_state("s1", state, NOW, NOW + 100)
        .await
        .expect("state");
    sessions
        .record_owner("s1", "alice", NOW, NOW + 100)
        .await
        .expect("owner");
    let (first, second) = (r#"{"level":"info"}"#, r#"{"level":"error"}"#);
    assert!(
        !sessions
            .replace_data("s1", Some(first), second)
            .await
            .expect("replace"),
        "nothing written yet: a writer who read data is refused"
    );
    assert!(
        sessions
            .replace_data("s1", None, first)
            .await
            .expect("first write")
    );
    assert!(
        !sessions
            .replace_data("s1", None, second)
            .await
            .expect("replace"),
        "a second first write loses: it did not read the first"
    );
    assert!(
        sessions
            .replace_data("s1", Some(first), second)
            .await
            .expect("replace")
    );
    let record = sessions
        .get("s1", NOW)
        .await
        .expect("get")
        .expect("s1 live");
    assert_eq!(
        (
            record.data.as_deref(),
            record.owner.as_deref(),
            record.state.as_deref(),
            record.expires_at
        ),
        (Some(second), Some("alice"), Some(state), NOW + 100)
    );
    // A later write of the state (the handshake's writer) keeps the data.
    sessions
        .save_state("s1", state, NOW, NOW + 100)
        .await
        .expect("state again");
    let record = sessions.get("s1", NOW).await.expect("get").expect("live");
    assert_eq!(record.data.as_deref(), Some(second));
    assert!(matches!(
        sessions.replace_data("nope", None, first).await,
        Err(StoreError::NotFound(_))
    ));
    sessions.delete("s1").await.expect("delete");
    assert!(matches!(
        sessions.replace_data("s1", Some(second), first).await,
        Err(StoreError::NotFound(_))
    ));
}

/// Concurrent writers of one session's data, each retrying on a changed read, lose no change.
pub async fn mcp_session_data_writers_lose_no_change(store: Store) {
    let sessions = store.mcp_sessions.clone();
    sessions
        .save_state("s1", "{}", NOW, NOW + 100)
        .await
        .expect("state");
    let writers = (0..8).map(|writer| {
        let sessions = sessions.clone();
        tokio::spawn(async move {
            loop {
                let read = sessions.get("s1", NOW).await.expect("get").expect("live");
                let next = match read.data.as_deref() {
                    Some(text) => format!("{text},{writer}"),
                    None => writer.to_string(),
                };
                if sessions
                    .replace_data("s1", read.data.as_deref(), &next)
                    .await
                    .expect("replace")
                {
                    break;
                }
            }
        })
    });
    for writer in writers.collect::<Vec<_>>() {
        writer.await.expect("writer");
    }
    let record = sessions.get("s1", NOW).await.expect("get").expect("live");
    let mut values: Vec<u32> = record
        .data
        .as_deref()
        .expect("written")
        .split(',')
        .map(|value| value.parse().expect("a writer's number"))
        .collect();
    values.sort_unstable();
    assert_eq!(values, (0..8).collect::<Vec<_>>());
}

/// [`McpSessionStore::changes_here`](crate::McpSessionStore::changes_here) moves with every
/// change to an existing session (replaced data, a delete, a purge) and stays where it is for
/// reads, expiry pushes and new sessions — or is `None` throughout, for a store that cannot
/// tell; so does [`McpSessionStore::changes_to`](crate::McpSessionStore::changes_to) for
/// the changes to its session.
pub async fn mcp_session_changes_are_counted_here(store: Store) {
    let sessions = &store.mcp_sessions;
    let changes = || async { sessions.changes_here().await.expect("changes") };
    let changes_to = |id| async move { sessions.changes_to(id).await.expect("changes") };
    let caps = crate::SessionCaps {
        per_owner: 10,
        total: 10,
    };
    let state = r#"{"initialize_params":{}}"#;
    for id in ["s1", "s2", "s3"] {
        sessions
            .create_counted(id, state, None, NOW, NOW + 100, caps)
            .await
            .expect("create");
    }
    let Some(start) = changes().await else {
        for change in 0..3 {
            match change {
                0 => assert!(sessions.replace_data("s1", None, "{}").await.expect("data")),
                1 => sessions.delete("s2").await.expect("delete"),
                _ => assert_eq!(sessions.purge_expired(NOW + 100).await.expect("purge"), 2),
            }
            assert_eq!(changes().await, None, "a store that cannot tell never can");
            assert_eq!(changes_to("s1").await, None, "nor for one session");
        }
        return;
    };
    let (s1, s2) = (changes_to("s1").await, changes_to("s2").await);
    assert!(
        s1.is_some() && s2.is_some(),
        "a store that counts counts each session"
    );
    sessions.get("s1", NOW).await.expect("get");
    sessions.touch("s1", NOW + 200).await.expect("touch");
    assert_eq!(
        changes().await,
        Some(start),
        "reads and expiry pushes change nothing"
    );
    assert_eq!(changes_to("s1").await, s1, "nor for the session");
    assert!(sessions.replace_data("s1", None, "{}").await.expect("data"));
    let replaced = changes().await.expect("counted");
    assert_ne!(replaced, start, "replaced data");
    assert_ne!(changes_to("s1").await, s1, "replaced data, for the session");
    sessions.delete("s2").await.expect("delete");
    let deleted = changes().await.expect("counted");
    assert_ne!(deleted, replaced, "a delete");
    assert_ne!(changes_to("s2").await, s2, "a delete, for the session");
    let s3 = changes_to("s3").await;
    assert_eq!(sessions.purge_expired(NOW + 100).await.expect("purge"), 1);
    assert_ne!(changes().await.expect("counted"), deleted, "a purge");
    assert_ne!(
        changes_to("s3").await,
        s3,
        "a purge, for the session purged"
    );
}
