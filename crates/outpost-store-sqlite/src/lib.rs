//! The SQLite backend of Outpost's store: the durable default for a single node
//! (`sqlite://PATH`).
//!
//! One connection behind a mutex, used from `spawn_blocking` so no async worker ever waits on
//! disk. A single writer is what SQLite allows anyway, and the authorization server's traffic
//! (logins, token exchanges) is far below what one connection serves; the hot path does not
//! touch the store. WAL journaling keeps readers of other processes (the `outpost users` CLI
//! while `outpost serve` runs) from blocking, and a busy timeout absorbs their brief locks.
//!
//! The schema is the numbered SQL files in `migrations/`, applied in order, each in its own
//! transaction together with the `PRAGMA user_version` bump that records it; the transaction
//! takes the write lock before reading the version, so processes opening one new database at
//! the same moment migrate it once. A database whose version is newer than this build knows is
//! refused rather than misread.
//!
//! The files are the owner's alone (`file_mode`): a new database and its `-wal` / `-shm` are
//! created `0600`, and existing ones that group or others may read or write are refused unless
//! [`SqliteOptions::allow_shared_file_mode`] is set.

#![deny(missing_docs)]

mod codes;
mod documents;
mod events;
mod file_mode;
mod grants;
mod health;
mod keys;
mod oauth;
mod pending;
mod request_state_keys;
mod secret_columns;
mod sessions;
mod throttles;
mod users;

use std::{
    path::Path,
    sync::{Arc, Mutex, PoisonError, atomic::AtomicU64},
    time::Duration,
};

use rusqlite::{Connection, Params, Row, TransactionBehavior};

use outpost_store::{KeyEncryptionKeyId, ModelError, SealedSecret, Store, StoreError};

/// The schema, one migration per entry; the database's `user_version` is how many are applied.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_mcp_sessions.sql"),
    include_str!("migrations/0003_code_redemption.sql"),
    include_str!("migrations/0004_authorization_state.sql"),
    include_str!("migrations/0005_request_state_keys.sql"),
    include_str!("migrations/0006_keys_at_rest.sql"),
    include_str!("migrations/0007_user_allowed_scopes.sql"),
    include_str!("migrations/0008_mcp_session_data.sql"),
    include_str!("migrations/0009_mcp_events.sql"),
    include_str!("migrations/0010_mcp_session_counted.sql"),
    include_str!("migrations/0011_redirect_uri_sent.sql"),
];

/// How long a statement waits for another connection's lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// How to open a database beyond its path.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SqliteOptions {
    /// Open a database whose files group or others may read or write, with a warning, rather
    /// than refusing it ([`StoreError::SharedFileMode`]). New files are created `0600` either
    /// way.
    pub allow_shared_file_mode: bool,
}

/// Opens (creating if missing, migrating to the current schema) the SQLite database at `path`
/// as a [`Store`], with default [`SqliteOptions`].
pub async fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
    open_with(path, &SqliteOptions::default()).await
}

/// Opens (creating if missing, migrating to the current schema) the SQLite database at `path`
/// as a [`Store`].
pub async fn open_with(
    path: impl AsRef<Path>,
    options: &SqliteOptions,
) -> Result<Store, StoreError> {
    Ok(Store::from_backend(Arc::new(
        SqliteStore::open_with(path, options).await?,
    )))
}

/// Every store concern, in one SQLite database file.
pub struct SqliteStore {
    connection: Arc<Mutex<Connection>>,
    /// Who waits for which event stream in this process (the bus of a single instance).
    event_listeners: outpost_store::EventListeners,
    /// `McpSessionStore::changes_here`: the session changes made through this process.
    session_changes: AtomicU64,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").finish_non_exhaustive()
    }
}

/// A failure inside this backend, so that `?` works on rusqlite's errors, the store's and the
/// model's alike; [`SqliteStore::call`] hands it out as the [`StoreError`] it wraps.
#[derive(Debug)]
struct Failure(StoreError);

impl From<rusqlite::Error> for Failure {
    fn from(error: rusqlite::Error) -> Self {
        Self(backend_error(error))
    }
}

/// `error` as the store reports it: a lock another process still held after
/// [`BUSY_TIMEOUT`] is [`StoreError::Unavailable`] (temporary: a request meeting it gets
/// "try again later", not "server error"); anything else is a backend failure.
fn backend_error(error: rusqlite::Error) -> StoreError {
    if is_busy(&error) {
        StoreError::Unavailable(format!(
            "{error}: another process held the database lock for {BUSY_TIMEOUT:?}"
        ))
    } else {
        StoreError::Backend(error.to_string())
    }
}

