//! The OAuth 2.1 building blocks Outpost's authorization server and resource server share:
//! pure types and functions, no store, and no HTTP outside the `issuer-client` feature (and
//! `forwarded`, which reads request headers).
//!
//! Outpost's access tokens are JWTs that the resource server (`/mcp`) verifies locally with
//! the authorization server's public keys. Each noun in its own file:
//!
//! - [`signing_key`] — one ES256 key: generation, `kid` (RFC 7638 thumbprint), PKCS#8 PEM,
//!   public JWK.
//! - [`keyring`] — the signing key, its published successors and the retired keys that still
//!   verify; rotation with a publication lead; the JWK Set.
//! - [`access_token`] — the RFC 9068 access-token claims, `issue` and `verify` (ES256 pinned,
//!   `typ: at+jwt`, exact `iss` and `aud`, expiry with leeway).
//! - [`pkce`] — RFC 7636 S256 (plain and missing refused).
//! - [`scope`] — RFC 6749 §3.3 scope sets.
//! - [`redirect_uri`] — redirect URI registration rules and matching (exact; loopback ports
//!   may vary, RFC 8252 §7.3).
//! - [`loopback`] — whether a URL's host is the loopback interface (where plain `http` may go).
//! - [`secret`] — random opaque secrets (codes, refresh tokens, client secrets).
//! - [`error_description`] — error descriptions within the character set RFC 6749 allows.
//!
//! - [`forwarded`] (feature `forwarded`) — the client's address behind trusted reverse proxies,
//!   read from a request's `Forwarded` / `X-Forwarded-For` headers, and the key a source is
//!   counted under by limits per source.
//! - [`issuer_client`] and [`jwk`] (feature `issuer-client`, the one place with HTTP) — the
//!   https client that talks to an identity provider, and its JWK Set's keys and algorithms.
//!
//! `es256` (private) plugs `p256` into `jsonwebtoken` as its crypto provider.

#![deny(missing_docs)]

pub mod access_token;
pub mod device_token;
pub mod error_description;
mod es256;
#[cfg(feature = "forwarded")]
pub mod forwarded;
#[cfg(feature = "issuer-client")]
pub mod issuer_client;
#[cfg(feature = "issuer-client")]
pub mod jwk;
pub mod keyring;
pub mod loopback;
pub mod pkce;
pub mod redirect_uri;
pub mod scope;
pub mod secret;
pub mod signing_key;
