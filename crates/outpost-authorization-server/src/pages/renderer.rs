//! [`PageRenderer`]: what draws the login, consent and error pages — the built-in pages
//! ([`BuiltInPages`](super::BuiltInPages), branded), a directory of templates
//! (`TemplateDirectory`, feature `page-templates`), or a library user's own.

use super::view::{ConsentView, ErrorView, LoginView};

/// A page could not be rendered (the request is answered with a plain `500`, the cause
/// logged).
#[derive(Debug, thiserror::Error)]
#[error("page rendering failed: {0}")]
pub struct RenderError(#[source] pub Box<dyn std::error::Error + Send + Sync>);

/// Draws the HTML of the login, consent and error pages.
///
/// The server keeps everything else: it sends the page with its status, its cookies and its
/// security headers (a Content-Security-Policy with `default-src 'none'`, so no script runs
/// and nothing is loaded from elsewhere; images only as `data:` URLs, styles only inline),
/// and it checks every posted field whatever the page shows. A page keeps the form contract
/// of its view ([`LoginView`], [`ConsentView`]): the field names, `method="post"`, and the
/// hidden `request` and `csrf` values; otherwise the sign-in fails (documented in
/// docs/pages.md). Text from the views must be HTML-escaped: client names and usernames come
/// from outside.
pub trait PageRenderer: Send + Sync {
    /// The login page.
    fn login(&self, page: &LoginView) -> Result<String, RenderError>;
    /// The consent page.
    fn consent(&self, page: &ConsentView) -> Result<String, RenderError>;
    /// An error page.
    fn error(&self, page: &ErrorView) -> Result<String, RenderError>;
}
