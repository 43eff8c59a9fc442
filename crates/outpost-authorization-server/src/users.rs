//! Who may sign in, and which scopes each user may be granted: the [`UserDirectory`] trait,
//! and [`StoreDirectory`], the built-in one over the store's users (argon2id hashes).
//!
//! A library user whose users live elsewhere — their own database, a directory service —
//! implements [`UserDirectory`] and hands it to
//! [`AuthorizationServer::with_user_directory`](crate::AuthorizationServer::with_user_directory).
//! Everything around the directory stays the server's: the login throttles and lockout
//! ([`throttle::lockout`](crate::throttle::lockout)) are reserved before every
//! [`UserDirectory::verify_password`] call, whatever the directory, and a wrong password and an
//! unknown user get the same answer. What the server issues (codes, grants, consents) is kept
//! in its store under the user's subject, so a directory user gets a store record on their
//! first sign-in (never used to sign in).
//!
//! **The per-user scope policy.** Every user may be granted the server's baseline scope
//! ([`AuthorizationServer::default_scope`](crate::AuthorizationServer::default_scope)); a scope
//! beyond it only when the user's [`DirectoryUser::allowed_scopes`] include it
//! ([`DirectoryUser::grantable`]). An authorization request asking for more is narrowed after
//! sign-in (the consent page lists what will be granted, the code and its tokens carry only
//! that), or refused `invalid_scope` when nothing is left (RFC 6749 §4.1.2.1). A refresh looks
//! the user up again ([`UserDirectory::find`]): a user who is gone gets `invalid_grant`, a user
//! whose allowed scopes shrank gets the narrowed scope.

use std::{sync::Arc, time::Duration};

/// The attribute an implementation of [`UserDirectory`] goes under (re-exported, so that
/// implementing the trait needs no dependency of its own).
pub use async_trait::async_trait;

use crate::{
    AuthorizationServer,
    errors::ServerFailure,
    password::{
        hash_password,
        limit::{Argon2Error, Argon2Pool},
    },
};
use outpost_oauth::{scope::Scope, secret::Secret};
use outpost_store::{PasswordHash, ScopeSet, StoreError, UserId, UserRecord, UserStore, Username};

/// A user as a [`UserDirectory`] knows them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryUser {
    /// The stable id: the `sub` of the user's tokens, and what grants and consents are kept
    /// under. Never reused for another person (a directory whose own ids are not UUIDs can
    /// derive one, e.g. a v5 UUID of its id).
    pub subject: UserId,
    /// The name shown (the tokens' `username` claim).
    pub username: String,
    /// The scopes beyond the server's baseline this user may be granted (e.g. `mcp:admin`);
    /// empty: the baseline only.
    pub allowed_scopes: Scope,
}

impl DirectoryUser {
    /// Every scope this user may be granted: `baseline` (the server's default scope) and their
    /// [`allowed_scopes`](Self::allowed_scopes).
    pub fn grantable(&self, baseline: &Scope) -> Scope {
        baseline.union(&self.allowed_scopes)
    }
}

/// Why a [`UserDirectory`] gave no answer. Never says whether a user exists: "no such user"
/// and "wrong password" are both `Ok(None)`.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The directory cannot be reached now (its database or server down, a timeout): the login
    /// page says sign-in is temporarily unavailable (503, `Retry-After`), the token endpoint
    /// answers `temporarily_unavailable`. The attempt does not count as a failed login.
    #[error("the user directory is unavailable: {0}")]
    Unavailable(String),
    /// Too many password checks at once (no argon2 permit came free within this wait): the
    /// login page's "busy, try again" (503). The attempt does not count as a failed login.
    #[error("the user directory is busy: no password check could start within {0:?}")]
    Busy(Duration),
    /// Anything else: a 500 page, `server_error`.
    #[error("the user directory failed: {0}")]
    Failed(String),
}

impl From<StoreError> for DirectoryError {
    fn from(error: StoreError) -> Self {
        match error {
            StoreError::Unavailable(_) => Self::Unavailable(error.to_string()),
            other => Self::Failed(other.to_string()),
        }
    }
}

