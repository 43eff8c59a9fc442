//! `outpost serve`'s client flags as a process: Client ID Metadata Documents on by default and
//! off with `--no-cimd` (the metadata says so, and a URL client id gets the error page);
//! `--clients FILE` loads pre-registered clients (a confidential one completes a code exchange
//! with `client_secret_basic`, its hash made by `outpost clients hash-secret`) and a bad file
//! stops the start with a message naming the entry.

mod common;

use std::process::{Command, Stdio};

use common::{OUTPOST, Server, TempDir, start};

use serde_json::Value;

/// Starts `outpost serve` with `args` over the store in `dir`.
fn start_in(dir: &TempDir, args: &[&str]) -> Server {
    let store = dir.store();
    let mut all = vec!["--store", store.as_str()];
    all.extend_from_slice(args);
    start(&all)
}

fn metadata(server: &Server) -> Value {
    reqwest::blocking::get(format!(
        "{}/.well-known/oauth-authorization-server",
        server.base
    ))
    .and_then(|r| r.json())
    .expect("metadata")
}

#[test]
fn client_id_metadata_documents_are_on_unless_turned_off() {
    let dir = TempDir::new("clients-cimd");
    let server = start_in(&dir, &[]);
    assert_eq!(
        metadata(&server)["client_id_metadata_document_supported"],
        true
    );
    drop(server);

    let server = start_in(&dir, &["--no-cimd"]);
    assert_eq!(
        metadata(&server)["client_id_metadata_document_supported"],
        false
    );
    let mut url = url::Url::parse(&format!("{}/authorize", server.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "https://app.example/client.json")
        .append_pair("redirect_uri", "https://app.example/callback")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    let response = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert!(
        response
            .text()
            .unwrap()
            .contains("does not accept client_id URLs")
    );
}

/// Runs `outpost clients hash-secret` with `secret` on stdin: (exit code, stdout, stderr).
fn hash_secret(secret: &str) -> (i32, String, String) {
    use std::io::Write as _;
    let mut child = Command::new(OUTPOST)
        .args(["clients", "hash-secret"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run outpost clients hash-secret");
    let mut stdin = child.stdin.take().unwrap();
    // The command may exit before reading (a refusal): a broken pipe is not a failure here.
    let _ = stdin.write_all(secret.as_bytes());
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).trim().to_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
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

const SECRET: &str = "a-long-random-client-secret-for-tests";
const CALLBACK: &str = "https://reports.example.com/oauth/callback";
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9mIbHpbHCgrPsRcPEwDpY0mz9x";
const CHALLENGE: &str = "-l-3nXhiz8UTSLzMnAlSpVio8krQvNMzJqDGWT7zoTw";

#[test]
fn a_pre_registered_confidential_client_gets_tokens() {
    let (code, hash, stderr) = hash_secret(&format!("{SECRET}\n"));
    assert_eq!(code, 0, "{stderr}");
    assert!(hash.starts_with("$argon2id$"), "{hash}");
    let (code, _, stderr) = hash_secret("short\n");
    assert_ne!(code, 0);
    assert!(stderr.contains("shorter than 16"), "{stderr}");

    let dir = TempDir::new("clients-preregistered");
    let file = dir.0.join("clients.json");
    let clients = serde_json::json!({ "clients": [{
        "client_id": "reporting",
        "client_name": "Reporting",
        "redirect_uris": [CALLBACK],
        "token_endpoint_auth_method": "client_secret_basic",
        "client_secret_hash": hash,
    }, {
        "client_id": "gateway",
        "resource_server": true,
        "redirect_uris": [CALLBACK],
        "client_secret_hash": hash,
    }]});
    std::fs::write(&file, clients.to_string()).unwrap();
    let server = start_in(&dir, &["--demo", "--clients", file.to_str().unwrap()]);
    let browser = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();

    // The operator registered it, so its errors go back to its web redirect URI at once (a
    // client that registered itself would get them through a link on a page).
    let mut refused = url::Url::parse(&format!("{}/authorize", server.base)).unwrap();
    refused
        .query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "reporting")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("state", "s0");
    let response = browser.get(refused).send().unwrap();
    assert_eq!(response.status(), 302);
    let location = response.headers()["location"].to_str().unwrap();
    assert!(
        location.starts_with(&format!("{CALLBACK}?error=invalid_request")),
        "{location}"
    );

    // /authorize → login → consent → code, carrying the CSRF cookie by hand.
    let mut url = url::Url::parse(&format!("{}/authorize", server.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "reporting")
        .append_pair("redirect_uri", CALLBACK)
        .append_pair("state", "s1")
        .append_pair("code_challenge", CHALLENGE)
        .append_pair("code_challenge_method", "S256");
    let response = browser.get(url).send().unwrap();
    assert_eq!(response.status(), 200);
    // The CSRF cookie and the cookie binding the request to this browser.
    let cookie = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|value| value.to_str().unwrap().split(';').next())
        .collect::<Vec<_>>()
        .join("; ");
    let html = response.text().unwrap();
    assert!(html.contains("Reporting"));
    let (request, csrf) = (hidden(&html, "request"), hidden(&html, "csrf"));
    let post = |path: &str, pairs: &[(&str, &str)]| {
        browser
            .post(format!("{}/{path}", server.base))
            .header("cookie", &cookie)
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(pairs))
            .send()
            .unwrap()
    };
    let login = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("username", "alice"),
        ("password", "password123"),
    ];
    let response = post("login", &login);
    assert_eq!(response.status(), 200, "the consent page");
    let decision = [
        ("request", request.as_str()),
        ("csrf", csrf.as_str()),
        ("decision", "approve"),
    ];
    let response = post("consent", &decision);
    assert_eq!(response.status(), 302);
    let location = url::Url::parse(response.headers()["location"].to_str().unwrap()).unwrap();
    let code = location
        .query_pairs()
        .find(|(name, _)| name == "code")
        .map(|(_, value)| value.into_owned())
        .expect("a code");

    // The token request authenticates with client_secret_basic.
    let exchange = |secret: &str| {
        browser
            .post(format!("{}/token", server.base))
            .basic_auth("reporting", Some(secret))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(form(&[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", CALLBACK),
                ("code_verifier", VERIFIER),
            ]))
            .send()
            .unwrap()
    };
    let response = exchange("not-the-secret");
    assert_eq!(response.status(), 401, "a wrong secret is refused");
    let response = exchange(SECRET);
    let status = response.status();
    let tokens: Value = response.json().unwrap();
    assert_eq!(status, 200, "{tokens}");
    assert!(tokens["access_token"].is_string());
    assert!(tokens["refresh_token"].is_string());

    // The client marked resource_server introspects the reporting client's token.
    let facts: Value = browser
        .post(format!("{}/introspect", server.base))
        .basic_auth("gateway", Some(SECRET))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form(&[("token", tokens["access_token"].as_str().unwrap())]))
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(facts["active"], true, "{facts}");
    assert_eq!(facts["client_id"], "reporting", "{facts}");
}

#[test]
fn a_bad_clients_file_stops_the_start() {
    let dir = TempDir::new("clients-bad-file");
    let file = dir.0.join("clients.json");
    let clients = serde_json::json!({ "clients": [
        { "client_id": "ok", "redirect_uris": [CALLBACK], "token_endpoint_auth_method": "none" },
        { "client_id": "leaky", "redirect_uris": [CALLBACK], "client_secret": "plain" },
    ]});
    std::fs::write(&file, clients.to_string()).unwrap();
    let output = Command::new(OUTPOST)
        .args(["serve", "--bind", "127.0.0.1:0", "--store", &dir.store()])
        .args(["--clients", file.to_str().unwrap()])
        .output()
        .expect("run outpost");
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("refusing the clients file") && stderr.contains("client #2 (leaky)"),
        "{stderr}"
    );

    std::fs::write(&file, "{ not json").unwrap();
    let output = Command::new(OUTPOST)
        .args(["serve", "--bind", "127.0.0.1:0", "--store", &dir.store()])
        .args(["--clients", file.to_str().unwrap()])
        .output()
        .expect("run outpost");
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("the clients file is not valid"));
}
