//! Redirect URIs: what a client may register, and whether a request's URI matches one.
//!
//! OAuth 2.1 (draft-ietf-oauth-v2-1 §2.3.1, §4.1.3) asks for exact string matching against the
//! registered URIs, with one exception from RFC 8252 §7.3: a native app's loopback redirect
//! (`http://127.0.0.1`, `http://[::1]`, and — as MCP clients register it — `http://localhost`)
//! may use any port, because the app listens on whatever port the OS gives it. Registration
//! refuses fragments (RFC 6749 §3.1.2), userinfo, dangerous schemes, plain `http` off the
//! loopback interface, and private-use schemes (`com.example.app:/cb`, RFC 8252 §7.1) for web
//! clients. It also refuses text that is not an RFC 3986 URI as written — a space, a
//! backslash, a control character, a bad `%` escape, non-ASCII, an `http(s)` URI without its
//! `//host` — which a URL parser would repair into another URI (`https:///evil.com/cb` into
//! `https://evil.com/cb`, `https://good.example\@evil.com` into a path on `good.example`):
//! the browser must go where the registered string says, read the same way by everyone.

use url::Url;

use crate::loopback::is_loopback_host;

/// The client's `application_type` (OpenID Connect Dynamic Registration §2, used by MCP
/// clients in RFC 7591 registration requests): it decides which schemes are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplicationType {
    /// A web application: `https`, or `http` on loopback for development.
    Web,
    /// A native application: additionally private-use URI schemes (RFC 8252 §7.1).
    Native,
}

/// Why a redirect URI cannot be registered.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RedirectUriError {
    /// Not an absolute URI as RFC 3986 writes one.
    #[error("redirect URI {0:?} is not an absolute URI")]
    NotAbsolute(String),
    /// Carries a fragment (RFC 6749 §3.1.2).
    #[error("redirect URI {0:?} must not contain a fragment")]
    Fragment(String),
    /// Carries `user:password@` (credentials must never ride in a redirect).
    #[error("redirect URI {0:?} must not contain userinfo")]
    UserInfo(String),
    /// Plain `http` to a host other than the loopback interface.
    #[error("redirect URI {0:?} must use https (http is allowed only on loopback)")]
    InsecureScheme(String),
    /// A scheme this client type may not use (a private-use scheme for a web client, or a
    /// scheme such as `javascript:` that no client may use).
    #[error("redirect URI {0:?} uses a scheme this client may not register")]
    SchemeNotAllowed(String),
}

/// Schemes no client may register: they would run code or read local data in the user agent
/// (`javascript`, `data`, `file`, …), open the browser's own pages (`view-source`, `chrome`),
/// or send the code over another network protocol (`ws`, `ftp`, `mailto`) — none of them is
/// an app's private-use scheme (RFC 8252 §7.1).
const FORBIDDEN_SCHEMES: &[&str] = &[
    "javascript",
    "data",
    "vbscript",
    "file",
    "about",
    "blob",
    "filesystem",
    "jar",
    "view-source",
    "chrome",
    "ws",
    "wss",
    "ftp",
    "mailto",
];

/// A registered redirect URI, validated once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedirectUri {
    raw: String,
    loopback: bool,
}

impl RedirectUri {
    /// Validates `value` for registration by a client of type `application_type`.
    pub fn parse(value: &str, application_type: ApplicationType) -> Result<Self, RedirectUriError> {
        let err = || value.to_owned();
        if !is_uri_text(value) {
            return Err(RedirectUriError::NotAbsolute(err()));
        }
        let url = Url::parse(value).map_err(|_| RedirectUriError::NotAbsolute(err()))?;
        if matches!(url.scheme(), "http" | "https") && !has_authority(value) {
            return Err(RedirectUriError::NotAbsolute(err()));
        }
        // `Url` drops an empty fragment (`…/cb#`) from nothing: check the text too.
        if url.fragment().is_some() || value.contains('#') {
            return Err(RedirectUriError::Fragment(err()));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(RedirectUriError::UserInfo(err()));
        }
        let loopback = is_loopback_host(url.host());
        match url.scheme() {
            "https" => {}
            "http" if loopback => {}
            "http" => return Err(RedirectUriError::InsecureScheme(err())),
            scheme if FORBIDDEN_SCHEMES.contains(&scheme) => {
                return Err(RedirectUriError::SchemeNotAllowed(err()));
            }
            _ if application_type == ApplicationType::Native => {}
            _ => return Err(RedirectUriError::SchemeNotAllowed(err())),
        }
        Ok(Self {
            raw: value.to_owned(),
            loopback: loopback && url.scheme() == "http",
        })
    }