impl From<Argon2Error> for DirectoryError {
    fn from(error: Argon2Error) -> Self {
        match error {
            Argon2Error::Busy(waited) => Self::Busy(waited),
            other => Self::Failed(other.to_string()),
        }
    }
}

impl ServerFailure for DirectoryError {
    fn is_store_outage(&self) -> bool {
        matches!(self, Self::Unavailable(_))
    }
}

/// Where the authorization server finds its users: verifies a username and password at sign-in,
/// and looks a subject up again on every refresh. Implement it to sign users in against your
/// own database or directory; [`StoreDirectory`] (the store's users) is the default.
///
/// The server reserves the login throttles before each [`verify_password`](Self::verify_password)
/// call; a directory that hashes passwords itself should bound that work, as the built-in one
/// does with the server's [`Argon2Pool`] (`server.argon2`, shared by clones).
///
/// ```
/// use std::{collections::HashMap, sync::Arc, time::Duration};
///
/// use outpost_authorization_server::{
///     AuthorizationServer,
///     password::{hash_password, limit::Argon2Pool},
///     users::{DirectoryError, DirectoryUser, UserDirectory},
/// };
/// use outpost_oauth::{keyring::Keyring, scope::Scope};
/// use outpost_store::{PasswordHash, Store, UserId, Username};
///
/// /// Users held in memory, keyed by lowercase username.
/// struct TeamDirectory {
///     users: HashMap<String, (PasswordHash, DirectoryUser)>,
///     argon2: Argon2Pool,
/// }
///
/// #[outpost_authorization_server::users::async_trait]
/// impl UserDirectory for TeamDirectory {
///     async fn verify_password(
///         &self,
///         username: &Username,
///         password: &str,
///     ) -> Result<Option<DirectoryUser>, DirectoryError> {
///         let Some((hash, user)) = self.users.get(&username.key()) else {
///             return Ok(None);
///         };
///         let matches = self.argon2.verify(password.to_owned(), hash.clone()).await?;
///         Ok(matches.then(|| user.clone()))
///     }
///
///     async fn find(&self, subject: UserId) -> Result<Option<DirectoryUser>, DirectoryError> {
///         Ok(self.users.values().map(|(_, user)| user).find(|u| u.subject == subject).cloned())
///     }
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let server = AuthorizationServer::new(
///     "https://mcp.example.com",
///     "https://mcp.example.com/mcp",
///     Store::memory(),
///     Keyring::generate(0, Duration::from_secs(3600))?,
///     vec!["mcp".into(), "mcp:admin".into()],
/// );
/// let alice = DirectoryUser {
///     subject: UserId::random(),
///     username: "alice".into(),
///     allowed_scopes: Scope::parse("mcp:admin")?,
/// };
/// let users = HashMap::from([("alice".into(), (hash_password("correct horse")?, alice))]);
/// let directory = TeamDirectory { users, argon2: server.argon2.clone() };
/// let server = server.with_user_directory(Arc::new(directory));
/// # let _ = server;
/// # Ok(())
/// # }
/// ```
#[async_trait]
pub trait UserDirectory: Send + Sync {
    /// The user `username` names when `password` is theirs; `None` when there is no such user
    /// or the password is wrong (one answer for both, so sign-in tells no one which names
    /// exist).
    async fn verify_password(
        &self,
        username: &Username,
        password: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError>;

    /// The user with this subject, or `None` when they are gone (their refresh tokens then
    /// stop working).
    async fn find(&self, subject: UserId) -> Result<Option<DirectoryUser>, DirectoryError>;
}

/// The built-in [`UserDirectory`]: the store's users ([`UserStore`]), passwords checked
/// against their argon2id hashes under an [`Argon2Pool`]'s permits. An unknown user costs the
/// same hash as a known one, so timing does not tell which usernames exist.
#[derive(Clone)]
pub struct StoreDirectory {
    users: Arc<dyn UserStore>,
    argon2: Argon2Pool,
}

impl std::fmt::Debug for StoreDirectory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreDirectory").finish_non_exhaustive()
    }
}

