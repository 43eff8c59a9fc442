//! The answers of a protected resource that refuses a request (RFC 6750 §3, RFC 9728 §5.1).
//!
//! Every refusal carries `WWW-Authenticate: Bearer resource_metadata="…"` so a client that
//! knows nothing yet can discover the authorization server (RFC 9728 §5.1; the MCP spec
//! requires it). When a token was presented the challenge adds `error` and
//! `error_description` (RFC 6750 §3.1); a missing token gets no error code (RFC 6750 §3.1:
//! "the resource server SHOULD NOT include an error code"). A `401` names the baseline scope
//! every request needs in `scope` (RFC 6750 §3; the MCP spec's scope selection: clients ask
//! for exactly the challenge's scope, not every `scopes_supported`). Insufficient scope is
//! `403` with the scope to ask for (RFC 6750 §3.1, the MCP spec's step-up flow). An expired
//! token is always `401 invalid_token`, never `403`: clients refresh only on `401`. The body
//! repeats the error as JSON, `{"error": …, "error_description": …}`.

use std::borrow::Cow;

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, StatusCode, header};
use outpost_oauth::error_description::sanitized;

use crate::auth::scope::Scope;

/// Why a request was refused by the resource server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Challenge {
    /// No bearer token: `401` without an error code.
    MissingToken,
    /// The request is malformed (a token in the query string): `400 invalid_request`.
    InvalidRequest(&'static str),
    /// The token is expired, revoked, for another audience, or otherwise invalid: `401
    /// invalid_token`.
    InvalidToken(String),
    /// The token lacks a scope the request needs: `403 insufficient_scope`.
    InsufficientScope(Scope),
}

impl Challenge {
    /// The HTTP status of this answer.
    pub fn status(&self) -> StatusCode {
        match self {
            Challenge::MissingToken | Challenge::InvalidToken(_) => StatusCode::UNAUTHORIZED,
            Challenge::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Challenge::InsufficientScope(_) => StatusCode::FORBIDDEN,
        }
    }

    /// The RFC 6750 §3.1 error code and its description, when there is one.
    fn error(&self) -> Option<(&'static str, String)> {
        match self {
            Challenge::MissingToken => None,
            Challenge::InvalidRequest(why) => Some(("invalid_request", (*why).to_owned())),
            Challenge::InvalidToken(why) => Some(("invalid_token", why.clone())),
            Challenge::InsufficientScope(scope) => Some((
                "insufficient_scope",
                format!("this request requires the scope '{scope}'"),
            )),
        }
        // RFC 6750 §3's character set: no quoted-pairs for a client's parser to trip on.
        .map(|(code, description)| match sanitized(&description) {
            Cow::Borrowed(_) => (code, description),
            Cow::Owned(within) => (code, within),
        })
    }

    /// The `WWW-Authenticate` value, naming the protected resource metadata at
    /// `resource_metadata`; a `401` also names `baseline` (when not empty) as its `scope`.
    pub fn www_authenticate(&self, resource_metadata: &str, baseline: &Scope) -> String {
        let mut value = String::from("Bearer");
        let mut params = Vec::new();
        if let Some((code, description)) = self.error() {
            params.push(format!("error=\"{code}\""));
            params.push(format!("error_description=\"{}\"", quoted(&description)));
        }
        let scope = match self {
            Challenge::InsufficientScope(scope) => Some(scope),
            Challenge::MissingToken | Challenge::InvalidToken(_) => {
                Some(baseline).filter(|s| !s.is_empty())
            }
            Challenge::InvalidRequest(_) => None,
        };
        if let Some(scope) = scope {
            params.push(format!("scope=\"{}\"", quoted(&scope.to_string())));
        }
        params.push(format!(
            "resource_metadata=\"{}\"",
            quoted(resource_metadata)
        ));
        value.push(' ');
        value.push_str(&params.join(", "));
        value
    }

