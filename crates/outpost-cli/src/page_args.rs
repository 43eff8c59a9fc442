//! The flags of `outpost serve` that give the login, consent and error pages the product's
//! look — its name, logo and colours — or replace them with templates from a directory
//! (docs/pages.md).

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;
use outpost::auth::server::{
    AuthorizationServer,
    branding::{Branding, BrandingError, Color, ColorRole, Logo},
    pages::TemplateDirectory,
};

/// Page flags of `outpost serve`.
#[derive(Debug, clap::Args)]
pub struct PageArgs {
    /// The product name on the login, consent and error pages (plain text, at most 80
    /// characters; default Outpost).
    #[arg(long, env = "OUTPOST_BRAND_NAME", value_name = "NAME")]
    brand_name: Option<String>,
    /// A logo shown above the pages: a PNG, JPEG, GIF, WebP or SVG file of at most 64 KiB,
    /// inlined in the pages (nothing is loaded from elsewhere).
    #[arg(long, env = "OUTPOST_BRAND_LOGO", value_name = "FILE")]
    brand_logo: Option<PathBuf>,
    /// A colour of the pages, ROLE=#RRGGBB, for both light and dark schemes; ROLE is accent,
    /// background, card or text. Repeat for several.
    #[arg(long = "brand-color", value_name = "ROLE=#RRGGBB", value_parser = parse_color)]
    brand_colors: Vec<(ColorRole, Color)>,
    /// A directory of templates replacing the pages: login.html, consent.html and/or
    /// error.html (MiniJinja; the context and the form contract are in docs/pages.md). Checked
    /// at start; the brand flags fill their `brand`.
    #[arg(long, env = "OUTPOST_PAGE_TEMPLATES", value_name = "DIR")]
    page_templates: Option<PathBuf>,
}

/// `ROLE=#RRGGBB`.
fn parse_color(text: &str) -> Result<(ColorRole, Color), BrandingError> {
    let (role, color) = text
        .split_once('=')
        .ok_or_else(|| BrandingError::ColorRole(text.to_owned()))?;
    Ok((role.trim().parse()?, color.trim().parse()?))
}

impl PageArgs {
    /// `server` drawing its pages as these flags say (a bad logo or template directory stops
    /// the start, naming the file).
    pub fn apply(&self, server: AuthorizationServer) -> anyhow::Result<AuthorizationServer> {
        let mut branding = match &self.brand_name {
            Some(name) => Branding::new(name).context("refusing --brand-name")?,
            None => Branding::default(),
        };
        if let Some(path) = &self.brand_logo {
            let shown = path.display();
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read the logo {shown}"))?;
            let logo =
                Logo::from_bytes(bytes).with_context(|| format!("refusing the logo {shown}"))?;
            branding = branding.with_logo(logo);
        }
        for (role, color) in &self.brand_colors {
            branding = branding.with_color(*role, color.clone());
        }
        Ok(match &self.page_templates {
            Some(dir) => {
                let pages = TemplateDirectory::load(dir, &branding)
                    .context("refusing the --page-templates directory")?;
                tracing::info!(dir = %dir.display(), "pages drawn from templates");
                server.with_page_renderer(Arc::new(pages))
            }
            None => server.with_branding(&branding),
        })
    }
}