impl StoreDirectory {
    /// The users of `users`, checked under `argon2`'s permits.
    pub fn new(users: Arc<dyn UserStore>, argon2: Argon2Pool) -> Self {
        Self { users, argon2 }
    }
}

#[async_trait]
impl UserDirectory for StoreDirectory {
    async fn verify_password(
        &self,
        username: &Username,
        password: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        let user = self.users.get_by_username(username).await?;
        let password = password.to_owned();
        let user = self
            .argon2
            .run(move |memory| {
                let hash = user
                    .as_ref()
                    .map(|u| u.password_hash.clone())
                    .or_else(|| dummy_hash().cloned());
                let matches = hash.is_some_and(|h| memory.verify(&password, &h));
                user.filter(|_| matches)
            })
            .await?;
        user.map(directory_user).transpose()
    }

    async fn find(&self, subject: UserId) -> Result<Option<DirectoryUser>, DirectoryError> {
        self.users
            .get(subject)
            .await?
            .map(directory_user)
            .transpose()
    }
}

/// Keeps a store record for `user` of a directory other than the store's own: codes, grants
/// and consents in the store refer to a stored user (as they refer to a stored client; see
/// `clients::ensure_stored`). The record is made on the user's first sign-in, with the hash of
/// a random secret nobody is told (it is never used to sign in: the server asks its directory)
/// and no allowed scopes (the directory's answer decides them). A stored user of another
/// subject under the same name is a conflict the operator resolves (`outpost users remove`).
pub(crate) async fn ensure_stored(
    server: &AuthorizationServer,
    user: &DirectoryUser,
) -> Result<(), DirectoryError> {
    let users = &server.store.users;
    if users.get(user.subject).await?.is_some() {
        return Ok(());
    }
    let username = Username::parse(&user.username).map_err(|e| {
        DirectoryError::Failed(format!("the directory's user {}: {e}", user.subject))
    })?;
    let secret = Secret::generate().map_err(|e| DirectoryError::Failed(e.to_string()))?;
    let password_hash = server.argon2.hash(secret.expose().to_owned()).await?;
    let record = UserRecord {
        id: user.subject,
        username,
        password_hash,
        allowed_scopes: ScopeSet::default(),
        created_at: server.now(),
    };
    match users.create(record).await {
        Ok(()) => Ok(()),
        // Created by a concurrent sign-in of the same user; a name taken by another subject
        // is found out below.
        Err(StoreError::Conflict(_)) if users.get(user.subject).await?.is_some() => Ok(()),
        Err(StoreError::Conflict(_)) => Err(DirectoryError::Failed(format!(
            "the store already has a user named {} with another id; remove it \
             (`outpost users remove {}`) so that the directory's user can sign in",
            user.username, user.username
        ))),
        Err(other) => Err(other.into()),
    }
}

/// A stored user as the directory answers: the store's scope set read as OAuth scopes (the
/// same RFC 6749 §3.3 syntax, so a stored set always parses).
fn directory_user(user: UserRecord) -> Result<DirectoryUser, DirectoryError> {
    let allowed_scopes = Scope::parse(&user.allowed_scopes.to_string())
        .map_err(|e| DirectoryError::Failed(format!("user {}: {e}", user.username)))?;
    Ok(DirectoryUser {
        subject: user.id,
        username: user.username.to_string(),
        allowed_scopes,
    })
}

/// What an unknown user's password is checked against, so that both cases cost one hash.
fn dummy_hash() -> Option<&'static PasswordHash> {
    static DUMMY: std::sync::OnceLock<Option<PasswordHash>> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password("outpost dummy password").ok())
        .as_ref()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grantable_is_the_baseline_and_the_allowed_scopes() {
        let user = DirectoryUser {
            subject: UserId::random(),
            username: "bob".into(),
            allowed_scopes: Scope::parse("reports").unwrap(),
        };
        let baseline = Scope::parse("mcp").unwrap();
        assert_eq!(
            user.grantable(&baseline),
            Scope::parse("mcp reports").unwrap()
        );
        let asked = Scope::parse("mcp mcp:admin reports").unwrap();
        assert_eq!(
            asked.intersection(&user.grantable(&baseline)),
            Scope::parse("mcp reports").unwrap()
        );
    }
}
