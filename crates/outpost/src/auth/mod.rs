//! OAuth 2.1 for the MCP endpoints.
//!
//! - [`resource`] — the resource-server side wired onto `/mcp`, `/sse` and `/message`:
//!   protected resource metadata, the bearer check, per-tool scopes, session ownership, the
//!   caller's [`resource::Identity`].
//! - [`external`] (feature `external-issuer`) — tokens from an identity provider of your own:
//!   JWTs verified with its published keys, or opaque tokens introspected (RFC 7662).
//! - [`server`] (feature `authorization-server`) — Outpost's own authorization server, the
//!   `outpost-authorization-server` crate, embedded with `Outpost::with_authorization_server`.
//! - The building blocks both sides share, from the `outpost-oauth` crate: [`signing_key`],
//!   [`keyring`], [`access_token`], [`scope`], [`pkce`], [`redirect_uri`], [`secret`], and
//!   [`forwarded`] (the client's address behind trusted proxies, for limits per source).

#[cfg(feature = "external-issuer")]
pub mod external;
pub mod resource;

#[cfg(feature = "authorization-server")]
pub use outpost_authorization_server as server;
pub use outpost_oauth::{
    access_token, forwarded, keyring, pkce, redirect_uri, scope, secret, signing_key,
};
