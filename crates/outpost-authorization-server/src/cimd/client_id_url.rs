//! Client id URLs: the `client_id` of a client that publishes a Client ID Metadata Document.
//!
//! draft-ietf-oauth-client-id-metadata-document §3: the URL MUST use `https`, MUST contain a
//! path component, MUST NOT contain single- or double-dot path segments, a fragment, or a
//! username or password. Outpost also asks for the URL in its canonical form (what the WHATWG
//! URL parser serialises it to), so that the string compared with the document's `client_id`,
//! the one stored and the one fetched are one and the same, and for a path other than `/`.

use std::net::IpAddr;

use url::{Host, Url};

/// Longest client id URL accepted.
pub const MAX_CLIENT_ID_URL_LEN: usize = 2048;

/// Whether a `client_id` is URL-shaped: such ids are resolved as metadata documents, never
/// looked up as registered ids (registration never makes one: DCR ids are UUIDs, and
/// pre-registered ids may not contain `://`).
pub fn is_url_shaped(client_id: &str) -> bool {
    client_id.contains("://")
}

/// Why a client id is not a usable client id URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum ClientIdUrlError {
    /// Not a URL at all, or longer than [`MAX_CLIENT_ID_URL_LEN`].
    #[error("the client_id is not a valid URL")]
    Invalid,
    /// Not `https`.
    #[error("a client_id URL must use https")]
    NotHttps,
    /// No path, or only `/`.
    #[error("a client_id URL must have a path")]
    NoPath,
    /// A `.` or `..` path segment.
    #[error("a client_id URL must not contain dot segments")]
    DotSegment,
    /// A `#fragment`.
    #[error("a client_id URL must not contain a fragment")]
    Fragment,
    /// `user:password@`.
    #[error("a client_id URL must not contain a username or password")]
    UserInfo,
    /// The parser would write it differently (case, escapes, default port…).
    #[error("the client_id URL is not in canonical form (expected {0:?})")]
    NotCanonical(String),
}

/// A validated client id URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ClientIdUrl(Url);

impl ClientIdUrl {
    /// Checks `text` against the rules above.
    pub fn parse(text: &str) -> Result<Self, ClientIdUrlError> {
        if text.len() > MAX_CLIENT_ID_URL_LEN {
            return Err(ClientIdUrlError::Invalid);
        }
        if text.contains('#') {
            return Err(ClientIdUrlError::Fragment);
        }
        let url = Url::parse(text).map_err(|_| ClientIdUrlError::Invalid)?;
        if url.scheme() != "https" {
            return Err(ClientIdUrlError::NotHttps);
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ClientIdUrlError::UserInfo);
        }
        if has_dot_segment(text) {
            return Err(ClientIdUrlError::DotSegment);
        }
        if url.path().is_empty() || url.path() == "/" {
            return Err(ClientIdUrlError::NoPath);
        }
        if url.as_str() != text {
            return Err(ClientIdUrlError::NotCanonical(url.as_str().to_owned()));
        }
        Ok(Self(url))
    }

    /// The URL as text: exactly the client id.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The parsed URL.
    pub fn url(&self) -> &Url {
        &self.0
    }

    /// The host (with a non-default port): what the consent page shows, because the document's
    /// `client_name` is whatever its author wrote.
    pub fn host_and_port(&self) -> String {
        let host = self.0.host_str().unwrap_or_default();
        match self.0.port() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_owned(),
        }
    }

    /// The host as an IP address, when the URL names one literally (no DNS lookup happens
    /// then, so the address is checked before the request).
    pub fn ip_literal(&self) -> Option<IpAddr> {
        match self.0.host()? {
            Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
            Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
            Host::Domain(_) => None,
        }
    }
}

/// Whether the path of `text` has a `.` or `..` segment, literally or percent-encoded (the
/// parser resolves them away, so the text is what has to be checked).
fn has_dot_segment(text: &str) -> bool {
    let after_scheme = text.split_once("://").map_or(text, |(_, rest)| rest);
    let path = match after_scheme.find('/') {
        Some(start) => &after_scheme[start..],
        None => return false,
    };
    let path = path.split(['?', '#']).next().unwrap_or_default();
    path.split('/').any(|segment| {
        let segment = segment.to_ascii_lowercase().replace("%2e", ".");
        segment == "." || segment == ".."
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_client_id_urls() {
        for text in [
            "https://app.example/client.json",
            "https://app.example/oauth/metadata",
            "https://app.example:8443/client?version=2",
            "https://127.0.0.1:9443/client.json",
        ] {
            let url = ClientIdUrl::parse(text).expect(text);
            assert_eq!(url.as_str(), text);
        }
        let url = ClientIdUrl::parse("https://app.example:8443/c").unwrap();
        assert_eq!(url.host_and_port(), "app.example:8443");
        assert_eq!(url.ip_literal(), None);
        let url = ClientIdUrl::parse("https://[::1]/c").unwrap();
        assert_eq!(url.ip_literal(), Some("::1".parse().unwrap()));
    }

    #[test]
    fn invalid_client_id_urls() {
        use ClientIdUrlError::*;
        for (text, expected) in [
            ("not a url", Invalid),
            ("http://app.example/client.json", NotHttps),
            ("ftp://app.example/client.json", NotHttps),
            ("https://app.example", NoPath),
            ("https://app.example/", NoPath),
            ("https://app.example/a/../client.json", DotSegment),
            ("https://app.example/./client.json", DotSegment),
            ("https://app.example/a/%2e%2E/client.json", DotSegment),
            ("https://app.example/a/.%2e", DotSegment),
            ("https://app.example/client.json#x", Fragment),
            ("https://app.example/client.json#", Fragment),
            ("https://user@app.example/client.json", UserInfo),
            ("https://user:pw@app.example/client.json", UserInfo),
        ] {
            assert_eq!(ClientIdUrl::parse(text), Err(expected), "{text}");
        }
        for text in [
            "https://APP.example/client.json",
            "https://app.example:443/client.json",
            "https://app.example/client json",
        ] {
            assert!(
                matches!(ClientIdUrl::parse(text), Err(NotCanonical(_))),
                "{text}"
            );
        }
        let long = format!("https://app.example/{}", "a".repeat(MAX_CLIENT_ID_URL_LEN));
        assert_eq!(ClientIdUrl::parse(&long), Err(Invalid));
    }

    #[test]
    fn url_shape() {
        assert!(is_url_shaped("https://app.example/c"));
        assert!(is_url_shaped("http://app.example/c"));
        assert!(!is_url_shaped("3f2504e0-4f89-11d3-9a0c-0305e82c3301"));
        assert!(!is_url_shaped("my-cli"));
    }
}
