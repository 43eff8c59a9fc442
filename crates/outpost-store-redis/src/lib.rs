//! The Redis backend of Outpost's store (`redis://`, `rediss://`): one store that several
//! Outpost instances share, so that together they are one server — a code issued by one is
//! redeemed at another, a throttle counts attempts made at all of them.
//!
//! # Connection
//!
//! One multiplexed RESP3 connection per store (`ConnectionManager`). A failed connection is
//! replaced by one new attempt on the next operation, without a backoff: while Redis is away
//! operations fail at once (rather than each waiting out the response timeout), and the first
//! operation after Redis is back reconnects, so the same [`Store`] works again without a
//! restart. Every operation is bounded by
//! [`RedisOptions::response_timeout`]; Redis refusing, dropping or not answering the
//! connection, or still loading its data, is `StoreError::Unavailable` (the caller answers
//! "service unavailable"); any other failure is `StoreError::Backend`. The password comes from
//! [`RedisOptions::password`] (a URL may carry one, but the CLI never puts it there); logs and
//! errors show the URL redacted ([`outpost_store::redact_url`]). `rediss://` verifies the server against the
//! system's roots or [`RedisOptions::tls_root_ca_pem`].
//!
//! # Atomicity
//!
//! Every step the traits require to be atomic — redeeming a code once, rotating a refresh
//! token and revoking its family on reuse, a throttle reservation, the first signing key, the
//! first and the next request-state key, sign-in and decision of a pending request, a user
//! created under a username nobody holds case-insensitively, deletes that cascade (a user or a
//! client with its codes, grants, tokens and consents) — is one Lua script (`src/lua/`), run
//! by `EVALSHA` and reloaded when Redis has forgotten it. The scripts compute the keys they
//! touch from the prefix and ids, which a single Redis (or a primary with replicas) allows;
//! **Redis Cluster is not supported**.
//!
//! # Keys
//!
//! Everything lives under the prefix (`P`, default `outpost:`, [`RedisOptions::prefix`]), so
//! deployments can share one Redis. Values are JSON records carrying a record version
//! (`"v":1`); fields a script changes in place sit beside the JSON in hash fields, so scripts
//! never re-encode a record. TTLs are native where a record expires: Redis drops it
//! [`GRACE`](#ttls) after its expiry.
//!
//! | Key | Type | TTL | Contents |
//! |---|---|---|---|
//! | `P layout` | string | — | the key layout version ([`LAYOUT_VERSION`]) |
//! | `P users` | hash | — | user id → user JSON |
//! | `P usernames` | hash | — | lowercase username → user id |
//! | `P clients` | hash | — | client id → client JSON (without `created_at`) |
//! | `P clients:created` | hash | — | client id → `created_at` |
//! | `P code:{sha256}` | hash | expiry + 2 h | `record` (code JSON), `expires_at`, `spent` (grant id, once redeemed) |
//! | `P codes:owners` | hash | — | code hash → `"{user id} {client id}"` |
//! | `P codes:by_expiry` | zset | — | code hash by `expires_at` (purge) |
//! | `P grants` | hash | — | grant id → grant JSON (without `revoked_at`) |
//! | `P grants:owners` | hash | — | grant id → `"{user id} {client id}"` |
//! | `P grants:revoked` | hash | — | grant id → `revoked_at` |
//! | `P grants:by_creation` | zset | — | grant id by `created_at` (idle-grant purge) |
//! | `P grant:{id}:tokens` | set | — | the grant's refresh-token hashes |
//! | `P refresh_token:{sha256}` | hash | expiry | `record` (JSON), `grant`, `expires_at`, `rotated_at` |
//! | `P refresh_tokens:grant` | hash | — | token hash → grant id |
//! | `P refresh_tokens:by_expiry` | zset | — | token hash by `expires_at` |
//! | `P user:{id}:codes` / `:grants` / `:consents` | set | — | what was issued to the user (code hashes, grant ids, client ids) |
//! | `P client:{id}:codes` / `:grants` / `:consents` | set | — | what was issued to the client (code hashes, grant ids, user ids) |
//! | `P consents` | hash | — | `"{user id} {client id}"` → consent JSON |
//! | `P signing_keys` | hash | — | kid → signing key JSON (without `retired_at`; the PEM in the clear, or `sealed` with a key-encryption key) |
//! | `P signing_keys:retired` | hash | — | kid → `retired_at` |
//! | `P mcp_session:{id}` | hash | expiry | `v`, `created_at`, `expires_at`, `owner`, `state`, `data`, `counted` |
//! | `P mcp_sessions:by_expiry` | zset | — | session id by `expires_at` |
//! | `P mcp_sessions:counted` | zset | — | counted session id by `expires_at` (expired members trimmed before counting) |
//! | `P mcp_sessions:counted:owner:{owner}` | zset | latest member's expiry | the owner's counted session ids by `expires_at` |
//! | `P pending:{sha256}` | hash | expiry | `record` (JSON), `expires_at`, `user` (once signed in) |
//! | `P pending:by_expiry` | zset | — | request id hash by `expires_at` (bound, purge) |
//! | `P client_document:{url}` | string | expiry | document JSON (`fetched` or `failed`) |
//! | `P client_documents:by_expiry` | zset | — | client id URL by `expires_at` |
//! | `P throttle:{key}` | zset | last attempt's window end | attempt id by window end |
//! | `P throttles:by_expiry` | zset | — | attempt id by window end (purge) |
//! | `P throttles:keys` | hash | — | attempt id → throttle key |
//! | `P throttles:next_id` | string | — | the last attempt id (`INCR`) |
//! | `P request_state_keys` | hash | — | kid → request-state key JSON (secret in base64 in the clear, or `sealed`) |
//! | `P request_state_keys:by_creation` / `:by_activation` | zset | — | kid by `created_at` / `activates_at` |
//! | `P event_stream:{name}` | stream | max age + 5 min after the last append | server-sent events for `Last-Event-ID` (`data`), ids `{ms}-{seq}` |
//! | `P events:streams` | zset | — | stream name by its last append (ms; purge) |
//! | `P events:last` | string | — | the last event id given (ids never repeat) |
//! | `P events` | pub/sub channel | — | a stream's name, published at each append (the bus) |
//! | `P sessions` | pub/sub channel | — | an MCP session's id, published at each change of its record (`*`: a purge; the bus) |
//!
//! # TTLs
//!
//! Callers pass `now` (tests pass times far from the wall clock), so expiry is decided on read
//! by comparing a record's stored expiry with `now`: an expired record is invisible even while
//! Redis still holds it. The TTL, set from the record's expiry on Redis' clock, only frees
//! memory: it fires five minutes after the expiry (never sooner than five minutes from the
//! write, so a record "already expired" for the caller is still there to be purged and
//! counted), and two hours after it for codes, so a replayed code is recognised for as long as
//! the authorization server remembers spent codes. The `purge_expired` methods still work and
//! count what they remove, through the `by_expiry` sorted sets, and clean the indexes a TTL
//! cannot reach.
//!
//! # Versions
//!
//! `P layout` holds the layout version; [`open`] writes it into an empty prefix and refuses a
//! newer one. Readers ignore unknown JSON fields, so a newer release's records stay readable
//! by the previous one during a rolling deploy while the record version is unchanged; a
//! record with a newer version is refused as corrupt, naming the version.
//!
//! # Start-up checks
//!
//! [`open`] connects (within [`RedisOptions::connect_timeout`]), then reads `CONFIG GET`:
//! a `maxmemory-policy` other than `noeviction` is refused (eviction would silently lose
//! grants and keys) unless [`RedisOptions::allow_eviction`] downgrades it to a warning; no
//! persistence (`save` empty and `appendonly no`) is a warning. Where `CONFIG` is not
//! permitted (managed Redis), it warns that the checks could not run and goes on.