impl From<StoreError> for Failure {
    fn from(error: StoreError) -> Self {
        Self(error)
    }
}

impl From<ModelError> for Failure {
    fn from(error: ModelError) -> Self {
        Self(StoreError::Corrupt(error))
    }
}

impl SqliteStore {
    /// Opens (creating if missing) the database at `path` and migrates it to the current
    /// schema, with default [`SqliteOptions`].
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        Self::open_with(path, &SqliteOptions::default()).await
    }

    /// Opens (creating if missing, owner-only) the database at `path`, checks its files'
    /// permissions and migrates it to the current schema.
    pub async fn open_with(
        path: impl AsRef<Path>,
        options: &SqliteOptions,
    ) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        let allow_shared = options.allow_shared_file_mode;
        let connection = tokio::task::spawn_blocking(move || {
            file_mode::prepare(&path, allow_shared)?;
            open_blocking(&path)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store open task failed: {e}")))?
        .map_err(|Failure(error)| error)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            event_listeners: outpost_store::EventListeners::new(),
            session_changes: AtomicU64::new(0),
        })
    }

    /// Runs `work` on the connection on the blocking pool.
    async fn call<T, F>(&self, work: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, Failure> + Send + 'static,
    {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            // A panic mid-statement leaves no open transaction behind (rusqlite rolls back on
            // drop), so the connection under a poisoned lock is still usable.
            let mut connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            work(&mut connection).map_err(|Failure(error)| error)
        })
        .await
        .map_err(|e| StoreError::Backend(format!("store task failed: {e}")))?
    }
}

/// Switches the database to WAL and returns the journal mode it is in. Processes opening a
/// new file at the same moment race for this switch, and SQLite answers the loser "database
/// is locked" at once rather than through the busy handler, so it is retried until
/// [`BUSY_TIMEOUT`].
fn journal_mode_wal(connection: &Connection) -> Result<String, Failure> {
    let deadline = std::time::Instant::now() + BUSY_TIMEOUT;
    loop {
        match connection.pragma_update_and_check(None, "journal_mode", "WAL", |row| row.get(0)) {
            Err(error) if is_busy(&error) && std::time::Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(20));
            }
            outcome => return Ok(outcome?),
        }
    }
}

/// Whether SQLite refused because another connection holds a lock.
fn is_busy(error: &rusqlite::Error) -> bool {
    matches!(
        error.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}

fn open_blocking(path: &Path) -> Result<Connection, Failure> {
    let shown = path.display();
    let mut connection = Connection::open(path)
        .map_err(|e| StoreError::Backend(format!("cannot open SQLite database {shown}: {e}")))?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    let mode = journal_mode_wal(&connection)?;
    if !mode.eq_ignore_ascii_case("wal") {
        tracing::warn!(path = %shown, mode, "SQLite store is not in WAL mode");
    }
    // With WAL, NORMAL loses at most the last commits on power loss, never consistency.
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    // Deleted and overwritten content is zeroed, not left in free pages: a key sealed at rest
    // leaves no clear copy behind in the file (nor do purged rows).
    connection.pragma_update(None, "secure_delete", "ON")?;
    migrate(&mut connection)?;
    Ok(connection)
}

/// Applies the migrations this database lacks, one transaction each. Each transaction is
/// `BEGIN IMMEDIATE`: it takes the write lock before reading `user_version`, so of several
/// processes opening a new database at the same moment one migrates while the others wait (the
/// busy timeout), then find the version already bumped and apply nothing twice.
fn migrate(connection: &mut Connection) -> Result<(), Failure> {
    let known = MIGRATIONS.len();
    loop {
        let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let applied: i64 =
            transaction.pragma_query_value(None, "user_version", |row| row.get(0))?;
        let applied = usize::try_from(applied)
            .map_err(|_| StoreError::Migration(format!("invalid schema version {applied}")))?;
        if applied > known {
            return Err(StoreError::Migration(format!(
                "the database has schema version {applied}, newer than this outpost knows \
                 ({known}); run a newer outpost or restore a backup"
            ))
            .into());
        }
        let Some(sql) = MIGRATIONS.get(applied) else {
            return Ok(());
        };
        let version = applied + 1;
        let failed =
            |e: rusqlite::Error| StoreError::Migration(format!("migration {version}: {e}"));
        transaction.execute_batch(sql).map_err(failed)?;
        transaction
            .pragma_update(None, "user_version", version as i64)
            .map_err(failed)?;
        transaction.commit().map_err(failed)?;
    }
}

/// Replaces the secret of the key `kid` in `table` (its `secret_column`) with `sealed`, if the
/// row is still sealed with `from` (`None`: in the clear), then writes the WAL back into the
/// database and empties it, so that a page holding the secret just overwritten does not linger
/// in the `-wal` file (best effort: a reader of another process may hold the WAL, then its
/// frames are reused later). Whether the row was replaced.
fn reseal_key_row(
    connection: &Connection,
    table: &str,
    secret_column: &str,
    kid: &str,
    from: Option<&KeyEncryptionKeyId>,
    sealed: &SealedSecret,
) -> rusqlite::Result<bool> {
    // `IS` compares NULL (in the clear) as a value.
    let changed = connection.execute(
        &format!(
            "UPDATE {table} SET {secret_column} = ?2, sealed_with = ?3 \
             WHERE kid = ?1 AND sealed_with IS ?4"
        ),
        rusqlite::params![
            kid,
            sealed.ciphertext(),
            sealed.key_id().as_str(),
            from.map(KeyEncryptionKeyId::as_str)
        ],
    )?;
    let checkpoint = connection.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()));
    if let Err(error) = checkpoint {
        tracing::debug!(%error, "WAL checkpoint after sealing a key");
    }
    Ok(changed == 1)
}

