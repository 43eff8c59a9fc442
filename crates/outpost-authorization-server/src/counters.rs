//! What the authorization server counts, through the [`metrics`] facade: tokens issued,
//! refreshed and revoked, failed logins and throttled attempts. The application decides where
//! the counts go (`outpost serve --metrics-bind` exports them to Prometheus); without a
//! recorder they cost nothing. The names follow Prometheus conventions and are the ones the
//! README lists; the server knows no exporter and no MCP.

/// Access tokens issued for an authorization code.
pub(crate) fn token_issued() {
    metrics::counter!("outpost_tokens_issued_total").increment(1);
}

/// Refresh tokens redeemed for new tokens.
pub(crate) fn token_refreshed() {
    metrics::counter!("outpost_tokens_refreshed_total").increment(1);
}

/// Grants revoked at `/revoke`.
pub(crate) fn token_revoked() {
    metrics::counter!("outpost_tokens_revoked_total").increment(1);
}

/// A wrong username or password at `/login`.
pub(crate) fn login_failed() {
    metrics::counter!("outpost_login_failures_total").increment(1);
}

/// An attempt refused by a rate limit (login, client authentication, registration, …).
pub(crate) fn attempt_throttled() {
    metrics::counter!("outpost_throttled_attempts_total").increment(1);
}