#![deny(missing_docs)]

mod bus;
mod connection;
mod events;
mod keys;
mod oauth;
mod options;
mod records;
mod scripts;
mod sessions;
mod short_lived;
mod startup;
mod throttles;
mod users;

use std::sync::Arc;

use async_trait::async_trait;
use redis::{FromRedisValue, Script};

use outpost_store::{Store, StoreError, StoreHealth, redact_url};

pub use options::{RedisOptions, RedisPassword};
pub use startup::LAYOUT_VERSION;

use connection::Connection;
use scripts::Scripts;

/// Opens the Redis store `options` describe, checks the server and the key layout, and
/// returns the bundle.
pub async fn open(options: RedisOptions) -> Result<Store, StoreError> {
    Ok(Store::from_backend(Arc::new(
        RedisStore::open(options).await?,
    )))
}

/// Every store concern, in one Redis.
pub struct RedisStore {
    conn: Connection,
    bus: bus::Bus,
    prefix: String,
    scripts: Scripts,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}

impl RedisStore {
    /// Connects and runs the start-up checks (see the crate documentation).
    pub async fn open(options: RedisOptions) -> Result<Self, StoreError> {
        let conn = Connection::open(&options).await?;
        let bus = bus::Bus::subscribe(&options).await?;
        let store = Self {
            conn,
            bus,
            prefix: options.prefix.clone(),
            scripts: Scripts::new(),
        };
        startup::check_server(&store, options.allow_eviction).await?;
        startup::check_layout(&store).await?;
        tracing::info!(
            url = %redact_url(&options.url),
            prefix = %options.prefix,
            "store: Redis"
        );
        Ok(store)
    }

