//! The HTML pages of the authorization endpoint: login, consent, error — and the `503` page
//! while the store does not answer ([`temporarily_unavailable`], chosen by [`internal_error`]).
//!
//! Templates are askama files under `crates/outpost/templates/`, checked at compile time and
//! HTML-escaped by default, so user-provided text (client names, usernames, messages) cannot
//! inject markup. Pages are self-contained: inline CSS, no scripts, no external assets, plain
//! forms. Every response of the browser routes carries [`BROWSER_HEADERS`] (a strict
//! Content-Security-Policy, `X-Frame-Options: DENY` against clickjacking — RFC 6749 §10.13,
//! `Cache-Control: no-store`, `Referrer-Policy: no-referrer` so that codes in URLs do not
//! leak).
//!
//! The login and consent forms may end in a 302 to the client's redirect URI, and browsers
//! (Chromium) apply `form-action` to the redirects that follow a form submission, so those two
//! pages widen `form-action` to the redirect URI's origin ([`render_form`]); every other page
//! keeps `form-action 'self'`.

use askama::Template;
use axum::{
    Router,
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{Html, IntoResponse, Response},
};
use tower_http::set_header::SetResponseHeaderLayer;
use url::Url;

use crate::errors::{RETRY_AFTER_SECONDS, ServerFailure};

/// The headers every browser-facing response gets.
pub const BROWSER_HEADERS: [(HeaderName, &str); 5] = [
    (
        header::CONTENT_SECURITY_POLICY,
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
         frame-ancestors 'none'; base-uri 'none'",
    ),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CACHE_CONTROL, "no-store"),
    (header::PRAGMA, "no-cache"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// The login form.
#[derive(Debug, Template)]
#[template(path = "login.html")]
pub struct LoginPage<'a> {
    /// Who asks.
    pub client_name: &'a str,
    /// The pending request's id.
    pub request_id: &'a str,
    /// The CSRF token.
    pub csrf: &'a str,
    /// The username to prefill (after a failed attempt).
    pub username: &'a str,
    /// Why the last attempt failed.
    pub message: Option<&'a str>,
    /// Where the form posts.
    pub action: &'a str,
}

/// The consent form.
#[derive(Debug, Template)]
#[template(path = "consent.html")]
pub struct ConsentPage<'a> {
    /// Who asks.
    pub client_name: &'a str,
    /// The host of a metadata-document client's `client_id` URL (its name is self-asserted).
    pub client_host: Option<&'a str>,
    /// The host the user will be sent back to.
    pub redirect_host: &'a str,
    /// The scopes that will be granted (what was asked for, narrowed to what the user may be
    /// granted); posted back, so that approval never grants more than the page listed.
    pub scopes: Vec<&'a str>,
    /// The pending request's id.
    pub request_id: &'a str,
    /// The CSRF token.
    pub csrf: &'a str,
    /// Where the form posts.
    pub action: &'a str,
}

/// An error shown to the user rather than sent to the client.
#[derive(Debug, Template)]
#[template(path = "error.html")]
pub struct ErrorPage<'a> {
    /// The heading.
    pub title: &'a str,
    /// What went wrong.
    pub message: &'a str,
}

/// `template` rendered with `status`, plus `Set-Cookie` when given.
pub fn render(
    status: StatusCode,
    template: &impl Template,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let mut response = match template.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => {
            tracing::error!(%error, "page rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed").into_response()
        }
    };
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A page whose form may end in a redirect to `redirect_uri`: like [`render`], with
/// `form-action` allowing that URI's origin (or its scheme, for a private-use scheme).
pub fn render_form(
    status: StatusCode,
    template: &impl Template,
    set_cookie: Option<HeaderValue>,
    redirect_uri: &str,
) -> Response {
    let mut response = render(status, template, set_cookie);
    if let Some(csp) = form_csp(redirect_uri) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, csp);
    }
    response
}

