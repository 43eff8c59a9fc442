//! `GET /`: a page for anyone who opens the server's address in a browser — what this server
//! is, its MCP URL, how to connect a client, which protocol revisions and authentication it
//! offers, and its status (the facts of `/health`).
//!
//! Self-contained (inline CSS, no script, no external asset; a CSP that allows nothing else)
//! and in the look of the authorization server's login page. Rendered without a template
//! engine, so a library built with `default-features = false` compiles none: the page is
//! written once at start-up around its one changing fact, the status, and every value that
//! comes from the handler or the configuration is HTML-escaped. The name and version are the
//! handler's own (`ServerHandler::get_info().server_info`). A library user with a page of
//! their own at `/` turns this one off with [`ServerConfig::landing_page`].
//!
//! [`ServerConfig::landing_page`]: crate::ServerConfig::landing_page

use std::{fmt::Write, sync::Arc};

use axum::response::{IntoResponse, Response};
use http::{HeaderValue, header};
use rmcp::model::{Implementation, ProtocolVersion};

use super::{health::health_status, readiness::Readiness};
use crate::{
    auth::resource::{canonical_resource, resource_metadata_url},
    config::{AuthMode, ServerConfig},
};

/// The page, written once: everything but the status.
#[derive(Debug)]
pub(crate) struct LandingPage {
    before_status: String,
    after_status: String,
}

/// The CSP of the page: inline style only; no script, image, frame, form or connection.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'unsafe-inline'; \
     base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

impl LandingPage {
    /// The page of the server `info` names, served under `config`.
    pub(crate) fn new(info: &Implementation, config: &ServerConfig) -> Self {
        let base = config.base_url();
        let mcp_url = canonical_resource(&base);
        let name = escape(info.title.as_deref().unwrap_or(&info.name));
        // The program name under a title, then the version.
        let version = match &info.title {
            Some(_) => escape(&format!("{} {}", info.name, info.version)),
            None => escape(&info.version),
        };
        let url = escape(&mcp_url);
        let revisions = revisions();
        let auth = auth(&config.auth, &base);
        let before_status = format!(
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <meta name=\"referrer\" content=\"no-referrer\">\n\
             <title>{name} · MCP server</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n\
             <h1>{name} <span class=\"muted\">{version}</span></h1>\n\
             <p>A remote <a href=\"https://modelcontextprotocol.io\">Model Context Protocol</a> \
             server. Connect an MCP client to:</p>\n\
             <p class=\"url\"><code id=\"mcp-url\">{url}</code></p>\n\
             <p class=\"muted\">Status: <strong id=\"status\" class=\"status-"
        );
        let after_status = format!(
            "</strong> · <a href=\"/health\">/health</a> · <a href=\"/ready\">/ready</a></p>\n\
             <h2>Connect</h2>\n\
             <h3>Claude, ChatGPT and other apps</h3>\n\
             <p>Add a custom connector (Settings → Connectors → Add custom connector) with the \
             URL <code>{url}</code>.{sign_in}</p>\n\
             <h3>MCP Inspector</h3>\n\
             <pre><code>npx @modelcontextprotocol/inspector</code></pre>\n\
             <p>Transport <em>Streamable HTTP</em>, URL <code>{url}</code>, then \
             <em>Connect</em>.</p>\n\
             <h3>outpost connect</h3>\n\
             <pre><code>outpost connect {url}</code></pre>\n\
             <h3>Python SDK</h3>\n\
             <pre><code>from mcp import ClientSession\n\
             from mcp.client.streamable_http import streamable_http_client\n\n\
             async with streamable_http_client(\"{url}\") as (read, write):\n    \
             async with ClientSession(read, write) as session:\n        \
             await session.initialize()\n        \
             tools = await session.list_tools()</code></pre>\n\
             <h3>TypeScript SDK</h3>\n\
             <pre><code>import {{ Client }} from \"@modelcontextprotocol/sdk/client/index.js\";\n\
             import {{ StreamableHTTPClientTransport }} from \
             \"@modelcontextprotocol/sdk/client/streamableHttp.js\";\n\n\
             const client = new Client({{ name: \"my-client\", version: \"1.0.0\" }});\n\
             await client.connect(new StreamableHTTPClientTransport(new URL(\"{url}\")));\n\
             const tools = await client.listTools();</code></pre>\n\
             <h2>Protocol</h2>\n<ul id=\"revisions\">{revisions}</ul>\n\
             <h2>Authentication</h2>\n<p id=\"auth\">{auth}</p>\n\
             </main>\n</body>\n</html>\n",
            sign_in = match config.auth {
                AuthMode::Disabled => "",
                AuthMode::Bearer(_) => " The app opens this server's sign-in page in a browser.",
            },
        );
        Self {
            before_status,
            after_status,
        }
    }

    /// The page with the status `/health` would answer now.
    pub(crate) fn render(&self, readiness: &Arc<Readiness>) -> Response {
        let status = health_status(readiness);
        let mut page =
            String::with_capacity(self.before_status.len() + self.after_status.len() + 32);
        page.push_str(&self.before_status);
        let _ = write!(page, "{status}\">{status}");
        page.push_str(&self.after_status);
        let mut response = page.into_response();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        );
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        headers.insert(
            header::CONTENT_SECURITY_POLICY,
            HeaderValue::from_static(CONTENT_SECURITY_POLICY),
        );
        headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        response
    }
}