    /// The complete answer: status, `WWW-Authenticate` (see
    /// [`www_authenticate`](Self::www_authenticate)), JSON body.
    pub fn into_response(self, resource_metadata: &str, baseline: &Scope) -> Response {
        let challenge = self.www_authenticate(resource_metadata, baseline);
        let body = match self.error() {
            Some((error, description)) => serde_json::json!({
                "error": error,
                "error_description": description,
            }),
            None => serde_json::json!({
                "error": "unauthorized",
                "error_description": "this resource requires a bearer access token",
            }),
        };
        let mut response = (self.status(), axum::Json(body)).into_response();
        match HeaderValue::from_str(&challenge) {
            Ok(value) => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, value);
            }
            Err(_) => tracing::error!("unrepresentable WWW-Authenticate challenge"),
        }
        response
    }
}

/// An RFC 9110 §5.6.4 quoted-string body: `"` and `\` escaped, control characters dropped.
fn quoted(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || !c.is_ascii() => {}
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const PRM: &str = "https://mcp.example.com/.well-known/oauth-protected-resource/mcp";

    #[test]
    fn missing_token_has_no_error_code() {
        let challenge = Challenge::MissingToken;
        assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge.www_authenticate(PRM, &Scope::empty()),
            format!("Bearer resource_metadata=\"{PRM}\"")
        );
    }

    #[test]
    fn a_401_names_the_baseline_scope() {
        let baseline = Scope::parse("mcp").unwrap();
        assert_eq!(
            Challenge::MissingToken.www_authenticate(PRM, &baseline),
            format!("Bearer scope=\"mcp\", resource_metadata=\"{PRM}\"")
        );
        let expired = Challenge::InvalidToken("expired".into()).www_authenticate(PRM, &baseline);
        assert!(expired.contains(", scope=\"mcp\", "), "{expired}");
        let malformed = Challenge::InvalidRequest("bad").www_authenticate(PRM, &baseline);
        assert!(!malformed.contains("scope="), "{malformed}");
    }

    #[test]
    fn invalid_token_names_the_error() {
        let challenge = Challenge::InvalidToken("the access token has expired".into());
        assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(
            challenge.www_authenticate(PRM, &Scope::empty()),
            format!(
                "Bearer error=\"invalid_token\", error_description=\"the access token has \
                 expired\", resource_metadata=\"{PRM}\""
            )
        );
    }

    #[test]
    fn insufficient_scope_is_403_with_the_scope() {
        let challenge = Challenge::InsufficientScope(Scope::parse("b a").unwrap());
        assert_eq!(challenge.status(), StatusCode::FORBIDDEN);
        let value = challenge.www_authenticate(PRM, &Scope::parse("mcp").unwrap());
        assert!(value.starts_with("Bearer error=\"insufficient_scope\", "));
        assert!(value.contains(", scope=\"a b\", "));
        assert!(value.ends_with(&format!("resource_metadata=\"{PRM}\"")));
        // RFC 6750 §3: no `"` or `\` inside the description, so no quoted-pair to parse.
        assert!(
            value.contains("error_description=\"this request requires the scope 'a b'\""),
            "{value}"
        );
    }

    #[test]
    fn descriptions_keep_to_the_rfc_6750_characters() {
        let challenge = Challenge::InvalidToken("a \"quoted\" \\ token\n\u{e9}".into());
        let value = challenge.www_authenticate(PRM, &Scope::empty());
        assert!(
            value.contains("error_description=\"a 'quoted' / token??\""),
            "{value}"
        );
    }

    #[test]
    fn descriptions_are_quoted_safely() {
        assert_eq!(quoted("a \"b\" \\ c\n\u{e9}"), "a \\\"b\\\" \\\\ c");
    }

    #[tokio::test]
    async fn the_body_is_json() {
        let response = Challenge::InvalidRequest("no tokens in query strings")
            .into_response(PRM, &Scope::empty());
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
        let body = axum::body::to_bytes(response.into_body(), 1024)
            .await
            .unwrap();
        let json: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(json["error"], "invalid_request");
        assert_eq!(json["error_description"], "no tokens in query strings");
    }
}
