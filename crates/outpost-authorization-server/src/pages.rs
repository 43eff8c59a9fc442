//! The HTML pages of the authorization endpoint: login, consent, error — and the `503` page
//! while the store does not answer (`temporarily_unavailable`, chosen by `internal_error`).
//!
//! The handlers say which page to show and with what ([`LoginView`], [`ConsentView`],
//! [`ErrorView`]): they answer with the page as a response extension, and one layer over the
//! browser routes (`render_pages`) draws it with the server's [`PageRenderer`] — the
//! [`BuiltInPages`] (askama templates under `templates/`, with the product's
//! [`Branding`](crate::branding::Branding)), a directory of templates
//! (`TemplateDirectory`, feature `page-templates`), or the library user's own. Pages are
//! self-contained: inline CSS, no scripts, no external assets (a logo is a `data:` URL),
//! plain forms. Every response of the browser routes carries `BROWSER_HEADERS` (a strict
//! Content-Security-Policy, `X-Frame-Options: DENY` against clickjacking — RFC 6749 §10.13,
//! `Cache-Control: no-store`, `Referrer-Policy: no-referrer` so that codes in URLs do not
//! leak), whoever drew the page.
//!
//! The login and consent forms may end in a 302 to the client's redirect URI, and browsers
//! (Chromium) apply `form-action` to the redirects that follow a form submission, so those two
//! pages widen `form-action` to the redirect URI's origin (`render_form`); every other page
//! keeps `form-action 'self'`.

mod built_in;
mod renderer;
#[cfg(feature = "page-templates")]
mod template_directory;
mod view;

use axum::{
    Router,
    body::Body,
    extract::State,
    http::{HeaderName, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use tower_http::set_header::SetResponseHeaderLayer;
use url::Url;

pub use built_in::BuiltInPages;
pub use renderer::{PageRenderer, RenderError};
#[cfg(feature = "page-templates")]
pub use template_directory::{TemplateDirectory, TemplateDirectoryError};
pub use view::{BrandView, ConsentView, ErrorView, LoginView};

use crate::{
    AuthorizationServer,
    errors::{RETRY_AFTER_SECONDS, ServerFailure},
};

/// The Content-Security-Policy of every page but the forms' ([`render_form`]).
const PAGE_CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; \
                        img-src data:; frame-ancestors 'none'; base-uri 'none'";

/// The headers every browser-facing response gets.
pub(crate) const BROWSER_HEADERS: [(HeaderName, &str); 5] = [
    (header::CONTENT_SECURITY_POLICY, PAGE_CSP),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::CACHE_CONTROL, "no-store"),
    (header::PRAGMA, "no-cache"),
    (header::REFERRER_POLICY, "no-referrer"),
];

/// A page to draw: the response extension a handler answers with, drawn by [`render_pages`].
#[derive(Debug, Clone)]
pub(crate) enum Page {
    Login(LoginView),
    Consent(ConsentView),
    Error(ErrorView),
}

impl From<LoginView> for Page {
    fn from(view: LoginView) -> Self {
        Self::Login(view)
    }
}

impl From<ConsentView> for Page {
    fn from(view: ConsentView) -> Self {
        Self::Consent(view)
    }
}

/// `page` with `status`, plus `Set-Cookie` when given; drawn by [`render_pages`].
pub(crate) fn render(
    status: StatusCode,
    page: impl Into<Page>,
    set_cookie: Option<HeaderValue>,
) -> Response {
    let mut response = (status, axum::Extension(page.into())).into_response();
    if let Some(cookie) = set_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// A page whose form may end in a redirect to `redirect_uri`: like [`render`], with
/// `form-action` allowing that URI's origin (or its scheme, for a private-use scheme).
pub(crate) fn render_form(
    status: StatusCode,
    page: impl Into<Page>,
    set_cookie: Option<HeaderValue>,
    redirect_uri: &str,
) -> Response {
    let mut response = render(status, page, set_cookie);
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
    HeaderValue::from_str(&PAGE_CSP.replace(
        "form-action 'self';",
        &format!("form-action 'self' {source};"),
    ))
    .ok()
}

/// Draws the page a browser route answered with ([`Page`]) with the server's
/// [`PageRenderer`]; a page that cannot be drawn is a plain `500` (the cause logged).
pub(crate) async fn render_pages(
    State(server): State<AuthorizationServer>,
    mut response: Response,
) -> Response {
    let Some(page) = response.extensions_mut().remove::<Page>() else {
        return response;
    };
    let html = match &page {
        Page::Login(view) => server.pages.login(view),
        Page::Consent(view) => server.pages.consent(view),
        Page::Error(view) => server.pages.error(view),
    };
    match html {
        Ok(html) => {
            *response.body_mut() = Body::from(html);
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/html; charset=utf-8"),
            );
            response
        }
        Err(error) => {
            tracing::error!(%error, "page rendering failed");
            (StatusCode::INTERNAL_SERVER_ERROR, "page rendering failed").into_response()
        }
    }
}

/// An error page with `status`.
pub(crate) fn error_page(status: StatusCode, title: &str, message: &str) -> Response {
    page_of(ErrorView {
        status: status.as_u16(),
        title: title.to_owned(),
        message: message.to_owned(),
        return_to: None,
    })
}

/// A `400` page for a refused authorization request whose error the user may take back to
/// the application by following `return_to` ([`ErrorView::return_to`]).
pub(crate) fn refused_request_page(message: &str, return_to: String) -> Response {
    page_of(ErrorView {
        status: StatusCode::BAD_REQUEST.as_u16(),
        title: "The application's request was refused".to_owned(),
        message: message.to_owned(),
        return_to: Some(return_to),
    })
}

fn page_of(view: ErrorView) -> Response {
    let status = StatusCode::from_u16(view.status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Extension(Page::Error(view))).into_response()
}

/// A 429 page with `Retry-After`: a rate limit refused the request
/// ([`throttle`](super::throttle)).
pub(crate) fn too_many_requests(title: &str, message: &str, retry_after: u64) -> Response {
    let mut response = error_page(StatusCode::TOO_MANY_REQUESTS, title, message);
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}

/// 503 with `Retry-After`: the server is too busy to check a password now.
pub(crate) fn busy(retry_after: u64) -> Response {
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
pub(crate) fn minutes(seconds: u64) -> String {
    let minutes = seconds.div_ceil(60);
    format!("{minutes} minute{}", if minutes == 1 { "" } else { "s" })
}

/// The page for a failure inside the server; the cause goes to the log. The store out of
/// reach ([`ServerFailure::is_store_outage`]) is [`temporarily_unavailable`]; anything else is
/// the generic `500` page.
pub(crate) fn internal_error(cause: impl ServerFailure) -> Response {
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
pub(crate) fn temporarily_unavailable() -> Response {
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
pub(crate) fn with_browser_headers<S>(router: Router<S>) -> Router<S>
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
        assert!(csp.to_str().unwrap().contains("img-src data:;"));
    }
}
