//! A parked session as the store keeps it: what a request needs to be served on any instance.
//!
//! The store's [`McpSessionRecord`] holds the owner (the subject that created the session,
//! `None` without authentication) and, as `state`, rmcp's serializable `SessionState`: the
//! client's `initialize` parameters with the negotiated protocol version — the peer info every
//! request is served with. It is the shape rmcp's own `SessionStore` writes, so a record
//! written by the restore path of earlier releases loads here too. The record's `data` is what
//! the handler keeps between requests ([`super::data`]).

use std::sync::{Arc, Mutex};

use rmcp::{model::ClientConfig, transport::streamable_http_server::session::store::SessionState};

use super::data::DataCell;
use crate::store::McpSessionRecord;

/// A session between requests: no task, channel or handler, only this.
#[derive(Debug)]
pub(crate) struct ParkedSession {
    /// The client as it introduced itself, with the negotiated protocol version.
    pub(crate) peer: Arc<ClientConfig>,
    /// The subject of the access token that created the session.
    pub(crate) owner: Option<String>,
    /// The handler's data as last read or written here.
    pub(crate) data: DataCell,
}

impl ParkedSession {
    /// The session a stored record describes; `None` for a record whose handshake was never
    /// stored (an owner alone).
    pub(crate) fn from_record(record: McpSessionRecord) -> Result<Option<Self>, serde_json::Error> {
        let Some(state) = record.state else {
            return Ok(None);
        };
        let state: SessionState = serde_json::from_str(&state)?;
        Ok(Some(Self {
            peer: Arc::new(state.initialize_params),
            owner: record.owner,
            data: Arc::new(Mutex::new(record.data)),
        }))
    }

    /// The `state` field the store keeps for this session.
    pub(crate) fn state_json(&self) -> Result<String, serde_json::Error> {
        serde_json::to_string(&SessionState::new((*self.peer).clone()))
    }
}

#[cfg(test)]
mod tests {
    use rmcp::model::{Implementation, ProtocolVersion};

    use super::*;

    #[test]
    fn a_record_round_trips_its_peer_and_owner() {
        let mut peer = ClientConfig::default();
        peer.protocol_version = ProtocolVersion::V_2025_06_18;
        peer.client_info = Implementation::new("client", "1.0");
        let parked = ParkedSession {
            peer: Arc::new(peer),
            owner: Some("alice".into()),
            data: DataCell::default(),
        };
        let record = McpSessionRecord {
            session_id: "s".into(),
            owner: parked.owner.clone(),
            state: Some(parked.state_json().expect("json")),
            data: Some(r#"{"level":"info"}"#.into()),
            created_at: 0,
            expires_at: 1,
        };
        let loaded = ParkedSession::from_record(record)
            .expect("parses")
            .expect("has a handshake");
        assert_eq!(loaded.peer.protocol_version, ProtocolVersion::V_2025_06_18);
        assert_eq!(loaded.peer.client_info.name, "client");
        assert_eq!(loaded.owner.as_deref(), Some("alice"));
        assert_eq!(
            loaded.data.lock().expect("lock").as_deref(),
            Some(r#"{"level":"info"}"#)
        );
    }

    #[test]
    fn an_owner_without_a_handshake_is_no_session() {
        let record = McpSessionRecord {
            session_id: "s".into(),
            owner: Some("alice".into()),
            state: None,
            data: None,
            created_at: 0,
            expires_at: 1,
        };
        assert!(
            ParkedSession::from_record(record)
                .expect("parses")
                .is_none()
        );
    }
}
