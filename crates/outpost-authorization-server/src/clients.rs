//! Client resolution: the one place every endpoint turns a `client_id` into a client.
//!
//! A URL-shaped id ([`is_url_shaped`]) is a Client ID Metadata Document client and is resolved
//! through [`ClientMetadataDocuments`](super::cimd::ClientMetadataDocuments) (cache, else
//! fetch); it is never taken from the store directly, so a document that changed or went away
//! stops working once its cache entry expires, and turning the feature off turns such clients
//! off. Any other id is a registered client (Dynamic Client Registration, or pre-registered)
//! and comes from the [`ClientStore`](outpost_store::ClientStore).

use super::{
    AuthorizationServer,
    cimd::{CimdError, is_url_shaped},
    errors::ServerFailure,
};
use outpost_store::{ClientId, ClientRecord, StoreError};

/// Why a client id could not be resolved (an unknown id is `Ok(None)`, not an error).
#[derive(Debug, thiserror::Error)]
pub enum ClientResolutionError {
    /// The metadata document of a URL client id is unusable: the client is refused, with this
    /// reason.
    #[error(transparent)]
    Document(#[from] CimdError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServerFailure for ClientResolutionError {
    fn is_store_outage(&self) -> bool {
        matches!(self, Self::Store(error) if error.is_store_outage())
    }
}

/// The client `client_id` names: a metadata-document client for a URL, a registered client
/// otherwise; `None` when no registered client has this id.
pub async fn resolve(
    server: &AuthorizationServer,
    client_id: &str,
) -> Result<Option<ClientRecord>, ClientResolutionError> {
    if is_url_shaped(client_id) {
        return server
            .client_metadata
            .resolve(server, client_id)
            .await
            .map(Some);
    }
    let Ok(id) = ClientId::parse(client_id) else {
        return Ok(None);
    };
    Ok(server.store.clients.get(&id).await?)
}

/// Makes sure a metadata-document client is in the store before its first consent is
/// remembered: the maintenance purge may have removed an unused one since `/authorize`
/// resolved it (a client with a consent is never purged). Registered clients are left alone.
pub async fn ensure_stored(
    server: &AuthorizationServer,
    client_id: &ClientId,
) -> Result<(), ClientResolutionError> {
    if !is_url_shaped(client_id.as_str()) || server.store.clients.get(client_id).await?.is_some() {
        return Ok(());
    }
    let record = server
        .client_metadata
        .resolve(server, client_id.as_str())
        .await?;
    server.store.clients.upsert(record).await?;
    Ok(())
}

/// The host the consent page names next to a metadata-document client's self-asserted name;
/// `None` for registered clients.
pub fn document_host(client_id: &ClientId) -> Option<String> {
    if !is_url_shaped(client_id.as_str()) {
        return None;
    }
    super::cimd::ClientIdUrl::parse(client_id.as_str())
        .ok()
        .map(|url| url.host_and_port())
}
