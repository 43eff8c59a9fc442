//! What travels between instances on the relay's streams: a client message for what runs on
//! another instance, and the receipt that says what became of it.
//!
//! Envelopes are JSON in the store's event store, read by Outpost instances only; their shape
//! may change between releases (they live for seconds).

use std::sync::Arc;

use rmcp::model::ClientJsonRpcMessage;
use serde::{Deserialize, Serialize};

use crate::auth::{resource::Identity, scope::Scope};

/// Which of an instance's recipients a relayed message is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Destination {
    /// The requests of parked sessions running on the instance (`mcp::sessions`).
    ParkedRequests,
    /// The 2024-11-05 sessions whose `/sse` stream the instance holds (`mcp::legacy_sse`).
    LegacySessions,
}

/// What became of a relayed message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Outcome {
    /// Handed to what it was for.
    Delivered,
    /// Nothing on the instance awaits it (the request or the session has ended).
    NoRecipient,
    /// The recipient has no room for it now: retry later.
    Busy,
    /// No receipt came back in time: the instance is gone (or too slow to tell).
    Unanswered,
}

/// The caller of a relayed request, so that the handler on the other instance sees the same
/// [`Identity`] as one on the instance that received the POST. The bearer token itself is
/// never relayed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct RelayedCaller {
    subject: String,
    username: Option<String>,
    client_id: Option<String>,
    scopes: Scope,
    grant_id: Option<String>,
}

impl From<&Identity> for RelayedCaller {
    fn from(identity: &Identity) -> Self {
        Self {
            subject: identity.subject.clone(),
            username: identity.username.clone(),
            client_id: identity.client_id.clone(),
            scopes: identity.scopes.clone(),
            grant_id: identity.grant_id.clone(),
        }
    }
}

impl From<RelayedCaller> for Arc<Identity> {
    fn from(caller: RelayedCaller) -> Self {
        Arc::new(Identity {
            subject: caller.subject,
            username: caller.username,
            client_id: caller.client_id,
            scopes: caller.scopes,
            grant_id: caller.grant_id,
        })
    }
}

/// One message on a relay stream.
#[derive(Debug, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Envelope {
    /// A client's `notifications/cancelled` for a parked session's request, to every instance
    /// (the one running the request is not known); no receipt.
    Cancel {
        /// The session.
        session: String,
        /// The notification.
        message: ClientJsonRpcMessage,
    },
    /// Client messages for one instance's recipient; a receipt is expected.
    Deliver {
        /// The recipient.
        to: Destination,
        /// The session.
        session: String,
        /// The messages, in order.
        messages: Vec<ClientJsonRpcMessage>,
        /// Who sent them, when the server authenticates.
        caller: Option<RelayedCaller>,
        /// The instance awaiting the receipt.
        reply_to: String,
        /// The sender's number for the receipt.
        ticket: u64,
    },
    /// A GET stream of a parked session opened, to every instance: any other GET stream of
    /// the session, announced before, ends (a session has one GET stream across instances).
    GetStreamOpened {
        /// The session.
        session: String,
    },
    /// A parked session was ended (`DELETE`), to every instance: its GET stream there ends.
    /// (An instance of an earlier release skips it, and ends the stream at its next look at
    /// the store.)
    SessionEnded {
        /// The session.
        session: String,
    },
    /// What became of a [`Envelope::Deliver`].
    Receipt {
        /// The sender's number.
        ticket: u64,
        /// What became of it.
        outcome: Outcome,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_envelope_round_trips_its_messages_and_caller() {
        let cancel: ClientJsonRpcMessage = serde_json::from_value(serde_json::json!({
            "jsonrpc": "2.0", "method": "notifications/cancelled",
            "params": { "requestId": 7, "reason": "test" }
        }))
        .expect("a cancellation");
        let identity = Identity {
            subject: "alice".into(),
            username: Some("Alice".into()),
            client_id: Some("client".into()),
            scopes: Scope::parse("mcp:tools files:read").expect("scope"),
            grant_id: None,
        };
        let envelope = Envelope::Deliver {
            to: Destination::LegacySessions,
            session: "s".into(),
            messages: vec![cancel],
            caller: Some(RelayedCaller::from(&identity)),
            reply_to: "abc".into(),
            ticket: 3,
        };
        let json = serde_json::to_string(&envelope).expect("json");
        let Envelope::Deliver {
            messages, caller, ..
        } = serde_json::from_str(&json).expect("parses")
        else {
            panic!("not a delivery: {json}");
        };
        assert_eq!(
            serde_json::to_value(&messages[0]).expect("json")["params"]["requestId"],
            7
        );
        let back: Arc<Identity> = caller.expect("a caller").into();
        assert_eq!(*back, identity);
    }
}
