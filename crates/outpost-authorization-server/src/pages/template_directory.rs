//! [`TemplateDirectory`]: the pages replaced by the operator's own templates, read once from a
//! directory (`outpost serve --page-templates DIR`).
//!
//! The directory holds `login.html`, `consent.html` and/or `error.html` (a page without a file
//! stays the built-in one, branded), and any other `*.html` they `{% extends %}` or
//! `{% include %}`. They are MiniJinja (Jinja2) templates; every value is HTML-escaped
//! (whatever the file name), and a name the context does not have is an error. Each page is
//! rendered once with sample values when the directory is loaded, so a syntax error, an unknown
//! name, or a form that does not post the `request` and `csrf` values stops the start, naming
//! the file. The context is documented in docs/pages.md: the view's fields by name
//! ([`LoginView`], [`ConsentView`], [`ErrorView`]) and `brand` ([`BrandView`]).

use std::{
    io,
    path::{Path, PathBuf},
};

use minijinja::{AutoEscape, Environment, UndefinedBehavior, Value, context};

use super::{
    built_in::BuiltInPages,
    renderer::{PageRenderer, RenderError},
    view::{BrandView, ConsentView, ErrorView, LoginView},
};
use crate::branding::Branding;

/// The template of the login page.
const LOGIN: &str = "login.html";
/// The template of the consent page.
const CONSENT: &str = "consent.html";
/// The template of the error pages.
const ERROR: &str = "error.html";

/// Why a template directory was refused.
#[derive(Debug, thiserror::Error)]
pub enum TemplateDirectoryError {
    /// The directory or a file in it could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The directory or file.
        path: PathBuf,
        /// Why.
        #[source]
        source: io::Error,
    },
    /// The directory has none of the three pages.
    #[error("{0} has none of {LOGIN}, {CONSENT}, {ERROR}")]
    NoPage(PathBuf),
    /// A template does not parse, or does not render with the documented context.
    #[error("{path}: {source:#}")]
    Template {
        /// The template file.
        path: PathBuf,
        /// What MiniJinja said.
        #[source]
        source: minijinja::Error,
    },
    /// A form page does not post a value the server needs.
    #[error("{path} does not keep the form contract: the rendered page lacks the {missing} value")]
    FormContract {
        /// The template file.
        path: PathBuf,
        /// The field whose value is missing (`request` or `csrf`).
        missing: &'static str,
    },
}

/// The pages drawn with the templates of a directory; those it does not replace stay the
/// [`BuiltInPages`] with the same branding.
#[derive(Debug)]
pub struct TemplateDirectory {
    environment: Environment<'static>,
    brand: BrandView,
    built_in: BuiltInPages,
}

impl TemplateDirectory {
    /// Reads the templates of `dir` and checks each page with sample values; `branding` is
    /// the `brand` of their context and the look of the pages not replaced.
    pub fn load(dir: &Path, branding: &Branding) -> Result<Self, TemplateDirectoryError> {
        let read = |path: &Path| {
            let path = path.to_owned();
            move |source| TemplateDirectoryError::Read { path, source }
        };
        let mut environment = Environment::new();
        environment.set_auto_escape_callback(|_| AutoEscape::Html);
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(read(dir))?
            .map(|entry| entry.map(|entry| entry.path()))
            .collect::<Result<_, _>>()
            .map_err(read(dir))?;
        files.sort();
        for path in files {
            let Some(name) = path.file_name().and_then(|name| name.to_str()) else {
                continue;
            };
            if !name.ends_with(".html") || !path.is_file() {
                continue;
            }
            let source = std::fs::read_to_string(&path).map_err(read(&path))?;
            environment
                .add_template_owned(name.to_owned(), source)
                .map_err(|source| TemplateDirectoryError::Template {
                    path: path.clone(),
                    source,
                })?;
        }
        let pages = Self {
            environment,
            brand: BrandView::from(branding),
            built_in: BuiltInPages::new(branding),
        };
        if ![LOGIN, CONSENT, ERROR]
            .iter()
            .any(|name| pages.replaces(name))
        {
            return Err(TemplateDirectoryError::NoPage(dir.to_owned()));
        }
        pages.check(dir)?;
        Ok(pages)
    }

