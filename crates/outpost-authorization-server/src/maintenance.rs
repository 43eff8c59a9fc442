//! Periodic work of the authorization server: the clean-up of what it stored and can no longer
//! use — expired authorization codes, expired refresh tokens, revoked grants, grants whose
//! every token has expired, unused metadata-document clients, expired pending requests,
//! throttle attempts and cached metadata documents (without it the store only grows) — and
//! the reload of the signing
//! keys from the store every [`KEY_RELOAD_INTERVAL`], so that a key rotated by `outpost keys
//! rotate` or another instance is used here within seconds, without a restart.
//!
//! A spent code is kept for [`CODE_REPLAY_MEMORY`] after it expires, so that a replay in that
//! time is still recognised and revokes what the code obtained (RFC 6749 §4.1.2).

use std::time::Duration;

use tokio_util::sync::CancellationToken;

use outpost_store::failure_streak::FailureStreak;

use super::AuthorizationServer;
use outpost_oauth::access_token::CLOCK_LEEWAY;
use outpost_store::StoreError;

/// How often [`run`] purges.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(10 * 60);
/// How often [`run`] reloads the signing keys.
///
/// Ten seconds: a store restarted empty (a Redis without persistence) makes the running
/// instances store their keys again at their next reload while an instance started meanwhile
/// signs with a key of its own, and until both have reloaded, each refuses the other's tokens.
/// A reload is one read of a few keys.
pub const KEY_RELOAD_INTERVAL: Duration = Duration::from_secs(10);
/// How long an expired code (spent or not) is remembered.
pub const CODE_REPLAY_MEMORY: Duration = Duration::from_secs(60 * 60);

/// How long a metadata-document client with nothing issued to it stays in the store.
pub const UNUSED_DOCUMENT_CLIENT_AGE: Duration = Duration::from_secs(24 * 60 * 60);

/// What one purge removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Purged {
    /// Authorization codes.
    pub codes: u64,
    /// Refresh tokens and grants.
    pub grants_and_tokens: u64,
    /// Metadata-document clients nothing was issued to.
    pub document_clients: u64,
    /// Expired pending authorization requests.
    pub pending_authorizations: u64,
    /// Throttle attempts whose window ended.
    pub throttle_attempts: u64,
    /// Expired cached metadata documents and failures.
    pub client_documents: u64,
}

impl AuthorizationServer {
    /// Removes, at `now`, the codes that expired more than [`CODE_REPLAY_MEMORY`] ago, the
    /// expired refresh tokens, the revoked grants, the grants without refresh tokens that no
    /// unexpired access token can name any more, and the metadata-document clients first
    /// fetched over [`UNUSED_DOCUMENT_CLIENT_AGE`] ago that nothing was issued to (anyone can
    /// make the server store one by presenting a client id URL), and the pending requests,
    /// throttle attempts and cached documents expired at `now`.
    pub async fn purge_expired(&self, now: i64) -> Result<Purged, StoreError> {
        let seconds = |d: Duration| i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
        let codes = self
            .store
            .codes
            .purge_expired(now.saturating_sub(seconds(CODE_REPLAY_MEMORY)))
            .await?;
        let idle_grants_before = now
            .saturating_sub(seconds(self.access_token_lifetime))
            .saturating_sub(seconds(CLOCK_LEEWAY));
        let grants_and_tokens = self
            .store
            .grants
            .purge_expired(now, idle_grants_before)
            .await?;
        let document_clients = self
            .store
            .clients
            .purge_unused_documents(now.saturating_sub(seconds(UNUSED_DOCUMENT_CLIENT_AGE)))
            .await?
            .len() as u64;
        let store = &self.store;
        Ok(Purged {
            codes,
            grants_and_tokens,
            document_clients,
            pending_authorizations: store.pending_authorizations.purge_expired(now).await?,
            throttle_attempts: store.throttles.purge_expired(now).await?,
            client_documents: store.client_documents.purge_expired(now).await?,
        })
    }
}

/// Purges every [`PURGE_INTERVAL`] and reloads the keys every [`KEY_RELOAD_INTERVAL`] until
/// `shutdown` is cancelled. A failure (the store out of reach) is retried at the next tick and
/// logged once per outage, not once per tick; the keyring loaded last keeps signing and
/// verifying meanwhile.
pub async fn run(server: AuthorizationServer, shutdown: CancellationToken) {
    let mut purges = tokio::time::interval(PURGE_INTERVAL);
    purges.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut reloads = tokio::time::interval(KEY_RELOAD_INTERVAL);
    reloads.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut purge_streak = FailureStreak::new("authorization state purge");
    let mut reload_streak = FailureStreak::new("signing key reload");
    loop {
        tokio::select! {
            () = shutdown.cancelled() => return,
            _ = purges.tick() => purge(&server, &mut purge_streak).await,
            _ = reloads.tick() => reload_keys(&server, &mut reload_streak).await,
        }
    }
}

async fn purge(server: &AuthorizationServer, streak: &mut FailureStreak) {
    match server.purge_expired(server.now()).await {
        Ok(purged) => {
            streak.succeeded();
            if purged != Purged::default() {
                tracing::debug!(?purged, "purged expired authorization state");
            }
        }
        Err(error) => streak.failed(&error),
    }
}

async fn reload_keys(server: &AuthorizationServer, streak: &mut FailureStreak) {
    match server.reload_keyring(server.now()).await {
        Ok(changed) => {
            streak.succeeded();
            if changed {
                let kid = server.keyring().signing_key(server.now()).kid().to_owned();
                tracing::info!(signing = %kid, "signing keys changed in the store: reloaded");
            }
        }
        Err(error) => streak.failed(&error),
    }
}
