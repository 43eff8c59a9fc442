//! Log notifications (`notifications/message`) that respect what the client asked for.
//!
//! Up to 2025-11-25 a session sets its minimum level with `logging/setLevel`; on 2026-07-28 a
//! request carries `io.modelcontextprotocol/logLevel` in `_meta`, and without it the server
//! sends no log messages for that request. A parked session keeps its level in its record
//! ([`outpost::SessionData`]), so it holds for every request on every instance. Log messages
//! about a request ride that request's own stream wherever Outpost serves it alone (parked
//! sessions, 2026-07-28, 2024-11-05's one stream); rmcp's session manager sends them on the
//! GET stream. Logging is deprecated by SEP-2577; the reference
//! server still demonstrates it because current clients use it.

use outpost::SessionData;
use rmcp::{
    RoleServer,
    model::{LoggingLevel, LoggingMessageNotificationParam},
    service::RequestContext,
};
use serde_json::Value;

use crate::{
    ReferenceServer,
    state::{DEFAULT_LOG_LEVEL, LOG_LEVEL},
    tools::input::uses_input_required,
};

/// Every level, least severe first.
pub const ALL_LEVELS: [LoggingLevel; 8] = [
    LoggingLevel::Debug,
    LoggingLevel::Info,
    LoggingLevel::Notice,
    LoggingLevel::Warning,
    LoggingLevel::Error,
    LoggingLevel::Critical,
    LoggingLevel::Alert,
    LoggingLevel::Emergency,
];

/// RFC 5424 order: a larger number is more severe.
pub fn severity(level: LoggingLevel) -> usize {
    ALL_LEVELS
        .iter()
        .position(|candidate| *candidate == level)
        .unwrap_or(0)
}

impl ReferenceServer {
    /// The minimum level this request's client wants, or `None` for no log messages.
    pub(crate) fn log_threshold(
        &self,
        context: &RequestContext<RoleServer>,
    ) -> Option<LoggingLevel> {
        if uses_input_required(context) {
            return context.meta.log_level();
        }
        let Some(data) = SessionData::from_context(context) else {
            return Some(self.session.log_level());
        };
        let level = data.get::<LoggingLevel>(LOG_LEVEL).unwrap_or_else(|error| {
            tracing::warn!(%error, "a session's log level is not a level");
            None
        });
        Some(level.unwrap_or(DEFAULT_LOG_LEVEL))
    }

    /// Sends `data` at `level` from `logger` if the client wants that level. A failed send
    /// (the client went away) is not the tool's failure, so it is only traced.
    pub(crate) async fn log(
        &self,
        context: &RequestContext<RoleServer>,
        level: LoggingLevel,
        logger: &str,
        data: Value,
    ) {
        let Some(threshold) = self.log_threshold(context) else {
            return;
        };
        if severity(level) < severity(threshold) {
            return;
        }
        let param = LoggingMessageNotificationParam::new(level, data).with_logger(logger);
        if let Err(error) = context.peer.notify_logging_message(param).await {
            tracing::debug!(%error, "log notification not delivered");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn severity_follows_rfc5424_order() {
        assert!(severity(LoggingLevel::Debug) < severity(LoggingLevel::Info));
        assert!(severity(LoggingLevel::Alert) < severity(LoggingLevel::Emergency));
    }
}
