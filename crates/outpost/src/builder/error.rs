//! [`BuildError`]: why [`OutpostBuilder::build`](super::OutpostBuilder::build) could not make
//! a server, each variant naming the setting at fault.

use std::net::SocketAddr;

use crate::{
    ConfigError, RequestStateKeyError, ServeError,
    auth::{resource::ToolScopesError, scope::ScopeError},
    store::StoreError,
};

/// A boxed error from a closure the builder runs (the authorization server's adjustment).
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a server could not be built. Each variant names the builder setting (or the
/// environment variable) it comes from. Its `Debug` is its message with its causes, as
/// [`OutpostError`](crate::OutpostError)'s: `build().await?` in a `main` returning
/// `Box<dyn Error>` prints a sentence, not variant names.
#[derive(thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    /// An environment variable read by
    /// [`settings_from_env`](super::OutpostBuilder::settings_from_env) is malformed.
    #[error("{variable}: {reason}")]
    Environment {
        /// The variable.
        variable: &'static str,
        /// What is wrong with it (its value is not repeated: it may be a secret).
        reason: String,
    },
    /// The server settings are invalid or unsafe (`bind`, `public_url`, `config`).
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// Two settings that cannot go together.
    #[error("{setting} cannot be combined with {other}")]
    Conflict {
        /// The setting given.
        setting: &'static str,
        /// The setting it conflicts with.
        other: &'static str,
    },
    /// Authentication is on (the default) but this build has no way to check tokens.
    #[error(
        "authentication is on, but this build of outpost has neither the embedded \
         authorization server (feature `authorization-server`) nor an external issuer \
         (feature `external-issuer`); enable one, or call `no_auth()` for a loopback \
         development server"
    )]
    NoAuthentication,
    /// `demo_users` on an address others can reach: their passwords are public.
    #[error(
        "refusing demo_users on the non-loopback address {0}: the demo users' passwords are \
         public. Bind to 127.0.0.1, create real users, or call \
         `allow_demo_users_on_public_bind()` if you really mean it"
    )]
    DemoUsersOnPublicBind(SocketAddr),
    /// Demo users an earlier start created are still in the store with their public
    /// passwords, and this start is on an address others can reach.
    #[error(
        "refusing to serve on the non-loopback address {address}: the store still holds the \
         demo users {users} with their public passwords (from an earlier start with the demo \
         users). Change their passwords (`outpost users passwd NAME`) or remove them \
         (`outpost users remove NAME`), or bind to 127.0.0.1"
    )]
    DemoPasswordsOnPublicBind {
        /// The address the server would serve on.
        address: SocketAddr,
        /// The demo users whose password is the public one.
        users: String,
    },
    /// A scope setting is not a valid RFC 6749 scope.
    #[error("{setting}: {source}")]
    Scope {
        /// `baseline_scope` or `scopes_supported`.
        setting: &'static str,
        /// Why it does not parse.
        source: ScopeError,
    },
    /// The scopes the handler's tools declare could not be read.
    #[error("required scopes of the handler's tools: {0}")]
    ToolScopes(#[from] ToolScopesError),
    /// Binding the address failed (`bind`, when its port is 0 and the builder binds it).
    #[error("bind: {0}")]
    Bind(#[from] ServeError),
    /// The embedded authorization server needs a store, and this build has no default one.
    #[error(
        "the authorization server keeps its users and grants in a store, and this build has no \
         default one (feature `sqlite`): name one with store(\"redis://…\") or enable `sqlite`"
    )]
    NoDefaultStore,
    /// The store could not be opened (`store`).
    #[error("store {url}: {source}")]
    Store {
        /// The store URL, any password redacted.
        url: String,
        /// What the store answered.
        source: StoreError,
    },
    /// The signing or request-state keys in the store could not be opened with the
    /// key-encryption keys given (`key_encryption`), or sealed with them.
    #[error("key_encryption: {0}")]
    KeyEncryption(StoreError),
    /// The keys that seal `requestState` could not be loaded from the store.
    #[error("request-state keys: {0}")]
    RequestStateKeys(#[from] RequestStateKeyError),
    /// The embedded authorization server's signing keys could not be loaded or created.
    #[cfg(feature = "authorization-server")]
    #[error("the authorization server's signing keys: {0}")]
    SigningKeys(#[from] crate::auth::server::KeyManagementError),
    /// The demo users could not be created (`demo_users`).
    #[cfg(feature = "authorization-server")]
    #[error("demo_users: {0}")]
    DemoUsers(String),
    /// An adjustment given to `configure_authorization_server` failed; its error, which
    /// should name what it was setting, is shown as it is.
    #[cfg(feature = "authorization-server")]
    #[error("{0}")]
    AuthorizationServer(BoxError),
    /// The external issuer could not be used (`external_issuer`). Its message says why, so
    /// the error has no `source` to say it again.
    #[cfg(feature = "external-issuer")]
    #[error("external_issuer: {0}")]
    ExternalIssuer(crate::auth::external::ExternalIssuerError),
}

#[cfg(feature = "external-issuer")]
impl From<crate::auth::external::ExternalIssuerError> for BuildError {
    fn from(error: crate::auth::external::ExternalIssuerError) -> Self {
        Self::ExternalIssuer(error)
    }
}

impl std::fmt::Debug for BuildError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&crate::message_with_causes(self))
    }
}

#[cfg(test)]
mod tests {
    use super::BuildError;

    #[test]
    fn debug_prints_the_message_not_the_variant() {
        let error = BuildError::NoDefaultStore;
        assert_eq!(format!("{error:?}"), error.to_string());
        assert!(!format!("{error:?}").contains("NoDefaultStore"));
    }
}
