//! The product's look on the login, consent and error pages: [`Branding`] — its name, a logo
//! and colours.
//!
//! Everything is checked when it is set, so that the pages stay safe whatever the operator
//! gives: the name is plain text (HTML-escaped wherever a page shows it, and limited in
//! length), the logo is an image of a known type, at most [`MAX_LOGO_BYTES`], recognised by
//! its bytes and inlined as a `data:` URL (no external asset: the pages' Content-Security-Policy
//! stays `default-src 'none'` with `img-src data:`), and a colour is a hex colour only, so
//! nothing can end the CSS declaration it goes in.

use std::{collections::BTreeMap, fmt, str::FromStr};

use base64::{Engine as _, engine::general_purpose::STANDARD};

/// The longest product name, in characters.
pub const MAX_PRODUCT_NAME_CHARS: usize = 80;
/// The largest logo, in bytes (it is inlined in every page, base64-encoded).
pub const MAX_LOGO_BYTES: usize = 64 * 1024;
/// The product name of the pages when none is set.
pub const DEFAULT_PRODUCT_NAME: &str = "Outpost";

/// Why a branding setting was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BrandingError {
    /// The product name is empty, too long, or has control characters.
    #[error(
        "the product name must be 1 to {MAX_PRODUCT_NAME_CHARS} characters without control characters"
    )]
    ProductName,
    /// The logo is larger than [`MAX_LOGO_BYTES`].
    #[error("the logo is {0} bytes; at most {MAX_LOGO_BYTES} are allowed")]
    LogoTooLarge(usize),
    /// The logo is not a PNG, JPEG, GIF, WebP or SVG image.
    #[error("the logo is not a PNG, JPEG, GIF, WebP or SVG image")]
    LogoFormat,
    /// A colour is not `#RGB`, `#RRGGBB` or `#RRGGBBAA`.
    #[error("{0:?} is not a hex colour (#RGB, #RRGGBB or #RRGGBBAA)")]
    Color(String),
    /// A colour role is not one of `accent`, `background`, `card`, `text`.
    #[error("{0:?} is not a colour role (accent, background, card, text)")]
    ColorRole(String),
}

/// The look of the pages. The default is Outpost's: its name, no logo, its colours (light and
/// dark).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Branding {
    product_name: String,
    logo: Option<Logo>,
    colors: BTreeMap<ColorRole, Color>,
}

impl Default for Branding {
    fn default() -> Self {
        Self {
            product_name: DEFAULT_PRODUCT_NAME.to_owned(),
            logo: None,
            colors: BTreeMap::new(),
        }
    }
}

impl Branding {
    /// Pages named `product_name` (shown in the title and above every page), with Outpost's
    /// colours and no logo until set.
    pub fn new(product_name: &str) -> Result<Self, BrandingError> {
        let product_name = product_name.trim();
        let chars = product_name.chars().count();
        if chars == 0
            || chars > MAX_PRODUCT_NAME_CHARS
            || product_name.chars().any(char::is_control)
        {
            return Err(BrandingError::ProductName);
        }
        Ok(Self {
            product_name: product_name.to_owned(),
            ..Self::default()
        })
    }

    /// The same branding with `logo` above every page.
    pub fn with_logo(mut self, logo: Logo) -> Self {
        self.logo = Some(logo);
        self
    }

    /// The same branding with `color` for `role`, in both the light and the dark scheme (set
    /// `background`, `card` and `text` together so that they stay readable).
    pub fn with_color(mut self, role: ColorRole, color: Color) -> Self {
        self.colors.insert(role, color);
        self
    }

    /// The product name.
    pub fn product_name(&self) -> &str {
        &self.product_name
    }

    /// The logo, if any.
    pub fn logo(&self) -> Option<&Logo> {
        self.logo.as_ref()
    }

    /// The colours set, by role.
    pub fn colors(&self) -> impl Iterator<Item = (ColorRole, &Color)> {
        self.colors.iter().map(|(role, color)| (*role, color))
    }

    /// The colours as CSS custom-property declarations (`--accent: #0b5fff; …`), for a
    /// `:root { … }` rule after the pages' own.
    pub fn css_variables(&self) -> String {
        self.colors
            .iter()
            .map(|(role, color)| format!("{}: {color};", role.css_variable()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// What a colour of the pages colours.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ColorRole {
    /// Buttons, focus rings (`--accent`).
    Accent,
    /// The page behind the card (`--bg`).
    Background,
    /// The card the form is on (`--card`).
    Card,
    /// The text (`--fg`).
    Text,
}

impl ColorRole {
    /// The CSS custom property the pages read it from.
    pub fn css_variable(self) -> &'static str {
        match self {
            Self::Accent => "--accent",
            Self::Background => "--bg",
            Self::Card => "--card",
            Self::Text => "--fg",
        }
    }
}

impl FromStr for ColorRole {
    type Err = BrandingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "accent" => Ok(Self::Accent),
            "background" => Ok(Self::Background),
            "card" => Ok(Self::Card),
            "text" => Ok(Self::Text),
            other => Err(BrandingError::ColorRole(other.to_owned())),
        }
    }
}

/// A hex colour: `#RGB`, `#RRGGBB` or `#RRGGBBAA` (kept lowercase).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Color(String);