    /// The URI exactly as registered.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// Whether this is an `http` loopback redirect, whose port may vary (RFC 8252 §7.3).
    pub fn is_loopback(&self) -> bool {
        self.loopback
    }

    /// Whether a request's `redirect_uri` matches this registered one: the same string, or
    /// for a loopback registration the same string once the port is taken out of both.
    pub fn matches(&self, requested: &str) -> bool {
        if requested == self.raw {
            return true;
        }
        if !self.loopback || requested.contains('#') {
            return false;
        }
        match (without_port(&self.raw), without_port(requested)) {
            (Some(registered), Some(requested)) => registered == requested,
            _ => false,
        }
    }
}

/// The registered URI that `requested` matches, if any.
pub fn find_match<'a>(registered: &'a [RedirectUri], requested: &str) -> Option<&'a RedirectUri> {
    registered.iter().find(|uri| uri.matches(requested))
}

/// Whether `value` uses only RFC 3986's characters (unreserved, reserved, and `%` starting a
/// two-hex-digit escape).
fn is_uri_text(value: &str) -> bool {
    let bytes = value.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let escape = bytes.get(i + 1..i + 3);
                if !escape.is_some_and(|hex| hex.iter().all(u8::is_ascii_hexdigit)) {
                    return false;
                }
                i += 3;
            }
            b'A'..=b'Z'
            | b'a'..=b'z'
            | b'0'..=b'9'
            | b'-'
            | b'.'
            | b'_'
            | b'~'
            | b':'
            | b'/'
            | b'?'
            | b'#'
            | b'['
            | b']'
            | b'@'
            | b'!'
            | b'$'
            | b'&'
            | b'\''
            | b'('
            | b')'
            | b'*'
            | b'+'
            | b','
            | b';'
            | b'=' => i += 1,
            _ => return false,
        }
    }
    true
}

/// Whether `value` (`scheme:…`) goes on with `//` and a non-empty authority, as an `http(s)`
/// URI must (RFC 9110 §4.2).
fn has_authority(value: &str) -> bool {
    let Some((_, rest)) = value.split_once(':') else {
        return false;
    };
    rest.strip_prefix("//")
        .is_some_and(|rest| !rest.is_empty() && !rest.starts_with(['/', '?', '#']))
}

