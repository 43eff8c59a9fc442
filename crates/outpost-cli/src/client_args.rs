//! The flags of `outpost serve` that decide which clients the authorization server accepts:
//! those it registers dynamically (RFC 7591; on unless `--no-dcr`), Client ID Metadata
//! Documents (a client whose `client_id` is an https URL; on by default) and pre-registered
//! clients from a file.

use std::path::PathBuf;

use anyhow::Context;
use outpost::auth::server::{AuthorizationServer, cimd::CimdConfig, preregistered};

/// Client flags of `outpost serve`.
#[derive(Debug, clap::Args)]
pub struct ClientArgs {
    /// Refuse URL client ids (Client ID Metadata Documents): only registered clients may
    /// authorize, and the metadata stops advertising client_id_metadata_document_supported.
    #[arg(long, env = "OUTPOST_NO_CIMD", value_parser = clap::builder::BoolishValueParser::new())]
    no_cimd: bool,
    /// Turn Dynamic Client Registration (RFC 7591) off: /register answers 404 and the
    /// metadata has no registration_endpoint, so only clients with a metadata document (URL
    /// client ids) and those of --clients can authorize.
    #[arg(long, env = "OUTPOST_NO_DCR", value_parser = clap::builder::BoolishValueParser::new())]
    no_dcr: bool,
    /// Fetch client metadata documents from loopback, private, link-local and other
    /// non-public addresses too. Development only: it lets anyone who can start an
    /// authorization make this server send requests into its own network.
    #[arg(
        long,
        env = "OUTPOST_CIMD_ALLOW_PRIVATE_ADDRESSES",
        conflicts_with = "no_cimd", value_parser = clap::builder::BoolishValueParser::new())]
    cimd_allow_private_addresses: bool,
    /// A JSON file of pre-registered clients ({"clients": [ … ]}: RFC 7591 metadata with a
    /// fixed client_id; confidential clients give client_secret_hash, from `outpost clients
    /// hash-secret`; "resource_server": true lets one introspect every token). Checked and
    /// stored at start; a bad entry stops the start.
    #[arg(long, env = "OUTPOST_CLIENTS", value_name = "FILE")]
    clients: Option<PathBuf>,
}

impl ClientArgs {
    /// `server` with the metadata-document settings of these flags (checked now, so bad
    /// settings stop the start), after storing the clients of `--clients`.
    pub async fn apply(
        &self,
        mut server: AuthorizationServer,
    ) -> anyhow::Result<AuthorizationServer> {
        if let Some(path) = &self.clients {
            let shown = path.display();
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the clients file {shown}"))?;
            let loaded = preregistered::load_clients_file(&server, &text)
                .await
                .with_context(|| format!("refusing the clients file {shown}"))?;
            tracing::info!(
                file = %shown,
                count = loaded.clients.len(),
                resource_servers = loaded.resource_servers.len(),
                "pre-registered clients loaded"
            );
            server = server
                .with_preregistered(loaded.clients.iter().map(|c| c.client_id.clone()))
                .with_resource_servers(loaded.resource_servers);
        }
        if self.no_dcr {
            server = server.without_dynamic_client_registration();
        }
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
