//! The request log of `outpost serve --log-format json`, as a process: every response carries
//! `x-request-id` (the client's when usable, else a new one), every request logs one JSON
//! line naming it, and no line of a full OAuth flow — registration, a wrong then a right
//! password, consent, code exchange, a tool call, refresh, revocation — holds a password,
//! code, token, client secret, PKCE verifier or cookie.

mod common;

use std::{
    collections::HashSet,
    fs::File,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{OUTPOST, Server, TempDir, free_port, jsonrpc_answer, wait_healthy};
use reqwest::blocking::{Client, RequestBuilder, Response};
use serde_json::{Value, json};

const CALLBACK: &str = "http://127.0.0.1:9/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9mIbHpbHCgrPsRcPEwDpY0mz9x";
const CHALLENGE: &str = "-l-3nXhiz8UTSLzMnAlSpVio8krQvNMzJqDGWT7zoTw";
const WRONG_PASSWORD: &str = "not-alices-password-42";

/// `outpost serve --demo --log-format json`, its stderr in `log`.
fn start_logging(dir: &TempDir, log: &Path) -> Server {
    start_filtered(dir, log, None)
}

/// The same, its lines filtered by `OUTPOST_LOG=filter` when one is given.
fn start_filtered(dir: &TempDir, log: &Path, filter: Option<&str>) -> Server {
    let bind = format!("127.0.0.1:{}", free_port());
    let mut command = Command::new(OUTPOST);
    command.env_remove("OUTPOST_LOG");
    if let Some(filter) = filter {
        command.env("OUTPOST_LOG", filter);
    }
    let child = command
        .args(["--log-format", "json", "serve", "--demo", "--bind", &bind])
        .args(["--store", &dir.store()])
        .stdout(Stdio::null())
        .stderr(File::create(log).expect("the log file"))
        .spawn()
        .expect("start outpost");
    let mut server = Server {
        child,
        base: format!("http://{bind}"),
    };
    wait_healthy(&format!("{}/health", server.base), &mut server.child);
    server
}

/// Records each response's `x-request-id`, and every secret the flow handles.
#[derive(Default)]
struct Flow {
    ids: Vec<String>,
    secrets: Vec<String>,
}

impl Flow {
    fn send(&mut self, request: RequestBuilder) -> Response {
        let response = request.send().expect("a response");
        let id = response
            .headers()
            .get("x-request-id")
            .unwrap_or_else(|| panic!("no x-request-id on {}", response.url()))
            .to_str()
            .unwrap()
            .to_owned();
        self.ids.push(id);
        response
    }

    fn secret(&mut self, value: &str) -> String {
        assert!(!value.is_empty());
        self.secrets.push(value.to_owned());
        value.to_owned()
    }
}

fn form(pairs: &[(&str, &str)]) -> String {
    let mut serializer = url::form_urlencoded::Serializer::new(String::new());
    for (name, value) in pairs {
        serializer.append_pair(name, value);
    }
    serializer.finish()
}

/// The `value` of the hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect(name) + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_owned()
}

fn echo_call(base: &str, token: &str) -> RequestBuilder {
    let meta = json!({
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": { "name": "request-log-test", "version": "1.0.0" }
    });
    let body = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call",
        "params": { "name": "echo", "arguments": { "message": "hi" }, "_meta": meta } });
    Client::new()
        .post(format!("{base}/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2026-07-28")
        .header("mcp-method", "tools/call")
        .header("mcp-name", "echo")
        .json(&body)
}

