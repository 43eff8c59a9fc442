//! Finding the authorization server of an MCP server as a host does: the protected-resource
//! metadata (RFC 9728) named by the 401's challenge or at its well-known URLs, then the
//! authorization server's metadata (RFC 8414, or OpenID Connect discovery) at the well-known
//! URLs its issuer gives, with the `issuer` checked (RFC 8414 §3.3).

use std::time::Duration;

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Request, StatusCode, header};
use http_body_util::Full;
use serde::{Deserialize, de::DeserializeOwned};
use url::Url;

use crate::connect::http::HttpClient;

/// How long one metadata request may take.
const METADATA_TIMEOUT: Duration = Duration::from_secs(15);

/// The RFC 9728 document: which authorization servers protect the resource.
#[derive(Debug, Deserialize)]
pub struct ProtectedResource {
    /// The resource identifier, sent as `resource` (RFC 8707) in the authorization and
    /// token requests.
    pub resource: String,
    /// The issuers that may issue tokens for it; the first is used.
    #[serde(default)]
    pub authorization_servers: Vec<String>,
    /// The scopes the resource knows, asked for when the challenge names none.
    #[serde(default)]
    pub scopes_supported: Vec<String>,
}

/// The RFC 8414 document: the endpoints of the authorization server.
#[derive(Debug, Clone, Deserialize)]
pub struct AuthorizationServerMetadata {
    /// The issuer identifier, equal to the URL the document was found for.
    pub issuer: String,
    /// Where the browser goes to sign in.
    pub authorization_endpoint: String,
    /// Where codes and refresh tokens become access tokens.
    pub token_endpoint: String,
    /// RFC 7591 dynamic client registration, when offered.
    pub registration_endpoint: Option<String>,
    /// RFC 7009 revocation, used by `logout`.
    pub revocation_endpoint: Option<String>,
    /// PKCE methods; `S256` must be among them.
    #[serde(default)]
    pub code_challenge_methods_supported: Vec<String>,
    /// RFC 9207: the authorization response carries `iss`.
    #[serde(default)]
    pub authorization_response_iss_parameter_supported: bool,
}

/// The resource metadata for `server`: from the challenge's `resource_metadata`, else the
/// RFC 9728 §3.1 well-known URL with the server's path, else the one at the root. `None` when
/// the server publishes none (an MCP server before 2025-06-18).
pub async fn protected_resource(
    http: &HttpClient,
    server: &Url,
    resource_metadata: Option<&str>,
) -> anyhow::Result<Option<ProtectedResource>> {
    let mut candidates = Vec::new();
    if let Some(url) = resource_metadata {
        candidates.push(Url::parse(url).context("the challenge's resource_metadata is not a URL")?);
    }
    let path = server.path().trim_end_matches('/');
    for suffix in [path, ""] {
        let mut url = server.clone();
        url.set_path(&format!("/.well-known/oauth-protected-resource{suffix}"));
        url.set_query(None);
        candidates.push(url);
    }
    for url in candidates {
        if let Some(document) = fetch_json::<ProtectedResource>(http, &url).await? {
            check_resource(&document.resource, server)?;
            return Ok(Some(document));
        }
    }
    Ok(None)
}

/// The resource must be the server itself or a prefix of it on the same origin: a document
/// naming another resource would send our tokens' audience elsewhere (RFC 9728 §3.3).
fn check_resource(resource: &str, server: &Url) -> anyhow::Result<()> {
    let parsed = Url::parse(resource).context("the protected-resource metadata's resource")?;
    let same_origin = parsed.origin() == server.origin();
    let prefix = server.as_str().starts_with(resource.trim_end_matches('/'));
    if same_origin && prefix {
        return Ok(());
    }
    bail!("the protected-resource metadata names resource {resource}, not {server}")
}

/// A URL of the authorization server that `server` named, which the sign-in's code, PKCE
/// verifier and tokens cross: https, as MCP authorization (communication security) and OAuth
/// 2.1 §1.5 require, or plain http only on a loopback host or at the MCP server's own origin
/// (whose plain http the user chose with its URL).
fn check_transport(what: &str, url: &str, server: &Url) -> anyhow::Result<()> {
    let parsed = Url::parse(url).with_context(|| format!("the {what} {url} is not a URL"))?;
    let secure = parsed.scheme() == "https"
        || (parsed.scheme() == "http"
            && (outpost_oauth::loopback::is_loopback_host(parsed.host())
                || parsed.origin() == server.origin()));
    if secure {
        return Ok(());
    }
    bail!(
        "the {what} {url} is not https: the sign-in's code and tokens would cross the network \
         readable (plain http only on a loopback host or at the MCP server's own origin)"
    )
}

