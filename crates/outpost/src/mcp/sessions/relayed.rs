//! What the relay tells this instance of its parked sessions (`mcp::relay`'s `GetStreams`):
//! a GET stream of a session opened on another instance ends the one here (the latest GET
//! wins); a session ended on another instance (`DELETE`) ends its GET stream and its running
//! requests here and leaves the cache, so that a store outage cannot bring it back —
//! `load_within` serves a session as last read while the store does not answer.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use rmcp::transport::streamable_http_server::SessionId;

use super::{Cached, events::OpenGetStreams, lock, request::InFlight};
use crate::{mcp::relay::GetStreams, store::EventId};

/// The sessions read from the store, by id (`load_within`).
pub(super) type SessionCache = Mutex<HashMap<SessionId, Cached>>;

/// The session manager's ear on the relay; see the module docs.
pub(super) struct RelayedSessionNews {
    pub(super) get_streams: Arc<OpenGetStreams>,
    pub(super) cache: Arc<SessionCache>,
    pub(super) in_flight: Arc<InFlight>,
}

impl GetStreams for RelayedSessionNews {
    fn opened(&self, session: &str, at: EventId) {
        self.get_streams.opened(session, at);
    }

    fn ended(&self, session: &str) {
        let session = SessionId::from(session);
        self.get_streams.close(&session);
        self.in_flight.cancel_session(&session);
        lock(&self.cache).remove(&session);
    }
}
