//! `outpost connect` signing in to the real `outpost serve --demo` as a user would with
//! `--no-browser`: the authorization URL is read from stderr and the browser is played by
//! `tests/tools/login-driver.py` (stdlib Python: the login and consent pages, then the redirect
//! to the loopback callback). Then: the stored credentials (0600) are reused without a
//! sign-in, an expired access token is refreshed, a refused refresh leads to a new sign-in,
//! `logout` revokes, and only the callback with the request's `state` ends the sign-in. A tool
//! that needs more scope (`serverStatus`, `mcp:admin`) is stepped up with a new sign-in for
//! alice, who may be granted it, and fails naming the scope for bob, who may not.

mod common;

use std::{
    io::{BufRead, BufReader, Read as _},
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Output, Stdio},
    thread::JoinHandle,
};

use common::{OUTPOST, Server, TempDir};
use serde_json::Value;

const LOGIN_DRIVER: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/tools/login-driver.py"
);

struct Client {
    url: String,
    credentials: PathBuf,
    home: TempDir,
}

impl Client {
    fn new(server: &Server, name: &str) -> Self {
        let home = TempDir::new(name);
        Self {
            url: format!("{}/mcp", server.base),
            credentials: home.0.join("outpost").join("credentials.json"),
            home,
        }
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(OUTPOST);
        command
            .args(["connect", "--no-browser", &self.url])
            .args(args)
            .env("XDG_CONFIG_HOME", &self.home.0)
            .env("TMPDIR", &self.home.0);
        command
    }

    /// Runs a command that must not need a sign-in (stdin closed, nobody plays the browser).
    fn run(&self, args: &[&str]) -> Output {
        let output = self
            .command(args)
            .stdin(Stdio::null())
            .output()
            .expect("run outpost connect");
        assert!(
            !String::from_utf8_lossy(&output.stderr).contains("/authorize?"),
            "asked for a sign-in: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    /// Runs a command that signs in: reads the authorization URL from stderr and lets the
    /// login driver sign in as alice.
    fn run_signing_in(&self, args: &[&str]) -> Output {
        self.run_signing_in_as(("alice", "password123"), 1, args)
    }

    /// Runs a command that signs in `sign_ins` times as `user` (name, password).
    fn run_signing_in_as(&self, user: (&str, &str), sign_ins: usize, args: &[&str]) -> Output {
        let mut child = self.spawn(args);
        let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
        let mut before = String::new();
        for _ in 0..sign_ins {
            let url = authorization_url_from(&mut stderr, &mut before);
            let driver = Command::new("python3")
                .args([LOGIN_DRIVER, &url, user.0, user.1])
                .output()
                .expect("run the login driver");
            assert!(
                driver.status.success(),
                "login driver: {}",
                String::from_utf8_lossy(&driver.stderr)
            );
        }
        let rest = std::thread::spawn(move || {
            let _ = stderr.read_to_string(&mut before);
            before
        });
        let mut output = child.wait_with_output().expect("outpost connect ends");
        output.stderr = rest.join().expect("stderr reader").into_bytes();
        output
    }

    fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start outpost connect")
    }

    fn stored(&self) -> Value {
        let text = std::fs::read_to_string(&self.credentials).expect("the credentials file");
        serde_json::from_str::<Value>(&text).expect("JSON")["servers"][&self.url].clone()
    }

    fn edit_stored(&self, edit: impl FnOnce(&mut Value)) {
        let text = std::fs::read_to_string(&self.credentials).expect("the credentials file");
        let mut file: Value = serde_json::from_str(&text).expect("JSON");
        edit(&mut file["servers"][&self.url]);
        std::fs::write(&self.credentials, file.to_string()).expect("write the credentials");
    }
}

/// The authorization URL, alone on its stderr line with `--no-browser`, and the rest of
/// stderr (read on a thread, so the client never writes to a closed pipe).
fn authorization_url(child: &mut Child) -> (String, JoinHandle<String>) {
    let mut stderr = BufReader::new(child.stderr.take().expect("piped stderr"));
    let url = authorization_url_from(&mut stderr, &mut String::new());
    let rest = std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = stderr.read_to_string(&mut rest);
        rest
    });
    (url, rest)
}

/// The next authorization URL on `stderr`, which must be alone on its line; the lines before
/// it are added to `before`.
fn authorization_url_from(stderr: &mut impl BufRead, before: &mut String) -> String {
    let mut line = String::new();
    loop {
        line.clear();
        let read = stderr.read_line(&mut line).expect("read stderr");
        assert!(
            read > 0,
            "stderr ended without an authorization URL: {before}"
        );
        if line.contains("/authorize?") {
            break;
        }
        before.push_str(&line);
    }
    let url = line.trim_end().to_owned();
    assert!(
        !url.contains(' '),
        "the URL is not alone on its line: {url}"
    );
    url
}