/// `http://HOST[:PORT]REST` → `http://HOSTREST`, on the text as given (no normalisation, so
/// the rest must match byte for byte). `None` when the text is not an `http` URI with a plain
/// authority: userinfo, or a port that is empty, not a number or not in 1–65535 (no browser
/// could be sent there).
fn without_port(uri: &str) -> Option<String> {
    let rest = uri.strip_prefix("http://")?;
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    if authority.contains('@') {
        return None;
    }
    let host = match authority.rfind(':') {
        // An IPv6 literal's colons sit inside brackets; a port colon follows the `]`.
        Some(colon) if !authority[colon..].contains(']') => {
            let port = &authority[colon + 1..];
            let valid = port.len() <= 5
                && port.bytes().all(|b| b.is_ascii_digit())
                && port.parse::<u16>().is_ok_and(|port| port > 0);
            if !valid {
                return None;
            }
            &authority[..colon]
        }
        _ => authority,
    };
    Some(format!("http://{host}{tail}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn web(value: &str) -> Result<RedirectUri, RedirectUriError> {
        RedirectUri::parse(value, ApplicationType::Web)
    }

    fn native(value: &str) -> Result<RedirectUri, RedirectUriError> {
        RedirectUri::parse(value, ApplicationType::Native)
    }

    #[test]
    fn exact_match_only_for_https() {
        let uri = web("https://app.example.com/cb").unwrap();
        assert!(!uri.is_loopback());
        assert!(uri.matches("https://app.example.com/cb"));
        // Near misses: a trailing slash, case, a port, a query, a fragment.
        assert!(!uri.matches("https://app.example.com/cb/"));
        assert!(!uri.matches("https://APP.example.com/cb"));
        assert!(!uri.matches("https://app.example.com:443/cb"));
        assert!(!uri.matches("https://app.example.com/cb?x=1"));
        assert!(!uri.matches("https://app.example.com/cb#x"));
        assert!(!uri.matches("https://app.example.com.evil.com/cb"));
    }

    #[test]
    fn loopback_port_may_differ() {
        for registered in [
            "http://127.0.0.1/callback",
            "http://127.0.0.1:6276/callback",
            "http://[::1]:8080/callback",
            "http://localhost:6274/callback",
        ] {
            let uri = native(registered).unwrap();
            assert!(uri.is_loopback(), "{registered}");
        }
        let v4 = native("http://127.0.0.1/callback").unwrap();
        assert!(v4.matches("http://127.0.0.1:51234/callback"));
        assert!(v4.matches("http://127.0.0.1/callback"));
        assert!(!v4.matches("http://127.0.0.1:51234/callback/"));
        assert!(!v4.matches("http://127.0.0.1:51234/other"));
        assert!(!v4.matches("http://localhost:51234/callback"));
        assert!(!v4.matches("https://127.0.0.1:51234/callback"));
        assert!(!v4.matches("http://127.0.0.1:51234/callback#frag"));
        assert!(!v4.matches("http://user@127.0.0.1:51234/callback"));
        assert!(!v4.matches("http://127.0.0.1:abc/callback"));
        for port in ["", "0", "65536", "99999999", "+80", "-1"] {
            let requested = format!("http://127.0.0.1:{port}/callback");
            assert!(!v4.matches(&requested), "{requested}");
        }
        assert!(v4.matches("http://127.0.0.1:65535/callback"));

        let v6 = native("http://[::1]:8080/callback").unwrap();
        assert!(v6.matches("http://[::1]:9999/callback"));
        assert!(v6.matches("http://[::1]/callback"));
        assert!(!v6.matches("http://127.0.0.1:9999/callback"));

        let localhost = web("http://localhost:6274/oauth/callback").unwrap();
        assert!(localhost.matches("http://localhost:7000/oauth/callback"));
        assert!(!localhost.matches("http://localhost:7000/oauth/callback?debug=1"));
    }

    /// Text a URL parser would repair into another URI is refused, not stored as given.
    #[test]
    fn only_uris_as_rfc_3986_writes_them() {
        for repaired in [
            "https:///evil.com/cb",
            "https:/evil.com/cb",
            "https:evil.com/cb",
            "https://good.example\\@evil.com/cb",
            "https://evil.com\\.good.example/cb",
            "https://a.example/cb\r\nSet-Cookie: x=1",
            "https://good.example\t.evil.com/cb",
            "https://a.example/c b",
            "https://a.example/cb\"><img",
            "https://a.example/%zz",
            "https://a.example/%4",
            "https://bücher.example/cb",
            "http://127.0.0.1:8080/c b",
        ] {
            assert!(
                matches!(native(repaired), Err(RedirectUriError::NotAbsolute(_))),
                "{repaired:?}"
            );
        }
        for fine in [
            "https://a.example/cb?x=1&y=%20",
            "https://xn--bcher-kva.example/cb",
            "com.example.app:/oauth2redirect",
            "cursor://anysphere.cursor-retrieval/oauth/callback",
            "http://[::1]:8080/callback",
        ] {
            assert!(native(fine).is_ok(), "{fine}");
        }
    }

    #[test]
    fn registration_rules() {
        assert!(matches!(
            web("https://app.example.com/cb#x"),
            Err(RedirectUriError::Fragment(_))
        ));
        assert!(matches!(
            web("https://app.example.com/cb#"),
            Err(RedirectUriError::Fragment(_))
        ));
        assert!(matches!(
            web("https://user:pw@app.example.com/cb"),
            Err(RedirectUriError::UserInfo(_))
        ));
        assert!(matches!(
            web("http://app.example.com/cb"),
            Err(RedirectUriError::InsecureScheme(_))
        ));
        assert!(matches!(
            native("http://192.168.1.2/cb"),
            Err(RedirectUriError::InsecureScheme(_))
        ));
        assert!(matches!(web("/cb"), Err(RedirectUriError::NotAbsolute(_))));
        assert!(matches!(
            web("com.example.app:/cb"),
            Err(RedirectUriError::SchemeNotAllowed(_))
        ));
        for forbidden in [
            "javascript:alert(1)",
            "ws://evil.example/cb",
            "wss://evil.example/cb",
            "view-source:http://evil.example/",
            "chrome://settings",
            "mailto:x@evil.example",
            "ftp://evil.example/cb",
        ] {
            assert!(
                matches!(
                    native(forbidden),
                    Err(RedirectUriError::SchemeNotAllowed(_))
                ),
                "{forbidden}"
            );
        }
        assert!(native("cursor://anysphere.cursor-retrieval/oauth/callback").is_ok());
        let private_use = native("com.example.app:/cb").unwrap();
        assert!(!private_use.is_loopback());
        assert!(private_use.matches("com.example.app:/cb"));
        assert!(!private_use.matches("com.example.app:/cb2"));
    }

    #[test]
    fn find_match_picks_the_registered_uri() {
        let registered = vec![
            web("https://app.example.com/cb").unwrap(),
            native("http://127.0.0.1/callback").unwrap(),
        ];
        assert_eq!(
            find_match(&registered, "http://127.0.0.1:4000/callback").map(RedirectUri::as_str),
            Some("http://127.0.0.1/callback")
        );
        assert!(find_match(&registered, "https://app.example.com/cb/").is_none());
    }
}