/// The CSP of a form page whose submission may redirect to `redirect_uri`.
fn form_csp(redirect_uri: &str) -> Option<HeaderValue> {
    let url = Url::parse(redirect_uri).ok()?;
    let source = match url.scheme() {
        "http" | "https" => url.origin().ascii_serialization(),
        scheme => format!("{scheme}:"),
    };
    // Origins and schemes are ASCII without spaces, `;` or `,`: nothing can end the directive.
    if !source
        .bytes()
        .all(|b| b.is_ascii_graphic() && b != b';' && b != b',' && b != b'\'')
    {
        return None;
    }
    HeaderValue::from_str(&format!(
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' {source}; \
         frame-ancestors 'none'; base-uri 'none'"
    ))
    .ok()
}

/// An error page with `status`.
pub fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    render(status, &ErrorPage { title, message }, None)
}

/// A 429 page with `Retry-After`: a rate limit refused the request
/// ([`throttle`](super::throttle)).
pub fn too_many_requests(title: &str, message: &str, retry_after: u64) -> Response {
    let mut response = error_page(StatusCode::TOO_MANY_REQUESTS, title, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// 503 with `Retry-After`: the server is too busy to check a password now.
pub fn busy(retry_after: u64) -> Response {
    let mut response = error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Server busy",
        "The server is busy right now and could not check your password. Go back and try \
         again in a few seconds.",
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// "N minute(s)", rounded up: how long a refused user waits.
pub fn minutes(seconds: u64) -> String {
    let minutes = seconds.div_ceil(60);
    format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
}

/// The page for a failure inside the server; the cause goes to the log. The store out of
/// reach ([`ServerFailure::is_store_outage`]) is [`temporarily_unavailable`]; anything else is
/// the generic `500` page.
pub fn internal_error(cause: impl ServerFailure) -> Response {
    if cause.is_store_outage() {
        tracing::warn!(%cause, "store unavailable: answering the 503 page");
        return temporarily_unavailable();
    }
    tracing::error!(%cause, "authorization endpoint failure");
    error_page(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong",
        "The server could not complete the request. Try again later.",
    )
}

/// The `503` page with `Retry-After` while the store does not answer. It is a page, never a
/// redirect with `error=temporarily_unavailable` to the client: RFC 6749 §4.1.2.1 allows
/// that only once the client and its redirect URI are validated, which needs the store — and
/// a user already past that point is better told to try again here than sent back to an
/// application that may not retry.
pub fn temporarily_unavailable() -> Response {
    let mut response = error_page(
        StatusCode::SERVICE_UNAVAILABLE,
        "Sign-in is temporarily unavailable",
        &format!(
            "Sign-in is temporarily unavailable, try again in a moment (in about \
             {RETRY_AFTER_SECONDS} seconds)."
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECONDS));
    response
}

/// `router` with [`BROWSER_HEADERS`] set on every response that has not set them itself
/// (tower-http layers).
pub fn with_browser_headers<S>(router: Router<S>) -> Router<S>
where
    S: Clone + Send + Sync + 'static,
{
    BROWSER_HEADERS
        .into_iter()
        .fold(router, |router, (name, value)| {
            router.layer(SetResponseHeaderLayer::if_not_present(
                name,
                HeaderValue::from_static(value),
            ))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_user_text() {
        let html = LoginPage {
            client_name: "<script>alert(1)</script>",
            request_id: "r",
            csrf: "c",
            username: "\"><b>",
            message: Some("Wrong username or password"),
            action: "login",
        }
        .render()
        .unwrap();
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
        assert!(!html.contains("\"><b>"));
        assert!(html.contains("type=\"password\""));
    }

    #[test]
    fn form_pages_allow_the_redirect_origin() {
        let csp = form_csp("http://127.0.0.1:6276/cb?x=1").unwrap();
        assert!(
            csp.to_str()
                .unwrap()
                .contains("form-action 'self' http://127.0.0.1:6276;")
        );
        let csp = form_csp("com.example.app:/cb").unwrap();
        assert!(
            csp.to_str()
                .unwrap()
                .contains("form-action 'self' com.example.app:;")
        );
    }
}
