//! The issuer's keys, kept fresh.
//!
//! Loaded at start (no usable key is an error then), refreshed every [`REFRESH_INTERVAL`] by a
//! background task, and refetched when a token names an unknown `kid` — at most once per
//! [`UNKNOWN_KID_REFETCH_INTERVAL`], so tokens with made-up `kid`s cannot make Outpost hammer
//! the issuer. When the issuer cannot be reached (or serves no usable key) the last good set
//! stays, and the outage is logged once. A request costs one read lock and a map lookup.
//!
//! While the last fetch failed, a token naming an unknown `kid` cannot be judged: it may be
//! signed by a key the issuer published since ([`KeyCache::current`] says so; the request
//! gets `503`, not `401`, unless its claims fail anyway).
//!
//! A key the issuer drops stops verifying at the next refresh; the [`epoch`](KeyCache::epoch)
//! is bumped then, so the resource server forgets the tokens it had verified with the old set.

use std::{
    sync::{
        Arc, Mutex, PoisonError, RwLock, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use url::Url;

use super::ExternalIssuerError;
use crate::store::failure_streak::FailureStreak;
use outpost_oauth::{
    issuer_client::{FetchError, IssuerClient},
    jwk::{JwkSetDocument, KeySet},
};

/// How often the key set is fetched in the background.
pub const REFRESH_INTERVAL: Duration = Duration::from_secs(30);
/// The shortest time between two fetches caused by unknown `kid`s.
pub const UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// The cached key set of one issuer.
pub(crate) struct KeyCache {
    jwks_uri: Url,
    client: IssuerClient,
    fetched: RwLock<Fetched>,
    epoch: AtomicU64,
    /// When a fetch last started; held across every fetch, so fetches never overlap and
    /// concurrent refetches wait for one.
    last_fetch: tokio::sync::Mutex<Instant>,
    streak: Mutex<FailureStreak>,
}

/// The key set and whether the last fetch failed, read together.
struct Fetched {
    keys: Arc<KeySet>,
    /// The last fetch failed: the set may lack keys the issuer has published since.
    last_failed: bool,
}

impl KeyCache {
    /// Fetches the key set at `jwks_uri` and starts refreshing it in the background (until the
    /// cache is dropped).
    pub(crate) async fn load(
        jwks_uri: Url,
        client: IssuerClient,
    ) -> Result<Arc<Self>, ExternalIssuerError> {
        let keys = fetch(&client, &jwks_uri)
            .await
            .map_err(|cause| ExternalIssuerError::Jwks {
                jwks_uri: jwks_uri.to_string(),
                cause: cause.to_string(),
            })?;
        let cache = Arc::new(Self {
            jwks_uri,
            client,
            fetched: RwLock::new(Fetched {
                keys: Arc::new(keys),
                last_failed: false,
            }),
            epoch: AtomicU64::new(0),
            last_fetch: tokio::sync::Mutex::new(Instant::now()),
            streak: Mutex::new(FailureStreak::new("issuer key set (JWKS) refresh")),
        });
        tokio::spawn(refresh_forever(Arc::downgrade(&cache)));
        Ok(cache)
    }

    /// The current key set.
    pub(crate) fn keys(&self) -> Arc<KeySet> {
        self.current().0
    }

    /// The current key set, and whether the last fetch of it failed: a `kid` not in the set
    /// may then be one the issuer published since.
    pub(crate) fn current(&self) -> (Arc<KeySet>, bool) {
        let fetched = self.fetched.read().unwrap_or_else(PoisonError::into_inner);
        (fetched.keys.clone(), fetched.last_failed)
    }

    /// Bumped whenever a refresh drops a key.
    pub(crate) fn epoch(&self) -> u64 {
        self.epoch.load(Ordering::Acquire)
    }

    /// A token named a `kid` not in the set: fetch the set again, unless a fetch started less
    /// than [`UNKNOWN_KID_REFETCH_INTERVAL`] ago (then the set that fetch brought stands).
    pub(crate) async fn refetch_for_unknown_kid(&self) {
        let mut last = self.last_fetch.lock().await;
        if last.elapsed() < UNKNOWN_KID_REFETCH_INTERVAL {
            return;
        }
        *last = Instant::now();
        self.refresh().await;
    }

    async fn refresh(&self) {
        match fetch(&self.client, &self.jwks_uri).await {
            Ok(fresh) => {
                self.streak
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .succeeded();
                let mut fetched = self.fetched.write().unwrap_or_else(PoisonError::into_inner);
                let dropped = fresh.lacks_a_key_of(&fetched.keys);
                *fetched = Fetched {
                    keys: Arc::new(fresh),
                    last_failed: false,
                };
                if dropped {
                    self.epoch.fetch_add(1, Ordering::AcqRel);
                }
            }
            Err(cause) => {
                self.fetched
                    .write()
                    .unwrap_or_else(PoisonError::into_inner)
                    .last_failed = true;
                let error = ExternalIssuerError::Jwks {
                    jwks_uri: self.jwks_uri.to_string(),
                    cause: cause.to_string(),
                };
                self.streak
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .failed(&error);
            }
        }
    }
}

/// Why a key set could not be used.
#[derive(Debug, thiserror::Error)]
pub(crate) enum KeySetError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(
        "it holds no signature key Outpost can use (RSA, EC P-256/P-384 or Ed25519, with a kid)"
    )]
    NoUsableKey,
}

