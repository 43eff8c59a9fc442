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