/// The JSON lines of `log` with target `outpost::request`, once every id in `ids` has one
/// (the writer is asynchronous).
fn request_lines(log: &Path, ids: &[String]) -> (String, Vec<Value>) {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<Value> = text
            .lines()
            .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
            .filter(|line: &Value| line["target"] == "outpost::request")
            .collect();
        let logged: HashSet<&str> = lines
            .iter()
            .filter_map(|line| line["fields"]["request_id"].as_str())
            .collect();
        if ids.iter().all(|id| logged.contains(id.as_str())) {
            return (text, lines);
        }
        assert!(
            Instant::now() < deadline,
            "not every request logged within 10 s:\n{text}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn every_request_has_an_id_and_one_line_without_secrets() {
    let dir = TempDir::new("request-log");
    let log = dir.0.join("stderr.log");
    let server = start_logging(&dir, &log);
    let base = server.base.clone();
    let browser = Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut flow = Flow::default();

    // Dynamic Client Registration of a confidential client.
    let registration: Value = flow
        .send(browser.post(format!("{base}/register")).json(&json!({
            "client_name": "Request log test",
            "redirect_uris": [CALLBACK],
            "token_endpoint_auth_method": "client_secret_basic",
        })))
        .json()
        .unwrap();
    let client_id = registration["client_id"].as_str().unwrap().to_owned();
    let client_secret = flow.secret(registration["client_secret"].as_str().unwrap());

    // /authorize → a wrong password → the right one → consent → code.
    let mut url = url::Url::parse(&format!("{base}/authorize")).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &client_id)
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("state", "state-1")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    let response = flow.send(browser.get(url));
    assert_eq!(response.status(), 200);
    let cookies: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().unwrap().split(';').next())
        .map(str::to_owned)
        .collect();
    for cookie in &cookies {
        flow.secret(cookie.split_once('=').unwrap().1);
    }
    let cookie = cookies.join("; ");
    let html = response.text().unwrap();
    let request = flow.secret(&hidden(&html, "request"));
    let csrf = flow.secret(&hidden(&html, "csrf"));
    let page = |path: &str, pairs: &[(&str, &str)]| {
        browser
            .post(format!("{base}/{path}"))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
    };
    let login = |password: &str| {
        page(
            "login",
            &[
                ("request", &request),
                ("csrf", &csrf),
                ("username", "alice"),
                ("password", password),
            ],
        )
    };
    flow.secret(WRONG_PASSWORD);
    flow.secret("password123");
    assert_eq!(flow.send(login(WRONG_PASSWORD)).status(), 401);
    assert_eq!(flow.send(login("password123")).status(), 200);
    let consent = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("decision", "approve"),
    ];
    let response = flow.send(page("consent", &consent));
    assert_eq!(response.status(), 302);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .expect("a code");
    let code = flow.secret(&code);

    // The code exchange, a tool call, a refresh and a revocation.
    flow.secret(VERIFIER);
    let token_request = |pairs: &[(&str, &str)]| {
        browser
            .post(format!("{base}/token"))
            .basic_auth(&client_id, Some(&client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
    };
    let tokens: Value = flow
        .send(token_request(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", CALLBACK),
            ("code_verifier", VERIFIER),
        ]))
        .json()
        .unwrap();
    let access = flow.secret(tokens["access_token"].as_str().expect("an access token"));
    let refresh = flow.secret(tokens["refresh_token"].as_str().unwrap());
    let response = flow.send(echo_call(&base, &access).header("x-request-id", "client-chosen-7"));
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["x-request-id"], "client-chosen-7");
    let answer = jsonrpc_answer(&response.text().unwrap());
    assert_eq!(
        answer["result"]["content"][0]["text"], "Echo: hi",
        "{answer}"
    );
    let refreshed: Value = flow
        .send(token_request(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", &refresh),
        ]))
        .json()
        .unwrap();
    flow.secret(refreshed["access_token"].as_str().unwrap());
    let new_refresh = flow.secret(refreshed["refresh_token"].as_str().unwrap());
    let response = flow.send(
        browser
            .post(format!("{base}/revoke"))
            .basic_auth(&client_id, Some(&client_secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[("token", &new_refresh)])),
    );
    assert_eq!(response.status(), 200);

    // Without a token, at an unknown path, with an id that has a space: a new id each.
    let response = flow.send(Client::new().post(format!("{base}/mcp")).body("{}"));
    assert_eq!(response.status(), 401);
    let response = flow.send(Client::new().get(format!("{base}/no-such-page")));
    assert_eq!(response.status(), 404);
    let response = flow.send(
        Client::new()
            .get(format!("{base}/health"))
            .header("x-request-id", "has a space"),
    );
    assert_ne!(response.headers()["x-request-id"], "has a space");

    let unique: HashSet<&String> = flow.ids.iter().collect();
    assert_eq!(unique.len(), flow.ids.len(), "ids repeat: {:?}", flow.ids);

    let (text, lines) = request_lines(&log, &flow.ids);
    for secret in &flow.secrets {
        assert!(
            !text.contains(secret.as_str()),
            "a secret ({}…) is in the log:\n{text}",
            &secret[..4]
        );
    }
    for id in &flow.ids {
        let count = lines
            .iter()
            .filter(|line| line["fields"]["request_id"] == id.as_str())
            .count();
        assert_eq!(count, 1, "request {id}: {count} lines");
    }
    let call = lines
        .iter()
        .find(|line| line["fields"]["request_id"] == "client-chosen-7")
        .unwrap();
    let fields = &call["fields"];
    assert_eq!(call["level"], "INFO");
    assert_eq!(fields["method"], "POST");
    assert_eq!(fields["route"], "/mcp");
    assert_eq!(fields["mcp_method"], "tools/call");
    assert_eq!(fields["tool"], "echo");
    assert_eq!(fields["client_id"], client_id.as_str());
    assert!(
        fields["subject"].as_str().is_some_and(|s| !s.is_empty()),
        "{call}"
    );
    assert_eq!(fields["status"], 200);
    assert!(
        fields["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{call}"
    );
    let unmatched = lines
        .iter()
        .find(|line| line["fields"]["status"] == 404)
        .unwrap();
    assert_eq!(unmatched["fields"]["route"], "/no-such-page");
    let login_line = lines
        .iter()
        .find(|line| line["fields"]["route"] == "/login" && line["fields"]["status"] == 401)
        .expect("the wrong password's line");
    assert_eq!(login_line["fields"]["method"], "POST");
}

#[test]
fn a_filter_that_leaves_request_lines_out_is_obeyed() {
    let dir = TempDir::new("request-log-filtered");
    let log = dir.0.join("stderr.log");
    let server = start_filtered(&dir, &log, Some("info,outpost::request=off"));
    let client = Client::new();
    for path in ["/health", "/ready", "/mcp"] {
        let response = client.get(format!("{}{path}", server.base)).send().unwrap();
        assert!(response.headers().contains_key("x-request-id"));
    }
    // The writer writes its batch every 50 ms; give it ten times that.
    std::thread::sleep(Duration::from_millis(500));
    let text = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|line| serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}")))
        .collect();
    assert!(
        lines.iter().any(|line| line["level"] == "INFO"),
        "other INFO lines are still written:\n{text}"
    );
    assert!(
        lines
            .iter()
            .all(|line| line["target"] != "outpost::request"),
        "no request line:\n{text}"
    );
}
