//! `outpost serve --role auth|mcp|all`: one binary, the authorization server and the MCP
//! endpoint in separate processes when wanted.
//!
//! - `all` (the default): both in one process, as `outpost serve` always did (or, with
//!   `--issuer`, the MCP endpoint trusting an identity provider of your own).
//! - `auth`: the embedded authorization server and its pages only ([`Outpost::without_mcp`]):
//!   no `/mcp` (`404`), no protected resource metadata of its own. Its tokens are for the
//!   resource `--resource` names, the MCP role's `{public-url}/mcp`: their `aud`, and what
//!   `resource` must name at `/authorize` and `/token`.
//! - `mcp`: the MCP endpoint only, trusting the auth role given by `--issuer` (its public URL):
//!   tokens verified with its JWK Set, the RFC 9728 metadata naming it. Revocation at the auth
//!   role reaches this role within seconds either through the store — given the auth role's
//!   `--store`, each token's grant (`gid`) is checked there as the embedded mode does — or
//!   through RFC 7662 introspection (`--introspection-*`, this role then being a client of
//!   the auth role's clients file marked `"resource_server": true`).

use std::sync::Arc;

use anyhow::{Context, bail};
use outpost::{
    auth::{
        external::ExternalIssuerConfig,
        resource::{MCP_PATH, RevocationCheck, http_sse_resource},
        server::AuthorizationServer,
    },
    store::{GrantStore, Store},
};
use url::Url;

use super::ServeArgs;
use crate::store_arg::StoreArg;

/// What one `outpost serve` process serves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum Role {
    /// The MCP endpoint and its authorization server, in one process.
    #[default]
    All,
    /// The authorization server and its pages only (no /mcp).
    Auth,
    /// The MCP endpoint only, trusting the auth role named by --issuer.
    Mcp,
}

/// The role flags of `outpost serve`.
#[derive(Debug, clap::Args)]
pub struct RoleArgs {
    /// What this process serves: `all` (the MCP endpoint and its authorization server),
    /// `auth` (the authorization server and its login and consent pages only: no /mcp; give
    /// --resource) or `mcp` (the MCP endpoint only, trusting the auth role: give --issuer
    /// with the auth role's public URL).
    #[arg(long, value_enum, default_value_t, env = "OUTPOST_ROLE")]
    role: Role,
    /// With --role auth: the resource the tokens are for — the MCP role's {public-url}/mcp
    /// (e.g. https://mcp.example.com/mcp). It is the tokens' audience and what `resource` must
    /// name at /authorize and /token.
    #[arg(long, env = "OUTPOST_RESOURCE", value_name = "URL")]
    resource: Option<Url>,
}

impl RoleArgs {
    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Refuses settings that make no sense for the role, naming them.
    pub fn check(&self, args: &ServeArgs) -> anyhow::Result<()> {
        match self.role {
            Role::All => {
                if self.resource.is_some() {
                    bail!(
                        "--resource is for --role auth (the MCP role's resource its tokens are \
                         for); with --role all the resource is this server's own \
                         {{public-url}}/mcp"
                    );
                }
            }
            Role::Auth => {
                let refused = [
                    (args.issuer.issuer.is_some(), "--issuer"),
                    (args.no_auth, "--no-auth"),
                    (args.in_memory_sessions, "--in-memory-sessions"),
                    (!args.allow_origins.is_empty(), "--allow-origin"),
                ];
                if let Some((_, flag)) = refused.iter().find(|(given, _)| *given) {
                    bail!(
                        "{flag} does not apply to --role auth: the auth role is the \
                         authorization server alone, without an MCP endpoint (--issuer names \
                         the auth role to a --role mcp process)"
                    );
                }
                let Some(resource) = &self.resource else {
                    bail!(
                        "--role auth needs --resource URL: the MCP role's resource its tokens \
                         are for, the MCP role's {{public-url}}/mcp (e.g. \
                         https://mcp.example.com/mcp)"
                    );
                };
                if !matches!(resource.scheme(), "http" | "https")
                    || resource.host_str().is_none()
                    || resource.fragment().is_some()
                {
                    bail!("--resource {resource} must be an http or https URL without a fragment");
                }
            }
            Role::Mcp => {
                if self.resource.is_some() {
                    bail!(
                        "--resource is for --role auth; the MCP role's resource is its own \
                         {{public-url}}/mcp (tokens must name it in aud)"
                    );
                }
                if args.issuer.issuer.is_none() {
                    bail!(
                        "--role mcp needs --issuer URL: the auth role's public URL (its issuer \
                         identifier), whose keys verify the tokens"
                    );
                }
            }
        }
        Ok(())
    }

