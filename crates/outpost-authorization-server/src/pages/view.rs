//! What each page shows: the values a [`PageRenderer`](super::PageRenderer) renders, and the
//! form contract a replaced page keeps (docs/pages.md).

use crate::branding::Branding;

/// The login page: a form that posts `request`, `csrf`, `username` and `password` to
/// [`action`](Self::action).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct LoginView {
    /// The name of the application that asks (self-asserted by a registered client: text,
    /// never markup).
    pub client_name: String,
    /// The pending request's id: the form's hidden `request` field.
    pub request_id: String,
    /// The CSRF token: the form's hidden `csrf` field (the server checks it against its
    /// cookie).
    pub csrf: String,
    /// The username to prefill (after a failed attempt), else empty.
    pub username: String,
    /// Why the last attempt failed, if it did.
    pub message: Option<String>,
    /// Where the form posts (`method="post"`), relative to the page.
    pub action: String,
}

/// The consent page: a form that posts `request`, `csrf`, `scope` and `decision`
/// (`approve` or `deny`) to [`action`](Self::action).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ConsentView {
    /// The name of the application that asks.
    pub client_name: String,
    /// The host of a metadata-document client's `client_id` URL: who really publishes the
    /// application (its name is self-asserted).
    pub client_host: Option<String>,
    /// The host the user will be sent back to.
    pub redirect_host: String,
    /// The scopes that will be granted, one by one.
    pub scopes: Vec<String>,
    /// The same, space-separated: the form's hidden `scope` field (approval never grants more
    /// than the page listed).
    pub scope: String,
    /// The pending request's id: the form's hidden `request` field.
    pub request_id: String,
    /// The CSRF token: the form's hidden `csrf` field.
    pub csrf: String,
    /// Where the form posts (`method="post"`), relative to the page.
    pub action: String,
}

/// An error shown to the user rather than sent to the client.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ErrorView {
    /// The HTTP status the page is sent with.
    pub status: u16,
    /// The heading.
    pub title: String,
    /// What went wrong, and what to do.
    pub message: String,
    /// A link that takes the error back to the application (its redirect URI with `error`,
    /// `state` and `iss`), for an error the server does not send there on its own: it
    /// redirects a browser unasked only to redirect URIs it trusts (RFC 9700 §4.11.2).
    pub return_to: Option<String>,
}

/// The branding as the pages use it: plain strings, checked when the [`Branding`] was made.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct BrandView {
    /// The product name.
    pub product_name: String,
    /// The logo as a `data:` URL, for `<img src>`.
    pub logo: Option<String>,
    /// The colours as CSS custom-property declarations (`--accent: #0b5fff; …`), empty when
    /// none is set: for a `:root { … }` rule after the page's own.
    pub css_variables: String,
}

impl From<&Branding> for BrandView {
    fn from(branding: &Branding) -> Self {
        Self {
            product_name: branding.product_name().to_owned(),
            logo: branding.logo().map(|logo| logo.data_url()),
            css_variables: branding.css_variables(),
        }
    }
}