/// The metadata of the authorization server `issuer`, which `server` named, from the RFC 8414
/// §3.1 and OpenID Connect Discovery well-known URLs in the order the MCP authorization spec
/// gives; it and its endpoints https ([`check_transport`]).
pub async fn authorization_server(
    http: &HttpClient,
    issuer: &str,
    server: &Url,
) -> anyhow::Result<AuthorizationServerMetadata> {
    check_transport("authorization server", issuer, server)?;
    let issuer_url =
        Url::parse(issuer).context("the authorization server's issuer is not a URL")?;
    let path = issuer_url.path().trim_end_matches('/');
    let at_root = |well_known: &str| {
        let mut url = issuer_url.clone();
        url.set_path(&format!("/.well-known/{well_known}{path}"));
        url
    };
    let mut candidates = vec![
        at_root("oauth-authorization-server"),
        at_root("openid-configuration"),
    ];
    if !path.is_empty() {
        let mut url = issuer_url.clone();
        url.set_path(&format!("{path}/.well-known/openid-configuration"));
        candidates.push(url);
    }
    for url in candidates {
        let Some(metadata) = fetch_json::<AuthorizationServerMetadata>(http, &url).await? else {
            continue;
        };
        if metadata.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
            bail!(
                "the authorization server metadata at {url} names issuer {}, not {issuer}",
                metadata.issuer
            );
        }
        if !metadata
            .code_challenge_methods_supported
            .iter()
            .any(|method| method == "S256")
        {
            bail!("the authorization server {issuer} does not offer PKCE with S256");
        }
        let endpoints = [
            (
                "authorization endpoint",
                Some(&metadata.authorization_endpoint),
            ),
            ("token endpoint", Some(&metadata.token_endpoint)),
            (
                "registration endpoint",
                metadata.registration_endpoint.as_ref(),
            ),
            ("revocation endpoint", metadata.revocation_endpoint.as_ref()),
        ];
        for (what, endpoint) in endpoints {
            if let Some(endpoint) = endpoint {
                check_transport(what, endpoint, server)?;
            }
        }
        return Ok(metadata);
    }
    bail!("the authorization server {issuer} publishes no metadata (RFC 8414 or OpenID discovery)")
}

/// GETs `url` as JSON: `None` on 404 (try the next candidate), an error on anything else
/// that is not a 200 with a JSON document of the expected shape.
async fn fetch_json<T: DeserializeOwned>(
    http: &HttpClient,
    url: &Url,
) -> anyhow::Result<Option<T>> {
    let request = Request::get(url.as_str())
        .header(header::ACCEPT, "application/json")
        .header("MCP-Protocol-Version", "2025-11-25")
        .body(Full::new(Bytes::new()))?;
    let response = http
        .send(request, METADATA_TIMEOUT)
        .await
        .with_context(|| format!("cannot fetch {url}"))?;
    match response.status() {
        StatusCode::OK => {}
        StatusCode::NOT_FOUND | StatusCode::METHOD_NOT_ALLOWED => return Ok(None),
        status => bail!("{url} answered {status}"),
    }
    let document = serde_json::from_slice(response.body())
        .with_context(|| format!("{url} is not valid metadata"))?;
    Ok(Some(document))
}

#[cfg(test)]
mod tests {
    use url::Url;

    use super::{check_resource, check_transport};

    #[test]
    fn authorization_servers_are_https_but_on_loopback_or_the_servers_own_origin() {
        let server = Url::parse("http://10.0.0.5:8000/mcp").unwrap();
        for url in [
            "https://auth.example.com",
            "http://127.0.0.1:9000",
            "http://[::1]:9000/x",
            "http://10.0.0.5:8000",
        ] {
            assert!(check_transport("x", url, &server).is_ok(), "{url}");
        }
        for url in [
            "http://auth.example.com",
            "http://10.0.0.5:8001",
            "http://192.0.2.2:41999/authorize",
            "ftp://auth.example.com",
        ] {
            assert!(check_transport("x", url, &server).is_err(), "{url}");
        }
    }

    #[test]
    fn a_resource_on_the_servers_path_or_origin_is_accepted() {
        let server = Url::parse("https://mcp.example.com/mcp").unwrap();
        assert!(check_resource("https://mcp.example.com/mcp", &server).is_ok());
        assert!(check_resource("https://mcp.example.com/", &server).is_ok());
    }

    #[test]
    fn a_resource_elsewhere_is_refused() {
        let server = Url::parse("https://mcp.example.com/mcp").unwrap();
        assert!(check_resource("https://evil.example.com/mcp", &server).is_err());
        assert!(check_resource("https://mcp.example.com/other", &server).is_err());
    }
}
