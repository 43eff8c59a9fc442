//! The `greeting_card` MCP App (extension `io.modelcontextprotocol/ui`).
//!
//! The tool declares `_meta.ui.resourceUri`; hosts read that `ui://` resource (mimeType
//! `text/html;profile=mcp-app`) and render it in a sandboxed iframe whose CSP allows no network,
//! so the page is self-contained: inline CSS and script, the host's theme variables with
//! fallbacks, and its data from the host over `postMessage` (`ui/initialize`, then
//! `ui/notifications/tool-result`). For hosts that show tool output directly, the tool also
//! returns the card pre-rendered ([`render_card`]) as an embedded resource. The resource says
//! `_meta.ui.prefersBorder: false` (the card draws its own) and asks for no network (no `csp`:
//! the restrictive default).

use rmcp::model::{JsonObject, MetaObject, Resource, ResourceContents};
use serde_json::json;

/// The app template's URI.
pub const GREETING_CARD_URI: &str = "ui://outpost/greeting-card";

/// The MIME type hosts recognise as an MCP App.
pub const APP_MIME_TYPE: &str = "text/html;profile=mcp-app";

/// The extension's identifier, under which the server advertises it in its capabilities.
pub const APP_EXTENSION: &str = "io.modelcontextprotocol/ui";

/// The extension's settings in the server's capabilities: the app MIME type it serves.
pub fn extension_settings() -> JsonObject {
    json_object(json!({ "mimeTypes": [APP_MIME_TYPE] }))
}

/// A `_meta` holding the extension's `ui` object (`_meta.ui`), as tools and resources carry it.
pub(crate) fn ui_meta(ui: serde_json::Value) -> MetaObject {
    MetaObject(json_object(json!({ "ui": ui })))
}

/// The template's `_meta`: how a host should frame it.
fn template_meta() -> MetaObject {
    ui_meta(json!({ "prefersBorder": false }))
}

fn json_object(value: serde_json::Value) -> JsonObject {
    match value {
        serde_json::Value::Object(object) => object,
        _ => JsonObject::new(),
    }
}

const TEMPLATE: &str = include_str!("greeting_card.html");

/// The listing entry of the app template.
pub fn resource() -> Resource {
    Resource::new(GREETING_CARD_URI, "greeting-card")
        .with_title("Greeting card")
        .with_description("The UI of the greeting_card tool: an MCP App")
        .with_mime_type(APP_MIME_TYPE)
        .with_meta(template_meta())
}

/// The template as `resources/read` serves it: placeholders filled by the host's data.
pub fn contents() -> ResourceContents {
    ResourceContents::text(
        fill(TEMPLATE, "", "Waiting for the host…"),
        GREETING_CARD_URI,
    )
    .with_mime_type(APP_MIME_TYPE)
    .with_meta(template_meta())
}

/// The card with `name` and `message` already in it (HTML-escaped), for hosts that render a
/// tool's embedded HTML directly.
pub fn render_card(name: &str, message: &str) -> ResourceContents {
    ResourceContents::text(fill(TEMPLATE, name, message), GREETING_CARD_URI)
        .with_mime_type(APP_MIME_TYPE)
}

fn fill(template: &str, name: &str, message: &str) -> String {
    template
        .replace("{{name}}", &escape_html(name))
        .replace("{{message}}", &escape_html(message))
}

/// Escapes text for an HTML text node or quoted attribute.
fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(contents: ResourceContents) -> String {
        match contents {
            ResourceContents::TextResourceContents { text, .. } => text,
            _ => panic!("expected text"),
        }
    }

    #[test]
    fn rendered_card_escapes_user_text() {
        let html = text(render_card(
            "<b>alice</b>",
            "hi & <script>alert(1)</script>",
        ));
        assert!(html.contains("&lt;b&gt;alice&lt;/b&gt;"));
        assert!(!html.contains("<script>alert(1)"));
    }

    #[test]
    fn template_is_self_contained() {
        let html = text(contents());
        assert!(
            !html.contains("src=\"http"),
            "no external scripts or images"
        );
        assert!(!html.contains("<link"), "no external stylesheets");
        assert!(html.contains("--color-background-primary"));
        assert!(html.contains("ui/initialize"));
    }
}
