//! Client authentication at the token, revocation and introspection endpoints.
//!
//! RFC 6749 §2.3.1: a confidential client sends its secret either in `Authorization: Basic`
//! (both parts form-urlencoded, then base64) or as `client_id` + `client_secret` form
//! parameters; never both (§2.3: one method per request). A public client (`none`, RFC 7591
//! §2) identifies itself by `client_id` alone (RFC 6749 §3.2.1). Each client must use the
//! method it registered. The client is found by [`clients::resolve`] (a registered client,
//! or the metadata document of a URL `client_id`, which is always public). Every failure is
//! `invalid_client` (401), with `WWW-Authenticate: Basic` when Basic was tried (RFC 6749
//! §5.2). Secrets are checked against their argon2id hash under the server's argon2 permits
//! ([`password::limit`](crate::password::limit)); none free in time is 503
//! `temporarily_unavailable`.

use axum::http::{HeaderMap, header};
use base64::{Engine as _, engine::general_purpose::STANDARD};

use super::{
    AuthorizationServer,
    clients::{self, ClientResolutionError},
    errors::OAuthError,
    form::FormParams,
    throttle::{self, ClientIp},
};
use outpost_store::{ClientRecord, TokenEndpointAuthMethod};

/// A client whose identity the request proved.
#[derive(Debug, Clone)]
pub struct AuthenticatedClient {
    /// The registered client.
    pub record: ClientRecord,
}

impl AuthenticatedClient {
    /// Whether the client is confidential (it has a secret and proved it).
    pub fn is_confidential(&self) -> bool {
        self.record.token_endpoint_auth_method != TokenEndpointAuthMethod::None
    }
}

/// The credentials a request presented, before they are checked.
struct Presented {
    client_id: String,
    secret: Option<String>,
    method: TokenEndpointAuthMethod,
}

/// [`authenticate`] under the failed-client budgets of [`throttle`], as
/// `/revoke` and `/introspect` authenticate (RFC 7009 §2.1, RFC 7662 §2.1): the attempt is
/// reserved before any secret is verified and given back when the client is authenticated.
pub async fn authenticate_throttled(
    server: &AuthorizationServer,
    source: ClientIp,
    headers: &HeaderMap,
    form: &FormParams,
) -> Result<AuthenticatedClient, OAuthError> {
    let attempts = throttle::reserve_client_attempt(server, source, headers, form).await?;
    let client = authenticate(server, headers, form).await;
    throttle::settle(server, attempts, &client).await;
    client
}

/// Authenticates the client of a request from its headers and form.
pub async fn authenticate(
    server: &AuthorizationServer,
    headers: &HeaderMap,
    form: &FormParams,
) -> Result<AuthenticatedClient, OAuthError> {
    let presented = presented(headers, form)?;
    let refuse = OAuthError::invalid_client;

    let record = match clients::resolve(server, &presented.client_id).await {
        Ok(Some(record)) => record,
        Ok(None) => return Err(refuse("unknown client")),
        Err(ClientResolutionError::Document(error)) => {
            tracing::info!(%error, "a client_id URL's metadata document is unusable");
            return Err(refuse(&error.public_reason()));
        }
        Err(ClientResolutionError::Store(error)) => return Err(error.into()),
    };
    if record.token_endpoint_auth_method != presented.method {
        return Err(refuse(&format!(
            "this client is registered to authenticate with {}",
            record.token_endpoint_auth_method.as_str()
        )));
    }
    if let (Some(secret), Some(hash)) = (presented.secret, record.client_secret_hash.clone()) {
        if !server.argon2.verify(secret, hash).await? {
            return Err(refuse("client authentication failed"));
        }
    } else if presented.method != TokenEndpointAuthMethod::None {
        // A confidential method with no stored hash: the record is inconsistent; fail closed.
        return Err(refuse("client authentication failed"));
    }
    Ok(AuthenticatedClient { record })
}

/// The client id a request names (in Basic credentials or the form), not yet verified: what
/// per-client throttling counts failures under.
pub fn claimed_client_id(headers: &HeaderMap, form: &FormParams) -> Option<String> {
    presented(headers, form).ok().map(|p| p.client_id)
}

fn presented(headers: &HeaderMap, form: &FormParams) -> Result<Presented, OAuthError> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .map(|v| v.to_str().unwrap_or_default());
    if let Some(value) = authorization {
        let (client_id, secret) = parse_basic(value)
            .ok_or_else(|| OAuthError::invalid_client("malformed Basic credentials"))?;
        if form.get("client_secret").is_some() {
            return Err(OAuthError::InvalidRequest(
                "use one client authentication method: Basic or client_secret, not both".into(),
            ));
        }
        if form.get("client_id").is_some_and(|id| id != client_id) {
            return Err(OAuthError::InvalidRequest(
                "client_id differs from the Basic credentials".into(),
            ));
        }
        return Ok(Presented {
            client_id,
            secret: Some(secret),
            method: TokenEndpointAuthMethod::ClientSecretBasic,
        });
    }
    let client_id = form
        .get("client_id")
        .ok_or_else(|| OAuthError::invalid_client("client authentication is required"))?
        .to_owned();
    match form.get("client_secret") {
        Some(secret) => Ok(Presented {
            client_id,
            secret: Some(secret.to_owned()),
            method: TokenEndpointAuthMethod::ClientSecretPost,
        }),
        None => Ok(Presented {
            client_id,
            secret: None,
            method: TokenEndpointAuthMethod::None,
        }),
    }
}

/// `Basic base64(urlencode(id) ":" urlencode(secret))` (RFC 6749 §2.3.1, RFC 7617).
fn parse_basic(value: &str) -> Option<(String, String)> {
    let (scheme, encoded) = value.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("basic") {
        return None;
    }
    let decoded = String::from_utf8(STANDARD.decode(encoded.trim()).ok()?).ok()?;
    let (id, secret) = decoded.split_once(':')?;
    let (id, secret) = (form_decode(id), form_decode(secret));
    (!id.is_empty()).then_some((id, secret))
}

/// Undoes the form-urlencoding RFC 6749 §2.3.1 asks for. A part with a raw `=` or `&` was not
/// encoded (a lenient client): it is taken as is.
fn form_decode(part: &str) -> String {
    if part.contains(['=', '&']) {
        return part.to_owned();
    }
    url::form_urlencoded::parse(part.as_bytes())
        .next()
        .map(|(name, _)| name.into_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basic_credentials_are_decoded() {
        let header = format!("Basic {}", STANDARD.encode("my%20id:s%3Acret"));
        assert_eq!(
            parse_basic(&header),
            Some(("my id".to_owned(), "s:cret".to_owned()))
        );
        let header = format!("basic {}", STANDARD.encode("id:a=b"));
        assert_eq!(
            parse_basic(&header),
            Some(("id".to_owned(), "a=b".to_owned()))
        );
        assert_eq!(parse_basic("Bearer abc"), None);
        assert_eq!(parse_basic("Basic !!!"), None);
        assert_eq!(
            parse_basic(&format!("Basic {}", STANDARD.encode(":x"))),
            None
        );
    }
}
