//! The soak's mixed traffic, one task per kind of client, until a deadline:
//!
//! - stateless callers: 2026-07-28 `tools/call echo` with the latest access token;
//! - session users: a 2025-11-25 session opened (`initialize`, `notifications/initialized`),
//!   used for a few calls, then ended with `DELETE` (204);
//! - a user signing in through the login form every few seconds (alice and bob in turn), each
//!   login a new grant; past [`GRANTS_KEPT`] grants the oldest is revoked;
//! - an app refreshing its tokens every few seconds (the least recently refreshed grant's
//!   refresh token rotated), whose new access token the callers use from then on.
//!
//! Every answer is checked; anything unexpected is counted as an error of its kind.

use std::{
    collections::{BTreeMap, VecDeque},
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use anyhow::{Context, ensure};
use http::{HeaderValue, StatusCode, header};
use tokio::time::Instant;

use super::oauth::{OAuthClient, Tokens};
use crate::wire;

/// Live grants kept; each login past it revokes the oldest.
pub const GRANTS_KEPT: usize = 8;
/// Calls made in each session before it is deleted.
const CALLS_PER_SESSION: usize = 5;
/// The demo users (`outpost serve --demo`), who sign in in turn.
const USERS: [(&str, &str); 2] = [("alice", "password123"), ("bob", "password456")];

/// The kinds of traffic, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    /// A stateless `tools/call`.
    Stateless,
    /// A whole session: open, calls, delete.
    Session,
    /// A login through the form, code exchanged.
    Login,
    /// A refresh-token rotation.
    Refresh,
    /// A grant revoked.
    Revoke,
}

impl Kind {
    /// Every kind, in the order of the report's columns.
    pub const ALL: [Kind; 5] = [
        Kind::Stateless,
        Kind::Session,
        Kind::Login,
        Kind::Refresh,
        Kind::Revoke,
    ];

    /// The column name.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Stateless => "stateless",
            Kind::Session => "sessions",
            Kind::Login => "logins",
            Kind::Refresh => "refreshes",
            Kind::Revoke => "revokes",
        }
    }
}

/// What the traffic did so far: successes per kind, errors per kind and message.
#[derive(Default)]
pub struct Counters {
    ok: [AtomicU64; 5],
    errors: Mutex<BTreeMap<(Kind, String), u64>>,
}

impl Counters {
    fn record(&self, kind: Kind, outcome: anyhow::Result<()>) {
        match outcome {
            Ok(()) => {
                self.ok[kind as usize].fetch_add(1, Ordering::Relaxed);
            }
            Err(error) => {
                let mut message = format!("{error:#}");
                message.truncate(200);
                let mut errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
                *errors.entry((kind, message)).or_default() += 1;
            }
        }
    }

    /// Successes of `kind` so far.
    pub fn ok(&self, kind: Kind) -> u64 {
        self.ok[kind as usize].load(Ordering::Relaxed)
    }

    /// Errors of `kind` so far.
    pub fn errors(&self, kind: Kind) -> u64 {
        let errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        errors
            .iter()
            .filter(|((of, _), _)| *of == kind)
            .map(|(_, count)| count)
            .sum()
    }

    /// Every distinct error with its count.
    pub fn error_list(&self) -> Vec<(Kind, String, u64)> {
        let errors = self.errors.lock().unwrap_or_else(PoisonError::into_inner);
        errors
            .iter()
            .map(|((kind, message), count)| (*kind, message.clone(), *count))
            .collect()
    }
}

/// How much of each kind of traffic.
#[derive(Debug, Clone)]
pub struct Mix {
    /// Concurrent stateless callers.
    pub stateless_callers: usize,
    /// Concurrent session users.
    pub session_users: usize,
    /// Pause between a stateless caller's calls.
    pub call_pause: Duration,
    /// Time between logins.
    pub login_every: Duration,
    /// Time between refreshes.
    pub refresh_every: Duration,
}

/// What every task shares.
struct Shared {
    http: reqwest::Client,
    mcp: String,
    oauth: OAuthClient,
    grants: Mutex<VecDeque<Tokens>>,
    access_token: RwLock<String>,
    counters: Arc<Counters>,
    deadline: Instant,
}

