//! `POST /revoke`: token revocation (RFC 7009).
//!
//! The client authenticates as at the token endpoint (RFC 7009 §2.1). Revoking a refresh token
//! revokes its grant — the whole family and, through the `gid` claim, every access token issued
//! under it. Revoking an access token does the same (RFC 7009 §2.1 lets the server revoke the
//! related grant). The answer is 200 with an empty body whether or not the token was found,
//! valid, or already revoked (RFC 7009 §2.2): a client learns nothing by probing.
//!
//! A token issued to another client is left alone, also with 200. RFC 7009 §2.1 says to refuse
//! such a request with an error; an error would tell the caller that the token exists, so
//! Outpost answers as for an unknown token.
//!
//! Failed client authentication is throttled as at the token endpoint
//! ([`throttle`](super::throttle)).

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::{IntoResponse, Response},
};

use super::{
    AuthorizationServer,
    client_auth::authenticate_throttled,
    counters,
    errors::{OAuthError, no_store},
    form::FormParams,
    inspection::inspect,
    throttle::ClientIp,
};

/// `POST /revoke`.
pub async fn revoke(
    State(server): State<AuthorizationServer>,
    source: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, OAuthError> {
    let form = FormParams::parse(&headers, &body)?;
    let client = authenticate_throttled(&server, source, &headers, &form).await?;
    let token = form.require("token")?;
    let now = server.now();
    if let Some(facts) = inspect(&server, token, now).await?
        && facts.client_id == client.record.client_id.as_str()
        && let Some(grant_id) = facts.grant_id
    {
        server.store.grants.revoke_grant(grant_id, now).await?;
        tracing::info!(%grant_id, "grant revoked");
        counters::token_revoked();
    }
    let mut response = StatusCode::OK.into_response();
    no_store(response.headers_mut());
    Ok(response)
}