/// The handler for `GET /`.
pub(crate) fn route(page: Arc<LandingPage>) -> axum::routing::MethodRouter<Arc<Readiness>> {
    axum::routing::get(
        move |axum::extract::State(readiness): axum::extract::State<Arc<Readiness>>| {
            let page = page.clone();
            async move { page.render(&readiness) }
        },
    )
}

/// Every revision served, newest first, as list items.
fn revisions() -> String {
    let mut items = String::new();
    for version in ProtocolVersion::KNOWN_VERSIONS.iter().rev() {
        let version = version.as_str();
        let how = if version >= ProtocolVersion::NO_INITIALIZE.as_str() {
            "stateless, <code>POST /mcp</code>"
        } else if version == "2024-11-05" {
            "HTTP+SSE, <code>/sse</code> and <code>/message</code>"
        } else {
            "Streamable HTTP sessions, <code>/mcp</code>"
        };
        let _ = write!(items, "<li><code>{}</code> — {how}</li>", escape(version));
    }
    items
}

/// What a client needs to know about authentication.
fn auth(mode: &AuthMode, base: &str) -> String {
    match mode {
        AuthMode::Disabled => {
            "None: this server accepts every request (loopback development only).".to_owned()
        }
        AuthMode::Bearer(resource) => format!(
            "OAuth 2.1 bearer tokens (MCP authorization). Protected resource metadata: \
             <code>{metadata}</code>; authorization server <code>{issuer}</code>; scopes \
             <code>{scopes}</code>. Clients register themselves (Dynamic Client Registration \
             or a Client ID Metadata Document) and sign in through the browser.",
            metadata = escape(&resource_metadata_url(base)),
            issuer = escape(&resource.issuer),
            scopes = escape(&resource.scopes_supported.to_string()),
        ),
    }
}

/// `text` with the five HTML-significant characters escaped, for text and quoted attributes.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for character in text.chars() {
        match character {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            other => escaped.push(other),
        }
    }
    escaped
}

/// The login page's look (crates/outpost-authorization-server/templates/base.html), wider.
const STYLE: &str = ":root { color-scheme: light dark; --fg: #1b1f24; --bg: #f4f5f7; \
--card: #fff; --muted: #57606a; --accent: #0b5fff; --border: #d0d7de; --ok: #1a7f37; \
--warn: #9a6700; }\n\
@media (prefers-color-scheme: dark) { :root { --fg: #e6edf3; --bg: #0d1117; --card: #161b22; \
--muted: #9da7b3; --accent: #4c8dff; --border: #30363d; --ok: #3fb950; --warn: #d29922; } }\n\
* { box-sizing: border-box; }\n\
body { margin: 0; min-height: 100vh; display: flex; align-items: flex-start; \
justify-content: center; background: var(--bg); color: var(--fg); font: 16px/1.5 system-ui, \
-apple-system, \"Segoe UI\", Roboto, sans-serif; padding: 2rem 1rem; }\n\
main { width: 100%; max-width: 44rem; background: var(--card); border: 1px solid \
var(--border); border-radius: 12px; padding: 2rem 1.5rem; }\n\
h1 { font-size: 1.5rem; margin: 0 0 .75rem; }\n\
h2 { font-size: 1.15rem; margin: 1.75rem 0 .5rem; }\n\
h3 { font-size: 1rem; margin: 1.1rem 0 .3rem; }\n\
p { margin: 0 0 1rem; }\n\
a { color: var(--accent); }\n\
.muted { color: var(--muted); font-size: .92rem; }\n\
.url code { display: block; padding: .6rem .75rem; border: 1px solid var(--accent); \
border-radius: 8px; font-size: 1rem; }\n\
.status-ok { color: var(--ok); }\n\
.status-degraded { color: var(--warn); }\n\
pre { margin: 0 0 1rem; padding: .75rem; border: 1px solid var(--border); border-radius: 8px; \
overflow-x: auto; }\n\
ul { padding-left: 1.2rem; margin: 0 0 1rem; }\n\
code { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; font-size: .9em; \
overflow-wrap: anywhere; }\n";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped() {
        assert_eq!(
            escape(r#"<b>"Tom" & 'Jerry'</b>"#),
            "&lt;b&gt;&quot;Tom&quot; &amp; &#39;Jerry&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn the_page_names_the_server_and_its_url() {
        let info = Implementation::new("<demo>", "1.2.3");
        let page = LandingPage::new(&info, &ServerConfig::default());
        let html = format!("{}ok\">ok{}", page.before_status, page.after_status);
        assert!(html.contains("<title>&lt;demo&gt; · MCP server</title>"));
        assert!(html.contains("<code id=\"mcp-url\">http://127.0.0.1:8000/mcp</code>"));
        assert!(html.contains("<code>2026-07-28</code>"));
        assert!(html.contains("<code>2024-11-05</code>"));
        assert!(!html.contains("<script") && !html.contains("src="));
    }
}