    /// The resource the auth role issues tokens for: `--resource` as given, the canonical form
    /// of a URL with no path (no trailing slash) — the exact string the MCP role expects.
    pub fn resource(&self) -> Option<String> {
        self.resource.as_ref().map(canonical_resource_text)
    }
}

/// `url` as the MCP role writes its resource: no trailing slash after the host.
fn canonical_resource_text(url: &Url) -> String {
    let text = url.as_str();
    if url.path() == "/" && url.query().is_none() {
        text.trim_end_matches('/').to_owned()
    } else {
        text.to_owned()
    }
}

/// For the auth role: `server` issuing its tokens for the MCP role's resource (`--resource`):
/// their `aud`, what `resource` must name at `/authorize` and `/token`.
pub fn for_mcp_role(
    role: &RoleArgs,
    mut server: AuthorizationServer,
) -> anyhow::Result<AuthorizationServer> {
    server.default_resource = role.resource().context("--role auth needs --resource")?;
    // The MCP role's `/sse` names the same resource for clients of the 2024-11-05 transport.
    server.resource_aliases = server
        .default_resource
        .strip_suffix(MCP_PATH)
        .map(http_sse_resource)
        .into_iter()
        .collect();
    tracing::info!(
        issuer = %server.issuer,
        resource = %server.default_resource,
        "auth role: the authorization server only, issuing tokens for the MCP role's resource"
    );
    Ok(server)
}

/// For the MCP role given a store (the auth role's): `external` checking each token's grant
/// there. Without a store, or with introspection (which checks revocation itself), `external`
/// as it is — with a warning when nothing would notice a revocation before the token expires.
pub fn with_grant_revocation(
    role: &RoleArgs,
    store_arg: &StoreArg,
    mut external: ExternalIssuerConfig,
    store: &Store,
) -> ExternalIssuerConfig {
    if role.role != Role::Mcp || external.introspection.is_some() {
        return external;
    }
    if store_arg.is_given() {
        let grants: Arc<dyn GrantStore> = store.grants.clone();
        let revocation: Arc<dyn RevocationCheck> = Arc::new(grants);
        external.grant_revocation = Some(revocation);
    } else {
        tracing::warn!(
            "--role mcp without --store or --introspection-endpoint: a token revoked at the \
             auth role keeps working here until it expires; give the auth role's --store (or \
             introspect) so that revocation takes effect within seconds"
        );
    }
    external
}

#[cfg(test)]
mod tests {
    use outpost::auth::resource::canonical_resource;

    use super::*;

    #[test]
    fn the_resource_is_written_as_the_mcp_role_writes_its_own() {
        let url = |text: &str| Url::parse(text).unwrap();
        assert_eq!(
            canonical_resource_text(&url("https://mcp.example/mcp")),
            "https://mcp.example/mcp"
        );
        assert_eq!(
            canonical_resource_text(&url("https://mcp.example")),
            "https://mcp.example"
        );
        assert_eq!(
            canonical_resource_text(&url("http://127.0.0.1:8001/mcp")),
            canonical_resource("http://127.0.0.1:8001")
        );
    }
}