    /// Whether the directory has the page `name`.
    fn replaces(&self, name: &str) -> bool {
        self.environment.get_template(name).is_ok()
    }

    /// Renders every replaced page with sample values: the form pages must show the
    /// `request` and `csrf` values.
    fn check(&self, dir: &Path) -> Result<(), TemplateDirectoryError> {
        const REQUEST: &str = "sample-request-id-5b1e";
        const CSRF: &str = "sample-csrf-token-9c4f";
        let forms = [
            (
                LOGIN,
                self.login_context(&LoginView {
                    client_name: "Sample client".into(),
                    request_id: REQUEST.into(),
                    csrf: CSRF.into(),
                    username: "sample".into(),
                    message: Some("Wrong username or password".into()),
                    action: "login".into(),
                }),
            ),
            (
                CONSENT,
                self.consent_context(&ConsentView {
                    client_name: "Sample client".into(),
                    client_host: Some("client.example".into()),
                    redirect_host: "client.example".into(),
                    scopes: vec!["mcp".into()],
                    scope: "mcp".into(),
                    request_id: REQUEST.into(),
                    csrf: CSRF.into(),
                    action: "consent".into(),
                }),
            ),
        ];
        for (name, context) in forms {
            if !self.replaces(name) {
                continue;
            }
            let html =
                self.render(name, context)
                    .map_err(|error| TemplateDirectoryError::Template {
                        path: dir.join(name),
                        source: error,
                    })?;
            for (missing, value) in [("request", REQUEST), ("csrf", CSRF)] {
                if !html.contains(value) {
                    return Err(TemplateDirectoryError::FormContract {
                        path: dir.join(name),
                        missing,
                    });
                }
            }
        }
        if self.replaces(ERROR) {
            let sample = ErrorView {
                status: 400,
                title: "Invalid request".into(),
                message: "Sample message.".into(),
                return_to: Some("https://app.example/callback?error=invalid_request".into()),
            };
            self.render(ERROR, self.error_context(&sample))
                .map_err(|source| TemplateDirectoryError::Template {
                    path: dir.join(ERROR),
                    source,
                })?;
        }
        Ok(())
    }

    fn render(&self, name: &str, context: Value) -> Result<String, minijinja::Error> {
        self.environment.get_template(name)?.render(context)
    }

    fn brand_value(&self) -> Value {
        context! {
            product_name => Value::from(self.brand.product_name.as_str()),
            logo => Value::from(self.brand.logo.clone()),
            css_variables => Value::from(self.brand.css_variables.as_str()),
        }
    }

    fn login_context(&self, page: &LoginView) -> Value {
        context! {
            brand => self.brand_value(),
            client_name => Value::from(page.client_name.as_str()),
            request_id => Value::from(page.request_id.as_str()),
            csrf => Value::from(page.csrf.as_str()),
            username => Value::from(page.username.as_str()),
            message => Value::from(page.message.clone()),
            action => Value::from(page.action.as_str()),
        }
    }

    fn consent_context(&self, page: &ConsentView) -> Value {
        context! {
            brand => self.brand_value(),
            client_name => Value::from(page.client_name.as_str()),
            client_host => Value::from(page.client_host.clone()),
            redirect_host => Value::from(page.redirect_host.as_str()),
            scopes => Value::from_iter(page.scopes.iter().map(String::as_str)),
            scope => Value::from(page.scope.as_str()),
            request_id => Value::from(page.request_id.as_str()),
            csrf => Value::from(page.csrf.as_str()),
            action => Value::from(page.action.as_str()),
        }
    }

    fn error_context(&self, page: &ErrorView) -> Value {
        context! {
            brand => self.brand_value(),
            status => Value::from(page.status),
            title => Value::from(page.title.as_str()),
            message => Value::from(page.message.as_str()),
            return_to => page.return_to.as_deref().map(Value::from),
        }
    }

