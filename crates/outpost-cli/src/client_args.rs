//! The flags of `outpost serve` that decide which clients the authorization server accepts
//! besides those it registers dynamically (RFC 7591): Client ID Metadata Documents (a client
//! whose `client_id` is an https URL; on by default).

use anyhow::Context;
use outpost::auth::server::{AuthorizationServer, cimd::CimdConfig};

/// Client flags of `outpost serve`.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// Refuse URL client ids (Client ID Metadata Documents): only registered clients may
    /// authorize, and the metadata stops advertising client_id_metadata_document_supported.
    #[arg(long, env = "OUTPOST_NO_CIMD")]
    no_cimd: bool,
    /// Fetch client metadata documents from loopback, private, link-local and other
    /// non-public addresses too. Development only: it lets anyone who can start an
    /// authorization make this server send requests into its own network.
    #[arg(
        long,
        env = "OUTPOST_CIMD_ALLOW_PRIVATE_ADDRESSES",
        conflicts_with = "no_cimd"
    )]
    cimd_allow_private_addresses: bool,
}

impl ClientArgs {
    /// `server` with the metadata-document settings of these flags (checked now, so bad
    /// settings stop the start).
    pub fn apply(&self, server: AuthorizationServer) -> anyhow::Result<AuthorizationServer> {
        let server = server.with_client_metadata_documents(CimdConfig {
            enabled: !self.no_cimd,
            allow_private_addresses: self.cimd_allow_private_addresses,
            ..CimdConfig::default()
        });
        server
            .client_metadata
            .check()
            .context("cannot set up Client ID Metadata Documents")?;
        if self.cimd_allow_private_addresses {
            tracing::warn!(
                "--cimd-allow-private-addresses: client metadata documents may be fetched from \
                 loopback and private addresses; do not use this on a server others can reach"
            );
        }
        Ok(server)
    }
}
