//! The start of the upstream leg: the browser sent to the provider's authorization endpoint
//! (OpenID Connect Core 1.0 §3.1.2.1) once `/authorize` has kept the client's request.

use std::sync::Arc;

use axum::{
    http::{HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};

use super::{ProviderMetadata, UPSTREAM_SCOPE, UpstreamOidc, leg::Leg};
use crate::pages;

/// Seconds a browser told the provider is down waits before trying again.
const RETRY_AFTER_SECONDS: u64 = 10;

impl UpstreamOidc {
    /// The provider's discovery document, fetched now: a provider that is down is found out
    /// before the browser is sent to it. `Err` is the 503 page to show.
    pub(crate) async fn reachable_provider(&self) -> Result<Arc<ProviderMetadata>, Response> {
        self.provider.refresh().await.map_err(|error| {
            tracing::warn!(%error, "upstream provider unavailable: answering the 503 page");
            unavailable(&self.settings.issuer)
        })
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

/// 503 with `Retry-After`: the provider cannot be reached now. The server needs no restart:
/// the next sign-in asks the provider again.
pub(crate) fn unavailable(issuer: &str) -> Response {
    let mut response = pages::error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in is temporarily unavailable",
        &format!(
            "The sign-in provider ({issuer}) cannot be reached right now. Go back to the \
             application and try again in a moment."
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}
