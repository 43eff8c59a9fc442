//! The authorization server's back-channel endpoints a native client calls: dynamic client
//! registration (RFC 7591), the token endpoint for a code (RFC 6749 §4.1.3, with the PKCE
//! verifier and the RFC 8707 `resource`) or a refresh token (§6), and revocation (RFC 7009).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Request, header};
use http_body_util::Full;
use serde::Deserialize;

use crate::connect::http::HttpClient;

const ENDPOINT_TIMEOUT: Duration = Duration::from_secs(30);

/// The client signing in: what the registration endpoint gave, or what `--client-id` names.
#[derive(Clone, Deserialize)]
pub struct RegisteredClient {
    /// The client's id.
    pub client_id: String,
    /// A secret, when the server registers confidential clients only.
    pub client_secret: Option<String>,
}

/// Registers `outpost connect` as a public native client with one loopback redirect URI.
pub async fn register(
    http: &HttpClient,
    endpoint: &str,
    redirect_uri: &str,
) -> anyhow::Result<RegisteredClient> {
    let metadata = serde_json::json!({
        "client_name": "outpost connect",
        "redirect_uris": [redirect_uri],
        "grant_types": ["authorization_code", "refresh_token"],
        "response_types": ["code"],
        "token_endpoint_auth_method": "none",
        "application_type": "native",
    });
    let request = Request::post(endpoint)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::ACCEPT, "application/json")
        .body(Full::new(Bytes::from(metadata.to_string())))?;
    let response = http
        .send(request, ENDPOINT_TIMEOUT)
        .await
        .with_context(|| format!("cannot reach the registration endpoint {endpoint}"))?;
    if !response.status().is_success() {
        bail!(
            "client registration at {endpoint} refused ({}): {}",
            response.status(),
            oauth_error(response.body())
        );
    }
    serde_json::from_slice(response.body())
        .with_context(|| format!("the registration endpoint {endpoint} answered no client_id"))
}

/// A token endpoint's answer (RFC 6749 §5.1).
#[derive(Deserialize)]
pub struct TokenResponse {
    /// The access token.
    pub access_token: String,
    /// Its type: `Bearer` is the one this client uses (RFC 6750), whatever the case; an
    /// answer without it is taken as `Bearer`.
    pub token_type: Option<String>,
    /// Seconds until it expires.
    pub expires_in: Option<u64>,
    /// A refresh token, when the server issues one.
    pub refresh_token: Option<String>,
}

impl TokenResponse {
    /// When the access token expires, in seconds since the epoch.
    pub fn expires_at(&self) -> Option<u64> {
        self.expires_in.map(|seconds| now_unix() + seconds)
    }
}

/// `tokens`, unless their type is one this client does not use: RFC 6749 §7.1 has a client
/// never use an access token of a type it does not understand.
fn usable(tokens: TokenResponse) -> anyhow::Result<TokenResponse> {
    match tokens.token_type.as_deref() {
        Some(kind) if !kind.eq_ignore_ascii_case("bearer") => Err(anyhow::anyhow!(
            "the token endpoint issued a token of type {kind:?}, which this client cannot use \
             (only Bearer)"
        )),
        _ => Ok(tokens),
    }
}

/// A token request failed; `Refused` is an OAuth error answer (for a refresh, `invalid_grant`:
/// sign in again), `Unreachable` anything else.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The server answered with an OAuth error.
    #[error("the token endpoint refused: {reason}")]
    Refused {
        /// The OAuth error code (RFC 6749 §5.2), empty when the answer had none.
        error: String,
        /// The code and its description, or the answer's start.
        reason: String,
    },
    /// The request did not get an answer.
    #[error(transparent)]
    Unreachable(#[from] anyhow::Error),
}

/// Which client asks, and for which resource.
pub struct TokenClient<'a> {
    /// The token endpoint.
    pub endpoint: &'a str,
    /// The registered client id.
    pub client_id: &'a str,
    /// The secret, sent as `client_secret_post`, when the client has one.
    pub client_secret: Option<&'a str>,
    /// The RFC 8707 resource.
    pub resource: &'a str,
}