/// Maps a failed write: a unique key taken is a conflict, a missing referenced row is not
/// found, anything else a backend error.
fn write_error(error: rusqlite::Error, what: &str) -> StoreError {
    use rusqlite::ffi;
    if let rusqlite::Error::SqliteFailure(failure, _) = &error {
        match failure.extended_code {
            ffi::SQLITE_CONSTRAINT_PRIMARYKEY | ffi::SQLITE_CONSTRAINT_UNIQUE => {
                return StoreError::Conflict(what.to_owned());
            }
            ffi::SQLITE_CONSTRAINT_FOREIGNKEY => {
                return StoreError::NotFound(format!("the user, client or grant {what} refers to"));
            }
            _ => {}
        }
    }
    backend_error(error)
}

/// Every row a query returns, each mapped.
fn query_all<T>(
    connection: &Connection,
    sql: &str,
    params: impl Params,
    map: impl Fn(&Row<'_>) -> Result<T, Failure>,
) -> Result<Vec<T>, Failure> {
    let mut statement = connection.prepare(sql)?;
    let mut rows = statement.query(params)?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(map(row)?);
    }
    Ok(out)
}

/// The first row a query returns, mapped.
fn query_one<T>(
    connection: &Connection,
    sql: &str,
    params: impl Params,
    map: impl Fn(&Row<'_>) -> Result<T, Failure>,
) -> Result<Option<T>, Failure> {
    let mut statement = connection.prepare(sql)?;
    let mut rows = statement.query(params)?;
    rows.next()?.map(map).transpose()
}

/// Makes room for one more row in `table`, a set of expiring entries keyed by `key` and
/// bounded to `max` rows: deletes the rows expired at `now`, then those expiring soonest.
fn make_room(
    connection: &Connection,
    table: &str,
    key: &str,
    max: usize,
    now: i64,
) -> Result<(), Failure> {
    connection.execute(
        &format!("DELETE FROM {table} WHERE expires_at <= ?1"),
        [now],
    )?;
    let live: i64 = connection.query_row(&format!("SELECT count(*) FROM {table}"), [], |row| {
        row.get(0)
    })?;
    let excess = (live + 1).saturating_sub(i64::try_from(max).unwrap_or(i64::MAX));
    if excess > 0 {
        connection.execute(
            &format!(
                "DELETE FROM {table} WHERE {key} IN \
                 (SELECT {key} FROM {table} ORDER BY expires_at, {key} LIMIT ?1)"
            ),
            [excess],
        )?;
    }
    Ok(())
}

/// `NotFound` when an `UPDATE`/`DELETE` touched no row.
fn expect_changed(changed: usize, what: impl FnOnce() -> String) -> Result<(), Failure> {
    if changed == 0 {
        return Err(StoreError::NotFound(what()).into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use outpost_store::behaviour_suite::{self, TempDir};

    use super::*;

    #[tokio::test]
    async fn newer_schema_is_refused() {
        let dir = TempDir::new();
        let path = dir.path().join("future.db");
        drop(SqliteStore::open(&path).await.expect("create"));
        {
            let connection = Connection::open(&path).expect("open");
            connection
                .pragma_update(None, "user_version", 99)
                .expect("set version");
        }
        let err = SqliteStore::open(&path).await.expect_err("newer schema");
        assert!(matches!(err, StoreError::Migration(_)), "{err}");
        assert!(err.to_string().contains("newer"), "{err}");
    }

    #[tokio::test]
    async fn reopening_applies_no_migration_twice() {
        let dir = TempDir::new();
        let path = dir.path().join("twice.db");
        drop(SqliteStore::open(&path).await.expect("first open"));
        let store = SqliteStore::open(&path).await.expect("second open");
        let version: i64 = store
            .call(|c| Ok(c.pragma_query_value(None, "user_version", |row| row.get(0))?))
            .await
            .expect("version");
        assert_eq!(version, MIGRATIONS.len() as i64);
    }

    /// A database at `path` with the migrations before the first that mentions `marker`, as
    /// a database of that time has them.
    fn database_before(path: &std::path::Path, marker: &str) -> Connection {
        let connection = Connection::open(path).expect("open");
        let earlier: Vec<_> = MIGRATIONS
            .iter()
            .take_while(|sql| !sql.contains(marker))
            .collect();
        for sql in &earlier {
            connection.execute_batch(sql).expect("earlier migration");
        }
        connection
            .pragma_update(None, "user_version", earlier.len() as i64)
            .expect("set version");
        connection
    }

    /// Users who were there before migration 0007 may be granted the baseline only.
    #[tokio::test]
    async fn users_from_before_allowed_scopes_get_none() {
        let dir = TempDir::new();
        let path = dir.path().join("old.db");
        {
            // The migrations before 0007, as a database of that time has them.
            let connection = database_before(&path, "allowed_scopes");
            connection
                .execute(
                    "INSERT INTO users (id, username, password_hash, created_at) \
                     VALUES (?1, 'olduser', ?2, 0)",
                    [
                        "6f1c1d2e-4a0b-4c55-9d3e-0a1b2c3d4e5f",
                        "$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$yJf5cO5r5xQm0ZpXQy3ZlXx2rNQ0o0V3eNfG8cXk0lQ",
                    ],
                )
                .expect("old user");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let store = open(&path).await.expect("migrate");
        let username = outpost_store::Username::parse("olduser").expect("valid");
        let user = store.users.get_by_username(&username).await.expect("get");
        assert_eq!(
            user.map(|u| u.allowed_scopes),
            Some(outpost_store::ScopeSet::default())
        );
    }

    #[tokio::test]
    async fn authorization_requests_from_before_redirect_uri_sent_named_it() {
        let dir = TempDir::new();
        let path = dir.path().join("old.db");
        let id_hash = outpost_store::token_hash("request");
        {
            // The migrations before 0011, as a database of that time has them.
            let connection = database_before(&path, "redirect_uri_sent");
            connection
                .execute(
                    "INSERT INTO pending_authorizations (id_hash, client_id, client_name, \
                     redirect_uri, scope, code_challenge, expires_at) \
                     VALUES (?1, 'c', 'C', 'https://app.example/cb', 'mcp', 'x', 900)",
                    [id_hash.as_str()],
                )
                .expect("old request");
        }
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).expect("chmod");
        }
        let store = open(&path).await.expect("migrate");
        let request = store.pending_authorizations.get(&id_hash, 100).await;
        assert!(request.expect("get").expect("live").redirect_uri_sent);
    }

    #[tokio::test]
    async fn sqlite_survives_a_restart() {
        let dir = TempDir::new();
        let path = dir.path().join("durable.db");
        let written = behaviour_suite::write_durable_state(&open(&path).await.expect("open")).await;
        let reopened = open(&path).await.expect("reopen");
        behaviour_suite::assert_durable_state(&reopened, &written).await;
    }
}

#[cfg(all(test, unix))]
mod keys_at_rest_tests;

#[cfg(test)]
mod shared_file_tests;

#[cfg(all(test, unix))]
mod file_mode_tests;

#[cfg(test)]
mod behaviour {
    outpost_store::store_behaviour_suite!(|dir: std::path::PathBuf| async move {
        crate::open(dir.join("store.db"))
            .await
            .expect("open sqlite")
    });
}