    /// The full name of the key `suffix`.
    fn key(&self, suffix: &str) -> String {
        format!("{}{suffix}", self.prefix)
    }

    /// Runs `script` with the prefix and `args`.
    async fn eval<T: FromRedisValue>(
        &self,
        what: &str,
        script: &Script,
        args: &[String],
    ) -> Result<T, StoreError> {
        self.conn
            .run(what, |mut c| async move {
                let mut invocation = script.prepare_invoke();
                invocation.arg(&self.prefix);
                for arg in args {
                    invocation.arg(arg);
                }
                invocation.invoke_async(&mut c).await
            })
            .await
    }

    /// Runs one command.
    async fn query<T: FromRedisValue>(&self, what: &str, cmd: redis::Cmd) -> Result<T, StoreError> {
        self.conn
            .run(what, |mut c| async move { cmd.query_async(&mut c).await })
            .await
    }

    /// Runs several commands in one round trip (`MULTI`/`EXEC`).
    async fn atomically<T: FromRedisValue>(
        &self,
        what: &str,
        pipe: redis::Pipeline,
    ) -> Result<T, StoreError> {
        self.conn
            .run(what, |mut c| async move { pipe.query_async(&mut c).await })
            .await
    }
}

/// The answers of the scripts that check that a user and a client exist.
fn script_status(status: &str, what: impl std::fmt::Display) -> Result<(), StoreError> {
    match status {
        "ok" => Ok(()),
        "no user" => Err(StoreError::NotFound(format!("user of {what}"))),
        "no client" => Err(StoreError::NotFound(format!("client of {what}"))),
        "no grant" => Err(StoreError::NotFound(format!("grant of {what}"))),
        "conflict" => Err(StoreError::Conflict(what.to_string())),
        other => Err(StoreError::Backend(format!(
            "unexpected script answer {other:?} for {what}"
        ))),
    }
}

/// A stored integer field (an expiry, a timestamp).
fn parse_time(what: &str, text: &str) -> Result<i64, StoreError> {
    text.parse()
        .map_err(|_| StoreError::Backend(format!("malformed {what}: {text:?}")))
}

#[async_trait]
impl StoreHealth for RedisStore {
    /// `PING`, within the response timeout.
    async fn check(&self) -> Result<(), StoreError> {
        let _: String = self.query("PING", redis::cmd("PING")).await?;
        Ok(())
    }
}