impl TokenClient<'_> {
    /// Redeems an authorization code with its PKCE verifier.
    pub async fn redeem(
        &self,
        http: &HttpClient,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, TokenError> {
        self.request(
            http,
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier),
            ],
        )
        .await
    }

    /// Trades a refresh token for a new access token (and, with rotation, a new refresh token).
    pub async fn refresh(
        &self,
        http: &HttpClient,
        refresh_token: &str,
    ) -> Result<TokenResponse, TokenError> {
        self.request(
            http,
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", refresh_token),
            ],
        )
        .await
    }

    async fn request(
        &self,
        http: &HttpClient,
        params: &[(&str, &str)],
    ) -> Result<TokenResponse, TokenError> {
        let response = self.post_form(http, self.endpoint, params).await?;
        if !response.status().is_success() {
            let (error, reason) = oauth_refusal(response.body());
            return Err(TokenError::Refused { error, reason });
        }
        let tokens: TokenResponse = serde_json::from_slice(response.body())
            .context("the token endpoint answered no access_token")
            .map_err(TokenError::Unreachable)?;
        usable(tokens).map_err(TokenError::Unreachable)
    }

    /// Revokes `token` at the RFC 7009 `endpoint`.
    pub async fn revoke(
        &self,
        http: &HttpClient,
        endpoint: &str,
        token: &str,
    ) -> anyhow::Result<()> {
        let response = self.post_form(http, endpoint, &[("token", token)]).await?;
        if !response.status().is_success() {
            bail!(
                "revocation at {endpoint} refused: {}",
                oauth_error(response.body())
            );
        }
        Ok(())
    }

    async fn post_form(
        &self,
        http: &HttpClient,
        endpoint: &str,
        params: &[(&str, &str)],
    ) -> anyhow::Result<http::Response<Bytes>> {
        let mut form = url::form_urlencoded::Serializer::new(String::new());
        form.extend_pairs(params);
        form.append_pair("client_id", self.client_id);
        form.append_pair("resource", self.resource);
        if let Some(secret) = self.client_secret {
            form.append_pair("client_secret", secret);
        }
        let request = Request::post(endpoint)
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header(header::ACCEPT, "application/json")
            .body(Full::new(Bytes::from(form.finish())))?;
        http.send(request, ENDPOINT_TIMEOUT)
            .await
            .with_context(|| format!("cannot reach {endpoint}"))
    }
}

/// An OAuth error body (RFC 6749 §5.2).
#[derive(Deserialize)]
struct OAuthError {
    error: String,
    error_description: Option<String>,
}

/// `error: error_description` from an OAuth error body, or the body's start.
fn oauth_error(body: &[u8]) -> String {
    oauth_refusal(body).1
}

/// The `error` code of an OAuth error body (empty without one), and what [`oauth_error`]
/// says of it: the body is read once for both.
fn oauth_refusal(body: &[u8]) -> (String, String) {
    match serde_json::from_slice::<OAuthError>(body) {
        Ok(OAuthError {
            error,
            error_description: Some(description),
        }) => {
            let reason = format!("{error}: {description}");
            (error, reason)
        }
        Ok(OAuthError { error, .. }) => (error.clone(), error),
        Err(_) => (
            String::new(),
            String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned(),
        ),
    }
}

/// Seconds since the epoch.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::{TokenResponse, usable};

    fn of_type(kind: Option<&str>) -> TokenResponse {
        TokenResponse {
            access_token: "AT".into(),
            token_type: kind.map(str::to_owned),
            expires_in: None,
            refresh_token: None,
        }
    }

    #[test]
    fn only_bearer_tokens_are_used() {
        for kind in [Some("Bearer"), Some("bearer"), None] {
            assert!(usable(of_type(kind)).is_ok(), "{kind:?}");
        }
        let refused = usable(of_type(Some("mac")))
            .err()
            .expect("a MAC token is refused");
        assert!(refused.to_string().contains("\"mac\""), "{refused}");
    }
}