    /// `name` rendered with `context` when the directory replaces it, else `built_in`.
    fn page(
        &self,
        name: &str,
        context: impl FnOnce() -> Value,
        built_in: impl FnOnce() -> Result<String, RenderError>,
    ) -> Result<String, RenderError> {
        if self.replaces(name) {
            self.render(name, context())
                .map_err(|error| RenderError(Box::new(error)))
        } else {
            built_in()
        }
    }
}

impl PageRenderer for TemplateDirectory {
    fn login(&self, page: &LoginView) -> Result<String, RenderError> {
        self.page(
            LOGIN,
            || self.login_context(page),
            || self.built_in.login(page),
        )
    }

    fn consent(&self, page: &ConsentView) -> Result<String, RenderError> {
        self.page(
            CONSENT,
            || self.consent_context(page),
            || self.built_in.consent(page),
        )
    }

    fn error(&self, page: &ErrorView) -> Result<String, RenderError> {
        self.page(
            ERROR,
            || self.error_context(page),
            || self.built_in.error(page),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn dir_with(files: &[(&str, &str)]) -> Dir {
        let dir = std::env::temp_dir().join(format!("outpost-pages-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&dir).unwrap();
        for (name, content) in files {
            std::fs::write(dir.join(name), content).unwrap();
        }
        Dir(dir)
    }

    const LOGIN_PAGE: &str = "<h1>{{ brand.product_name }}: {{ client_name }}</h1>\
        <form method=post action=\"{{ action }}\"><input name=request value=\"{{ request_id }}\">\
        <input name=csrf value=\"{{ csrf }}\"></form>";

    #[test]
    fn replaced_pages_escape_and_others_stay_built_in() {
        let dir = dir_with(&[(LOGIN, LOGIN_PAGE), ("notes.txt", "ignored")]);
        let branding = Branding::new("Acme & <Co>").unwrap();
        let pages = TemplateDirectory::load(&dir.0, &branding).unwrap();
        let html = pages
            .login(&LoginView {
                client_name: "<script>x</script>".into(),
                request_id: "r".into(),
                csrf: "c".into(),
                username: String::new(),
                message: None,
                action: "login".into(),
            })
            .unwrap();
        assert!(
            html.starts_with("<h1>Acme &amp; &lt;Co&gt;: &lt;script&gt;"),
            "{html}"
        );
        let error = pages
            .error(&ErrorView {
                status: 400,
                title: "Invalid request".into(),
                message: "m".into(),
                return_to: None,
            })
            .unwrap();
        assert!(
            error.contains("<title>Invalid request · Acme &#38; &#60;Co&#62;</title>")
                || error.contains("<title>Invalid request · Acme &amp; &lt;Co&gt;</title>"),
            "{error}"
        );
    }

    #[test]
    fn broken_directories_are_refused_naming_the_file() {
        let branding = Branding::default();
        let empty = dir_with(&[("base.html", "x")]);
        assert!(matches!(
            TemplateDirectory::load(&empty.0, &branding),
            Err(TemplateDirectoryError::NoPage(_))
        ));
        let syntax = dir_with(&[(LOGIN, "{% if %}")]);
        let error = TemplateDirectory::load(&syntax.0, &branding).unwrap_err();
        assert!(error.to_string().contains("login.html"), "{error}");
        let unknown = dir_with(&[(ERROR, "{{ titel }}")]);
        let error = TemplateDirectory::load(&unknown.0, &branding).unwrap_err();
        assert!(
            matches!(error, TemplateDirectoryError::Template { .. }),
            "{error}"
        );
        let no_csrf = dir_with(&[(CONSENT, "<form>{{ request_id }}</form>")]);
        let error = TemplateDirectory::load(&no_csrf.0, &branding).unwrap_err();
        assert!(
            matches!(
                error,
                TemplateDirectoryError::FormContract {
                    missing: "csrf",
                    ..
                }
            ),
            "{error}"
        );
    }
}