impl FromStr for Color {
    type Err = BrandingError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = s.strip_prefix('#').unwrap_or("");
        if matches!(digits.len(), 3 | 6 | 8) && digits.bytes().all(|b| b.is_ascii_hexdigit()) {
            Ok(Self(s.to_ascii_lowercase()))
        } else {
            Err(BrandingError::Color(s.to_owned()))
        }
    }
}

impl fmt::Display for Color {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The image formats a logo may have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogoFormat {
    /// `image/png`.
    Png,
    /// `image/jpeg`.
    Jpeg,
    /// `image/gif`.
    Gif,
    /// `image/webp`.
    Webp,
    /// `image/svg+xml` (shown through `<img>`, where an SVG's scripts do not run).
    Svg,
}

impl LogoFormat {
    /// Its media type.
    pub fn media_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
            Self::Svg => "image/svg+xml",
        }
    }

    /// The format `bytes` are in, recognised by their first bytes (an SVG by its `<svg`
    /// element, after an optional XML declaration and comments).
    fn sniff(bytes: &[u8]) -> Option<Self> {
        if bytes.starts_with(b"\x89PNG\r\n\x1a\n") {
            Some(Self::Png)
        } else if bytes.starts_with(b"\xff\xd8\xff") {
            Some(Self::Jpeg)
        } else if bytes.starts_with(b"GIF87a") || bytes.starts_with(b"GIF89a") {
            Some(Self::Gif)
        } else if bytes.len() >= 12 && bytes.starts_with(b"RIFF") && &bytes[8..12] == b"WEBP" {
            Some(Self::Webp)
        } else {
            let text = std::str::from_utf8(bytes).ok()?;
            let text = text.trim_start_matches('\u{feff}').trim_start();
            let starts_as_svg = text.starts_with("<svg")
                || ((text.starts_with("<?xml") || text.starts_with("<!--"))
                    && text.contains("<svg"));
            starts_as_svg.then_some(Self::Svg)
        }
    }
}

/// A logo: an image of a [`LogoFormat`], at most [`MAX_LOGO_BYTES`].
#[derive(Clone, PartialEq, Eq)]
pub struct Logo {
    format: LogoFormat,
    bytes: Vec<u8>,
}

impl fmt::Debug for Logo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Logo")
            .field("format", &self.format)
            .field("bytes", &self.bytes.len())
            .finish()
    }
}

impl Logo {
    /// The logo in `bytes` (a file's content), its format recognised from them.
    pub fn from_bytes(bytes: Vec<u8>) -> Result<Self, BrandingError> {
        if bytes.len() > MAX_LOGO_BYTES {
            return Err(BrandingError::LogoTooLarge(bytes.len()));
        }
        let format = LogoFormat::sniff(&bytes).ok_or(BrandingError::LogoFormat)?;
        Ok(Self { format, bytes })
    }

    /// Its format.
    pub fn format(&self) -> LogoFormat {
        self.format
    }

    /// The logo as a `data:` URL, for an `<img src>`.
    pub fn data_url(&self) -> String {
        format!(
            "data:{};base64,{}",
            self.format.media_type(),
            STANDARD.encode(&self.bytes)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_names_are_plain_bounded_text() {
        assert_eq!(Branding::new("  Acme  ").unwrap().product_name(), "Acme");
        assert_eq!(Branding::new(""), Err(BrandingError::ProductName));
        assert_eq!(Branding::new("a\nb"), Err(BrandingError::ProductName));
        assert_eq!(
            Branding::new(&"x".repeat(MAX_PRODUCT_NAME_CHARS + 1)),
            Err(BrandingError::ProductName)
        );
    }

    #[test]
    fn colours_are_hex_only() {
        assert_eq!("#0B5FFF".parse::<Color>().unwrap().to_string(), "#0b5fff");
        for ok in ["#abc", "#aabbcc", "#aabbcc80"] {
            assert!(ok.parse::<Color>().is_ok(), "{ok}");
        }
        for bad in ["red", "#abcd", "0b5fff", "#0b5fff;}body{x:y", "#gggggg", ""] {
            assert!(bad.parse::<Color>().is_err(), "{bad}");
        }
        let branding = Branding::default()
            .with_color(ColorRole::Text, "#111".parse().unwrap())
            .with_color(ColorRole::Accent, "#c0ffee".parse().unwrap());
        assert_eq!(branding.css_variables(), "--accent: #c0ffee; --fg: #111;");
        assert!("primary".parse::<ColorRole>().is_err());
    }

    #[test]
    fn logos_are_known_images_of_bounded_size() {
        let png = b"\x89PNG\r\n\x1a\n rest".to_vec();
        let logo = Logo::from_bytes(png).unwrap();
        assert_eq!(logo.format(), LogoFormat::Png);
        assert!(
            logo.data_url()
                .starts_with("data:image/png;base64,iVBORw0KGgo")
        );
        let svg = b"<?xml version=\"1.0\"?>\n<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec();
        assert_eq!(Logo::from_bytes(svg).unwrap().format(), LogoFormat::Svg);
        assert_eq!(
            Logo::from_bytes(b"<html><script>".to_vec()),
            Err(BrandingError::LogoFormat)
        );
        let mut big = b"GIF89a".to_vec();
        big.resize(MAX_LOGO_BYTES + 1, 0);
        assert_eq!(
            Logo::from_bytes(big),
            Err(BrandingError::LogoTooLarge(MAX_LOGO_BYTES + 1))
        );
    }
}