async fn fetch(client: &IssuerClient, jwks_uri: &Url) -> Result<KeySet, KeySetError> {
    let document: JwkSetDocument = client.get_json(jwks_uri).await?;
    let keys = KeySet::from_document(&document);
    if keys.is_empty() {
        return Err(KeySetError::NoUsableKey);
    }
    Ok(keys)
}

async fn refresh_forever(cache: Weak<KeyCache>) {
    let mut ticks = tokio::time::interval(REFRESH_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        let Some(cache) = cache.upgrade() else {
            return;
        };
        let mut last = cache.last_fetch.lock().await;
        *last = Instant::now();
        cache.refresh().await;
        drop(last);
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use axum::{Json, Router, extract::State, http::StatusCode, response::IntoResponse};
    use serde_json::json;

    use super::*;

    /// A key set endpoint on loopback that answers `500` while `failing` is set.
    async fn jwks_endpoint(failing: Arc<AtomicBool>) -> Url {
        async fn key_set(State(failing): State<Arc<AtomicBool>>) -> impl IntoResponse {
            if failing.load(Ordering::Acquire) {
                return StatusCode::INTERNAL_SERVER_ERROR.into_response();
            }
            Json(
                json!({"keys": [{"kty": "OKP", "crv": "Ed25519", "kid": "ed",
                "x": "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}),
            )
            .into_response()
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let app = Router::new()
            .route("/jwks", axum::routing::get(key_set))
            .with_state(failing);
        tokio::spawn(async move { axum::serve(listener, app).await });
        Url::parse(&format!("http://{address}/jwks")).unwrap()
    }

    #[tokio::test]
    async fn a_failed_fetch_is_known_until_one_succeeds() {
        let failing = Arc::new(AtomicBool::new(false));
        let jwks_uri = jwks_endpoint(failing.clone()).await;
        let cache = KeyCache::load(jwks_uri, IssuerClient::new().unwrap())
            .await
            .unwrap();
        assert!(!cache.current().1);

        failing.store(true, Ordering::Release);
        cache.refresh().await;
        let (keys, failed) = cache.current();
        assert!(failed, "an unknown kid is then a 503");
        assert!(keys.get("ed").is_some(), "the last keys stay");

        failing.store(false, Ordering::Release);
        cache.refresh().await;
        assert!(!cache.current().1);
    }
}
