//! The built-in pages: askama templates under `templates/`, checked at compile time and
//! HTML-escaped by default, so that user-provided text (client names, usernames, messages, the
//! product name) cannot inject markup; with the product's [`Branding`].

use askama::Template;

use super::{
    renderer::{PageRenderer, RenderError},
    view::{BrandView, ConsentView, ErrorView, LoginView},
};
use crate::branding::Branding;

/// The built-in login, consent and error pages with a [`Branding`] (Outpost's by default).
#[derive(Debug, Clone)]
pub struct BuiltInPages {
    brand: BrandView,
}

impl Default for BuiltInPages {
    fn default() -> Self {
        Self::new(&Branding::default())
    }
}

impl BuiltInPages {
    /// The built-in pages with `branding`.
    pub fn new(branding: &Branding) -> Self {
        Self {
            brand: BrandView::from(branding),
        }
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    brand: &'a BrandView,
    page: &'a LoginView,
}

#[derive(Template)]
#[template(path = "consent.html")]
struct ConsentPage<'a> {
    brand: &'a BrandView,
    page: &'a ConsentView,
}

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    brand: &'a BrandView,
    page: &'a ErrorView,
}

fn rendered(template: &impl Template) -> Result<String, RenderError> {
    template
        .render()
        .map_err(|error| RenderError(Box::new(error)))
}

impl PageRenderer for BuiltInPages {
    fn login(&self, page: &LoginView) -> Result<String, RenderError> {
        rendered(&LoginPage {
            brand: &self.brand,
            page,
        })
    }

    fn consent(&self, page: &ConsentView) -> Result<String, RenderError> {
        rendered(&ConsentPage {
            brand: &self.brand,
            page,
        })
    }

    fn error(&self, page: &ErrorView) -> Result<String, RenderError> {
        rendered(&ErrorPage {
            brand: &self.brand,
            page,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::branding::{ColorRole, Logo};

    fn login(client_name: &str, username: &str) -> LoginView {
        LoginView {
            client_name: client_name.into(),
            request_id: "r".into(),
            csrf: "c".into(),
            username: username.into(),
            message: Some("Wrong username or password".into()),
            action: "login".into(),
        }
    }

    #[test]
    fn escapes_user_text() {
        let html = BuiltInPages::default()
            .login(&login("<script>alert(1)</script>", "\"><b>"))
            .unwrap();
        assert!(!html.contains("<script>alert"));
        assert!(html.contains("&#60;script&#62;") || html.contains("&lt;script&gt;"));
        assert!(!html.contains("\"><b>"));
        assert!(html.contains("type=\"password\""));
        assert!(html.contains("<title>Sign in · Outpost</title>"), "{html}");
    }

    #[test]
    fn shows_the_brand_escaped() {
        let branding = Branding::new("Acme <img src=x onerror=alert(1)>")
            .unwrap()
            .with_logo(Logo::from_bytes(b"GIF89a..".to_vec()).unwrap())
            .with_color(ColorRole::Accent, "#c0ffee".parse().unwrap());
        let html = BuiltInPages::new(&branding)
            .error(&ErrorView {
                status: 400,
                title: "Invalid request".into(),
                message: "m".into(),
                return_to: None,
            })
            .unwrap();
        assert!(!html.contains("<img src=x"), "{html}");
        assert!(
            html.contains("Acme &#60;img") || html.contains("Acme &lt;img"),
            "{html}"
        );
        assert!(
            html.contains("src=\"data:image/gif;base64,R0lGODlhLi4=\""),
            "{html}"
        );
        assert!(html.contains(":root { --accent: #c0ffee; }"), "{html}");
    }
}
