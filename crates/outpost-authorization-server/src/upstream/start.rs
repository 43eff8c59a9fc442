//! The start of the upstream leg: the browser sent to the provider's authorization endpoint
//! (OpenID Connect Core 1.0 §3.1.2.1) once `/authorize` has kept the client's request.

use std::sync::Arc;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{ProviderMetadata, UPSTREAM_SCOPE, UpstreamOidc, leg::Leg};
use crate::pages;

impl UpstreamOidc {
    /// The provider's discovery document, fetched now: a provider that is down is found out
    /// before the browser is sent to it (`None`: the request is refused with
    /// `temporarily_unavailable`).
    pub(crate) async fn reachable_provider(&self) -> Option<Arc<ProviderMetadata>> {
        self.provider
            .refresh()
            .await
            .inspect_err(|error| {
                tracing::warn!(%error, "upstream provider unavailable: the request is refused");
            })
            .ok()
    }

    /// The 302 that sends the browser to the provider for `leg`.
    pub(crate) fn redirect_to_provider(&self, metadata: &ProviderMetadata, leg: &Leg) -> Response {
        let Some(challenge) = leg.code_challenge() else {
            return pages::internal_error("a derived PKCE verifier does not parse");
        };
        let mut url = metadata.authorization_endpoint.clone();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.settings.client_id)
            .append_pair("redirect_uri", &self.redirect_uri)
            .append_pair("scope", UPSTREAM_SCOPE)
            .append_pair("state", &leg.state)
            .append_pair("nonce", &leg.nonce)
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256");
        match HeaderValue::from_str(url.as_str()) {
            Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
            Err(error) => pages::internal_error(error),
        }
    }
}
