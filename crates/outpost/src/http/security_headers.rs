//! Response headers every Outpost response carries.
//!
//! `nosniff` stops browsers from guessing content types; `no-referrer` keeps URLs (which may
//! carry codes or state) out of third-party logs. Pages set their own CSP and frame options.

use axum::Router;
use http::{HeaderValue, header};
use tower_http::set_header::SetResponseHeaderLayer;

/// Adds the security headers to every response of `router`, unless a handler already set them.
pub fn with_security_headers<S: Clone + Send + Sync + 'static>(router: Router<S>) -> Router<S> {
    router
        .layer(SetResponseHeaderLayer::if_not_present(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::if_not_present(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
}