fn query_param(url: &str, name: &str) -> String {
    let parsed = url::Url::parse(url).expect("a URL");
    parsed
        .query_pairs()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.into_owned())
        .unwrap_or_else(|| panic!("{name} in {url}"))
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("metadata")
        .permissions()
        .mode()
        & 0o777
}

#[test]
fn sign_in_reuse_refresh_and_logout() {
    let dir = TempDir::new("connect-oauth-server");
    let server = common::start(&["--demo", "--store", &dir.store()]);
    let client = Client::new(&server, "connect-oauth");

    // Without credentials: 401, discovery, registration, the browser, then the tools.
    let output = client.run_signing_in(&["tools"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("whoami  "));
    assert_eq!(mode(&client.credentials), 0o600);
    let first = client.stored();
    assert!(first["refresh_token"].is_string());

    // The stored token is reused: no sign-in.
    let output = client.run(&["call", "whoami"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("\"username\": \"alice\""));

    // An expired access token is refreshed without a sign-in.
    client.edit_stored(|stored| stored["expires_at"] = 0.into());
    let output = client.run(&["call", "whoami"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let refreshed = client.stored();
    assert_ne!(refreshed["access_token"], first["access_token"]);
    assert_ne!(
        refreshed["refresh_token"], first["refresh_token"],
        "rotated"
    );
    assert_eq!(mode(&client.credentials), 0o600);

    // A refused refresh (and a refused access token) leads to a new sign-in.
    client.edit_stored(|stored| {
        stored["access_token"] = "not-a-token".into();
        stored["refresh_token"] = "not-a-refresh-token".into();
    });
    let output = client.run_signing_in(&["call", "whoami"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("\"username\": \"alice\""));
    // ... as the client registered the first time, on the same loopback port.
    let again = client.stored();
    assert_eq!(again["client_id"], first["client_id"], "registered again");
    assert!(
        again["redirect_uri"]
            .as_str()
            .is_some_and(|uri| uri.starts_with("http://127.0.0.1:")),
        "{again}"
    );
    assert_eq!(again["redirect_uri"], first["redirect_uri"]);

    // A client the server no longer knows (invalid_client) is registered anew.
    client.edit_stored(|stored| {
        stored["expires_at"] = 0.into();
        stored["client_id"] = "a-client-the-server-forgot".into();
    });
    let output = client.run_signing_in(&["call", "whoami"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("invalid_client"),
        "{}",
        text(&output.stderr)
    );
    let registered = client.stored()["client_id"].clone();
    assert_ne!(registered, "a-client-the-server-forgot");
    assert_ne!(registered, first["client_id"]);

    // So does a refused refresh of an access token stored as expired, even one the server
    // would still take: the new sign-in the refusal announces happens.
    client.edit_stored(|stored| {
        stored["expires_at"] = 0.into();
        stored["refresh_token"] = "not-a-refresh-token".into();
    });
    let output = client.run_signing_in(&["call", "whoami"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stderr).contains("signing in again"));
    assert_ne!(client.stored()["refresh_token"], "not-a-refresh-token");

    // logout revokes the grant and forgets the tokens.
    let revoked = client.stored();
    let output = client.run(&["logout"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(
        text(&output.stdout).contains("revoked"),
        "{}",
        text(&output.stdout)
    );
    assert!(client.stored().is_null());
    let refresh = reqwest::blocking::Client::new()
        .post(format!("{}/token", server.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", revoked["refresh_token"].as_str().unwrap()),
            ("client_id", revoked["client_id"].as_str().unwrap()),
        ])
        .send()
        .expect("token request");
    assert_eq!(
        refresh.status(),
        400,
        "the revoked refresh token still works"
    );
}

/// A server without Dynamic Client Registration (`--no-dcr`): `connect` says to name a client
/// registered beforehand, and signs in as the one `--client-id` names (a public client of the
/// clients file, redirect URI `http://127.0.0.1/callback` on any port).
#[test]
fn a_server_without_registration_takes_a_client_registered_beforehand() {
    let dir = TempDir::new("connect-oauth-no-dcr");
    let clients = dir.0.join("clients.json");
    let file = serde_json::json!({ "clients": [{
        "client_id": "terminal",
        "client_name": "Terminal",
        "redirect_uris": ["http://127.0.0.1/callback"],
        "token_endpoint_auth_method": "none",
    }]});
    std::fs::write(&clients, file.to_string()).unwrap();
    let server = common::start(&[
        "--demo",
        "--no-dcr",
        "--store",
        &dir.store(),
        "--clients",
        clients.to_str().unwrap(),
    ]);
    let client = Client::new(&server, "connect-oauth-no-dcr");

    let output = client.run(&["tools"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr).contains("--client-id"),
        "{}",
        text(&output.stderr)
    );

    let output = client.run_signing_in(&["call", "whoami", "--client-id", "terminal"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert!(text(&output.stdout).contains("\"username\": \"alice\""));
    assert_eq!(client.stored()["client_id"], "terminal");
    assert!(
        client.stored()["redirect_uri"].is_null(),
        "a client named by --client-id is not one connect registered"
    );

    // Refreshing needs no --client-id: the stored sign-in names its client.
    client.edit_stored(|stored| stored["expires_at"] = 0.into());
    let output = client.run(&["call", "whoami"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
}

/// A callback with another `state` is not the awaited one: its page says so and the wait goes
/// on. A refusal with the right `state` ends the sign-in, its page saying it did not sign in.
#[test]
fn only_the_awaited_callback_ends_the_sign_in_and_its_page_tells_the_truth() {
    let dir = TempDir::new("connect-state-server");
    let server = common::start(&["--demo", "--store", &dir.store()]);
    let client = Client::new(&server, "connect-state");
    let mut child = client.spawn(&["tools"]);
    let (url, rest) = authorization_url(&mut child);
    let redirect_uri = query_param(&url, "redirect_uri");
    let forged = reqwest::blocking::get(format!(
        "{redirect_uri}?code=forged&state=not-the-state&iss={}",
        server.base
    ))
    .expect("the callback answers");
    assert_eq!(forged.status(), 400);
    assert!(
        forged
            .text()
            .unwrap()
            .contains("not the sign-in this terminal is waiting for")
    );
    assert!(
        child.try_wait().expect("poll").is_none(),
        "a stray callback does not end the wait"
    );

    let refused = reqwest::blocking::get(format!(
        "{redirect_uri}?error=access_denied&state={}&iss={}",
        query_param(&url, "state"),
        server.base
    ))
    .expect("the callback answers");
    assert!(
        refused
            .text()
            .unwrap()
            .contains("The server did not sign you in")
    );
    let status = child.wait().expect("outpost connect ends");
    let stderr = rest.join().expect("stderr reader");
    assert_eq!(status.code(), Some(2));
    assert!(
        stderr.contains(
            "error: authorization failed: the authorization server refused the sign-in: access_denied"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("A sign-in callback arrived that is not this sign-in's"),
        "the terminal says a stray callback came: {stderr}"
    );
}

#[test]
fn a_tool_that_needs_more_scope_is_stepped_up_or_named() {
    let dir = TempDir::new("connect-step-up-server");
    let server = common::start(&["--demo", "--store", &dir.store()]);

    // alice signs in with the baseline scope; serverStatus needs mcp:admin, which she may be
    // granted: one more sign-in, then the call succeeds.
    let alice = Client::new(&server, "connect-step-up-alice");
    let output = alice.run_signing_in(&["tools"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    let registered = alice.stored()["client_id"].clone();
    let output = alice.run_signing_in_as(("alice", "password123"), 1, &["call", "serverStatus"]);
    assert_eq!(output.status.code(), Some(0), "{}", text(&output.stderr));
    assert_eq!(
        alice.stored()["client_id"],
        registered,
        "the step-up signs in as the same client"
    );
    assert!(
        text(&output.stderr).contains("asks for the scope \"mcp mcp:admin\""),
        "{}",
        text(&output.stderr)
    );
    let output = alice.run(&["call", "serverStatus"]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "the stepped-up token is kept: {}",
        text(&output.stderr)
    );

    // bob may not be granted mcp:admin: the new sign-in is narrowed, the call is refused
    // again, and connect says which scope is missing.
    let bob = Client::new(&server, "connect-step-up-bob");
    let output = bob.run_signing_in_as(("bob", "password456"), 2, &["call", "serverStatus"]);
    assert_eq!(output.status.code(), Some(2), "{}", text(&output.stderr));
    assert!(
        text(&output.stderr)
            .contains("error: authorization failed: the request needs the scope \"mcp mcp:admin\""),
        "{}",
        text(&output.stderr)
    );
}

#[test]
fn help_may_follow_the_url() {
    for args in [
        vec!["connect", "http://127.0.0.1:9/mcp", "--help"],
        vec!["connect", "http://127.0.0.1:9/mcp", "call", "echo", "-h"],
        vec!["connect", "--help"],
    ] {
        let output = Command::new(OUTPOST)
            .args(&args)
            .output()
            .expect("run outpost connect");
        assert_eq!(
            output.status.code(),
            Some(0),
            "{args:?}: {}",
            text(&output.stderr)
        );
        let help = text(&output.stdout);
        assert!(help.contains("Usage: outpost connect"), "{args:?}: {help}");
        assert!(help.contains("--no-browser"), "{args:?}: {help}");
    }
}