impl Shared {
    fn access_token(&self) -> String {
        self.access_token
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

/// Runs `mix` against the server at `base` until `deadline`, counting into `counters`; the
/// first login happens before any traffic (an error there is returned).
pub async fn run(
    http: reqwest::Client,
    base: &str,
    mix: &Mix,
    counters: Arc<Counters>,
    deadline: Instant,
) -> anyhow::Result<()> {
    let oauth = OAuthClient::register(http.clone(), base)
        .await
        .context("cannot register the soak's client")?;
    let (user, password) = USERS[0];
    let first = oauth
        .login(user, password)
        .await
        .context("the first login failed")?;
    counters.record(Kind::Login, Ok(()));
    let shared = Arc::new(Shared {
        http,
        mcp: format!("{base}/mcp"),
        oauth,
        access_token: RwLock::new(first.access_token.clone()),
        grants: Mutex::new(VecDeque::from([first])),
        counters,
        deadline,
    });
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..mix.stateless_callers {
        tasks.spawn(stateless_caller(shared.clone(), mix.call_pause));
    }
    for _ in 0..mix.session_users {
        tasks.spawn(session_user(shared.clone()));
    }
    tasks.spawn(logins(shared.clone(), mix.login_every));
    tasks.spawn(refreshes(shared.clone(), mix.refresh_every));
    while let Some(joined) = tasks.join_next().await {
        joined.context("a traffic task panicked")?;
    }
    Ok(())
}

async fn stateless_caller(shared: Arc<Shared>, pause: Duration) {
    while Instant::now() < shared.deadline {
        let outcome = stateless_call(&shared).await;
        shared.counters.record(Kind::Stateless, outcome);
        tokio::time::sleep(pause).await;
    }
}

async fn stateless_call(shared: &Shared) -> anyhow::Result<()> {
    let response = shared
        .http
        .post(&shared.mcp)
        .bearer_auth(shared.access_token())
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .body(wire::STATELESS_CALL)
        .send()
        .await?;
    let status = response.status();
    wire::expect_echo(status, &response.bytes().await?)
}

async fn session_user(shared: Arc<Shared>) {
    while Instant::now() < shared.deadline {
        let outcome = session(&shared).await;
        shared.counters.record(Kind::Session, outcome);
    }
}

/// One session: open, [`CALLS_PER_SESSION`] calls, `DELETE`.
async fn session(shared: &Shared) -> anyhow::Result<()> {
    let token = shared.access_token();
    let post = |body: &'static str, session: Option<&HeaderValue>| {
        let mut request = shared
            .http
            .post(&shared.mcp)
            .bearer_auth(&token)
            .header(header::CONTENT_TYPE, "application/json")
            .header(header::ACCEPT, "application/json, text/event-stream")
            .header("mcp-protocol-version", wire::SESSION_VERSION)
            .body(body);
        if let Some(session) = session {
            request = request.header("mcp-session-id", session);
        }
        request.send()
    };
    let opened = post(wire::SESSION_INITIALIZE, None).await?;
    ensure!(
        opened.status() == StatusCode::OK,
        "initialize: {}",
        opened.status()
    );
    let session = opened
        .headers()
        .get("mcp-session-id")
        .cloned()
        .context("initialize answered no Mcp-Session-Id")?;
    opened.bytes().await?;
    let initialized = post(wire::SESSION_INITIALIZED, Some(&session)).await?;
    ensure!(
        initialized.status() == StatusCode::ACCEPTED,
        "notifications/initialized: {}",
        initialized.status()
    );
    for _ in 0..CALLS_PER_SESSION {
        let called = post(wire::SESSION_CALL, Some(&session)).await?;
        let status = called.status();
        wire::expect_echo(status, &called.bytes().await?)?;
    }
    let deleted = shared
        .http
        .delete(&shared.mcp)
        .bearer_auth(&token)
        .header("mcp-protocol-version", wire::SESSION_VERSION)
        .header("mcp-session-id", &session)
        .send()
        .await?;
    ensure!(
        deleted.status() == StatusCode::NO_CONTENT,
        "DELETE: {}",
        deleted.status()
    );
    Ok(())
}

async fn logins(shared: Arc<Shared>, every: Duration) {
    let mut next = Instant::now() + every;
    for (user, password) in USERS.iter().cycle().skip(1) {
        tokio::time::sleep_until(next).await;
        if next >= shared.deadline {
            return;
        }
        next += every;
        match shared.oauth.login(user, password).await {
            Ok(tokens) => {
                shared.counters.record(Kind::Login, Ok(()));
                let oldest = {
                    let mut grants = shared.grants.lock().unwrap_or_else(PoisonError::into_inner);
                    grants.push_back(tokens);
                    (grants.len() > GRANTS_KEPT)
                        .then(|| grants.pop_front())
                        .flatten()
                };
                if let Some(oldest) = oldest {
                    let revoked = shared.oauth.revoke(&oldest.refresh_token).await;
                    shared.counters.record(Kind::Revoke, revoked);
                }
            }
            Err(error) => shared.counters.record(Kind::Login, Err(error)),
        }
    }
}

async fn refreshes(shared: Arc<Shared>, every: Duration) {
    let mut next = Instant::now() + every;
    loop {
        tokio::time::sleep_until(next).await;
        if next >= shared.deadline {
            return;
        }
        next += every;
        let stale = shared
            .grants
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .pop_front();
        let Some(stale) = stale else { continue };
        match shared.oauth.refresh(&stale.refresh_token).await {
            Ok(fresh) => {
                shared.counters.record(Kind::Refresh, Ok(()));
                *shared
                    .access_token
                    .write()
                    .unwrap_or_else(PoisonError::into_inner) = fresh.access_token.clone();
                shared
                    .grants
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .push_back(fresh);
            }
            Err(error) => shared.counters.record(Kind::Refresh, Err(error)),
        }
    }
}
