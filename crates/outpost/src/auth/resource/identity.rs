//! The authenticated caller, as tools see it.
//!
//! The bearer layer puts an `Arc<Identity>` into the HTTP request's extensions. rmcp (and the
//! fast path, which mirrors it) moves the request's `http::request::Parts` into the
//! `RequestContext`'s extensions, so the identity reaches every handler by the same route on
//! every transport revision. Two ways to read it in a tool:
//!
//! ```ignore
//! // As a `#[tool]` argument: `None` when the server runs without authentication.
//! #[tool(description = "Who am I?")]
//! async fn whoami(&self, Caller(identity): Caller) -> String { /* … */ }
//!
//! // From any handler method that has the context:
//! let identity: Option<Identity> = Identity::from_context(&context);
//! ```
//!
//! (rmcp's own `Extension<http::request::Parts>` extractor works too; the identity is then
//! `parts.extensions.get::<Arc<Identity>>()`.)

use std::sync::Arc;

use http::request::Parts;
use rmcp::{
    ErrorData, RoleServer,
    handler::server::common::{AsRequestContext, FromContextPart},
    model::Extensions,
    service::RequestContext,
};

use crate::auth::{access_token::AccessClaims, scope::Scope};

/// Who is calling: from a verified access token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// The user's stable identifier (the token's `sub`).
    pub subject: String,
    /// The user's login name, when the token carries it.
    pub username: Option<String>,
    /// The OAuth client acting for the user (`client_id`, else `azp`), when the token names it.
    pub client_id: Option<String>,
    /// The scopes granted to the token.
    pub scopes: Scope,
    /// The grant the token was issued under (`gid`). Always there in an identity admitted from
    /// Outpost's own authorization server (the resource server refuses its tokens without
    /// one), and from Outpost's own authorization server run as a separate role when its
    /// grants are checked; `None` for other external issuers' tokens.
    pub grant_id: Option<String>,
}

impl Identity {
    /// The identity a verified token's claims describe.
    pub fn from_claims(claims: AccessClaims) -> Self {
        Self {
            subject: claims.sub,
            username: claims.username,
            client_id: Some(claims.client_id),
            scopes: claims.scope,
            grant_id: claims.grant_id,
        }
    }

    /// The caller of the request `context` belongs to; `None` when the server runs without
    /// authentication (or the request did not come over HTTP).
    pub fn from_context(context: &RequestContext<RoleServer>) -> Option<Identity> {
        Self::from_extensions(&context.extensions)
    }

    /// The caller recorded in a request context's extensions.
    pub fn from_extensions(extensions: &Extensions) -> Option<Identity> {
        extensions
            .get::<Parts>()
            .and_then(|parts| parts.extensions.get::<Arc<Identity>>())
            .map(|identity| Identity::clone(identity))
    }
}

/// A `#[tool]` / `#[prompt]` argument holding the caller, if any (never fails to extract:
/// an unauthenticated server gives `Caller(None)`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller(pub Option<Identity>);

impl<C: AsRequestContext> FromContextPart<C> for Caller {
    fn from_context_part(context: &mut C) -> Result<Self, ErrorData> {
        Ok(Caller(Identity::from_context(context.as_request_context())))
    }
}
