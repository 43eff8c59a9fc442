//! One GET of a metadata document, with the limits that make fetching attacker-chosen URLs
//! safe: no redirects (a redirect is a refusal: the document must live at the client id
//! itself), a total time limit, a size limit enforced while the body
//! streams in (a missing or lying `Content-Length` changes nothing), `200` only, and a JSON
//! media type. The `Cache-Control: max-age` of the answer is returned for the cache.

use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::Empty;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::{Client, connect::HttpConnector};
use outpost_oauth::issuer_client::{BodyError, error_chain, read_body_within};

use super::{
    CimdError, ClientIdUrl,
    resolver::{CheckedResolver, ResolveError},
};

/// The fetching client: https only, through the [`CheckedResolver`].
pub type DocumentClient = Client<HttpsConnector<HttpConnector<CheckedResolver>>, Empty<Bytes>>;

/// A fetched document.
#[derive(Debug)]
pub struct FetchedDocument {
    /// The body, at most the configured size.
    pub body: Vec<u8>,
    /// The `max-age` the server asked for, seconds (`Some(0)` for `no-store` / `no-cache`).
    pub max_age: Option<u64>,
}

/// Fetches `url` with `client` within `timeout` (connection to last byte) and reads at most
/// `max_bytes` of it. hyper's client follows no redirects: a `3xx` is just not `200`.
pub async fn fetch_document(
    client: &DocumentClient,
    url: &ClientIdUrl,
    max_bytes: usize,
    timeout: Duration,
) -> Result<FetchedDocument, CimdError> {
    tokio::time::timeout(timeout, fetch(client, url, max_bytes))
        .await
        .map_err(|_| CimdError::Timeout)?
}

async fn fetch(
    client: &DocumentClient,
    url: &ClientIdUrl,
    max_bytes: usize,
) -> Result<FetchedDocument, CimdError> {
    let request = Request::get(url.as_str())
        .header(header::ACCEPT, "application/json")
        .header(
            header::USER_AGENT,
            concat!("outpost/", env!("CARGO_PKG_VERSION")),
        )
        .body(Empty::new())
        .map_err(|e| CimdError::Fetch(e.to_string()))?;
    let response = client.request(request).await.map_err(request_error)?;
    if response.status() != StatusCode::OK {
        return Err(CimdError::Status(response.status().as_u16()));
    }
    let headers = response.headers();
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    if !is_json(&content_type) {
        return Err(CimdError::ContentType(content_type));
    }
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max_bytes as u64) {
        return Err(CimdError::TooLarge(max_bytes));
    }
    let max_age = max_age(headers);
    let bytes = read_body_within(response.into_body(), max_bytes)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge(limit) => CimdError::TooLarge(limit),
            BodyError::Read(cause) => CimdError::Fetch(cause),
        })?;
    Ok(FetchedDocument {
        body: bytes,
        max_age,
    })
}

/// `application/json` or a `+json` type, parameters ignored.
fn is_json(content_type: &str) -> bool {
    let essence = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The `max-age` of `Cache-Control`; `no-store` and `no-cache` count as 0.
fn max_age(headers: &http::HeaderMap) -> Option<u64> {
    let value = headers.get(header::CACHE_CONTROL)?.to_str().ok()?;
    let mut found = None;
    for directive in value.split(',').map(str::trim) {
        let lower = directive.to_ascii_lowercase();
        if lower == "no-store" || lower == "no-cache" {
            return Some(0);
        }
        if let Some(seconds) = lower.strip_prefix("max-age=") {
            found = seconds.trim_matches('"').parse().ok();
        }
    }
    found
}

/// Names what went wrong with a request: a refused address, or the transport.
fn request_error(error: hyper_util::client::legacy::Error) -> CimdError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&error);
    while let Some(current) = source {
        if let Some(ResolveError::Refused { .. }) = current.downcast_ref::<ResolveError>() {
            return CimdError::RefusedAddress(current.to_string());
        }
        source = current.source();
    }
    CimdError::Fetch(error_chain(&error))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_media_types() {
        assert!(is_json("application/json"));
        assert!(is_json("application/json; charset=utf-8"));
        assert!(is_json("Application/JSON"));
        assert!(is_json("application/oauth-client+json"));
        assert!(!is_json("text/html"));
        assert!(!is_json("text/json+html"));
        assert!(!is_json(""));
    }

    #[test]
    fn cache_control_max_age() {
        let headers = |value: &'static str| {
            let mut map = http::HeaderMap::new();
            map.insert(header::CACHE_CONTROL, http::HeaderValue::from_static(value));
            map
        };
        assert_eq!(max_age(&headers("public, max-age=600")), Some(600));
        assert_eq!(max_age(&headers("MAX-AGE=\"30\"")), Some(30));
        assert_eq!(max_age(&headers("no-store")), Some(0));
        assert_eq!(max_age(&headers("max-age=600, no-cache")), Some(0));
        assert_eq!(max_age(&headers("public")), None);
        assert_eq!(max_age(&http::HeaderMap::new()), None);
    }
}
