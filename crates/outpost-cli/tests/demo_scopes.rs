//! The per-user scope policy through the real binary: `outpost serve --demo` lets alice be
//! granted `mcp:admin` and not bob. Each signs in through the login and consent pages asking
//! for `mcp mcp:admin`; alice's token calls `serverStatus` (which requires `mcp:admin`), bob's
//! carries `mcp` only and gets 403, and bob asking for `mcp:admin` alone gets `invalid_scope`.

mod common;

use common::{TempDir, start};
use reqwest::{StatusCode, blocking::Client, header, redirect::Policy};
use serde_json::{Value, json};
use url::Url;

const REDIRECT: &str = "http://127.0.0.1:9/callback";
/// A PKCE verifier and its S256 challenge (BASE64URL(SHA-256(verifier))).
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9mIbHpbHCgrPsRcPEwDpY0mz9x";
const CHALLENGE: &str = "-l-3nXhiz8UTSLzMnAlSpVio8krQvNMzJqDGWT7zoTw";

fn register(base: &str) -> String {
    let registered: Value = Client::new()
        .post(format!("{base}/register"))
        .json(&json!({
            "redirect_uris": [REDIRECT],
            "application_type": "native",
            "token_endpoint_auth_method": "none",
        }))
        .send()
        .expect("register")
        .json()
        .expect("registration JSON");
    registered["client_id"]
        .as_str()
        .expect("client_id")
        .to_owned()
}

/// The `value` of the hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect(name) + marker.len();
    let end = html[start..].find('"').expect("closing quote");
    html[start..start + end].to_owned()
}

/// The query of a redirect back to the client.
fn callback_query(response: &reqwest::blocking::Response) -> Vec<(String, String)> {
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[header::LOCATION]
        .to_str()
        .expect("location");
    assert!(location.starts_with(REDIRECT), "{location}");
    let url = Url::parse(location).expect("redirect URL");
    url.query_pairs().into_owned().collect()
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// Signs `user` in asking for `scope`, approves the consent page when there is one, and
/// returns the redirect's query (a code, or an error).
fn authorize(
    base: &str,
    client_id: &str,
    user: &str,
    password: &str,
    scope: &str,
) -> Vec<(String, String)> {
    let browser = Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .expect("browser");
    let mut url = Url::parse(&format!("{base}/authorize")).expect("url");
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", client_id)
        .append_pair("redirect_uri", REDIRECT)
        .append_pair("state", "s1")
        .append_pair("scope", scope)
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    let login_page = browser
        .get(url)
        .send()
        .expect("authorize")
        .text()
        .expect("page");
    let (request, csrf) = (hidden(&login_page, "request"), hidden(&login_page, "csrf"));
    let signed_in = browser
        .post(format!("{base}/login"))
        .form(&[
            ("request", request.as_str()),
            ("csrf", &csrf),
            ("username", user),
            ("password", password),
        ])
        .send()
        .expect("login");
    if signed_in.status() != StatusCode::OK {
        return callback_query(&signed_in);
    }
    let consent_page = signed_in.text().expect("consent page");
    let decided = browser
        .post(format!("{base}/consent"))
        .form(&[
            ("request", request.as_str()),
            ("csrf", &csrf),
            ("scope", &hidden(&consent_page, "scope")),
            ("decision", "approve"),
        ])
        .send()
        .expect("consent");
    callback_query(&decided)
}

/// Redeems the code of `query`: the token response.
fn redeem(base: &str, client_id: &str, query: &[(String, String)]) -> Value {
    let code = param(query, "code").expect("a code");
    let response = Client::new()
        .post(format!("{base}/token"))
        .form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", REDIRECT),
            ("client_id", client_id),
            ("code_verifier", VERIFIER),
        ])
        .send()
        .expect("token");
    let status = response.status();
    let body: Value = response.json().expect("token JSON");
    assert_eq!(status, StatusCode::OK, "{body}");
    body
}

/// `serverStatus`, stateless (2026-07-28), as the holder of `token`: the HTTP status.
fn server_status(base: &str, token: &str) -> StatusCode {
    Client::new()
        .post(format!("{base}/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "serverStatus")
        .json(&json!({
            "jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {
                "name": "serverStatus",
                "arguments": {},
                "_meta": {
                    "io.modelcontextprotocol/protocolVersion": "2026-07-28",
                    "io.modelcontextprotocol/clientCapabilities": {},
                    "io.modelcontextprotocol/clientInfo": { "name": "demo-scopes", "version": "1.0.0" }
                }
            }
        }))
        .send()
        .expect("POST /mcp")
        .status()
}

#[test]
fn alice_may_be_granted_mcp_admin_and_bob_may_not() {
    let dir = TempDir::new("demo-scopes");
    let store = dir.store();
    let server = start(&["--demo", "--store", &store]);
    let base = server.base.as_str();
    let client_id = register(base);

    let alice = redeem(
        base,
        &client_id,
        &authorize(base, &client_id, "alice", "password123", "mcp mcp:admin"),
    );
    assert_eq!(alice["scope"], "mcp mcp:admin", "{alice}");
    let token = alice["access_token"].as_str().expect("access token");
    assert_eq!(server_status(base, token), StatusCode::OK);

    let bob = redeem(
        base,
        &client_id,
        &authorize(base, &client_id, "bob", "password456", "mcp mcp:admin"),
    );
    assert_eq!(bob["scope"], "mcp", "{bob}");
    let token = bob["access_token"].as_str().expect("access token");
    assert_eq!(server_status(base, token), StatusCode::FORBIDDEN);

    let refused = authorize(base, &client_id, "bob", "password456", "mcp:admin");
    assert_eq!(
        param(&refused, "error"),
        Some("invalid_scope"),
        "{refused:?}"
    );
    assert_eq!(param(&refused, "state"), Some("s1"));
}
