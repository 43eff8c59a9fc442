//! The server as an OAuth resource server (`AuthMode::Bearer`), over real HTTP: the 401
//! challenge and RFC 9728 metadata, token checks (audience, expiry, signature, revocation),
//! per-tool scopes, the caller's identity in `whoami` on 2026-07-28 and 2025-11-25, session
//! ownership on both session transports, and CORS.

mod common;

use std::{
    sync::{Arc, RwLock},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use common::{TestApp, read_jsonrpc, spawn_app_with};
use outpost::{
    AuthMode, ServerConfig,
    auth::{
        access_token::{AccessClaims, issue},
        keyring::Keyring,
        resource::{RequiredScopes, ResourceServerConfig, RevocationCheck},
        scope::Scope,
    },
    store::{
        ApplicationType, ClientId, ClientRecord, GrantId, GrantRecord, Store,
        TokenEndpointAuthMethod, UserId, UserRecord, Username, password::hash_password,
    },
};
use serde_json::{Value, json};

const ISSUER: &str = "https://auth.outpost.test";
const SESSION_VERSION: &str = "2025-11-25";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn scope(value: &str) -> Scope {
    Scope::parse(value).unwrap()
}

/// A protected reference server and what it takes to mint tokens for it.
struct AuthApp {
    app: TestApp,
    keyring: Arc<RwLock<Keyring>>,
    store: Store,
}

async fn spawn_protected(required: RequiredScopes) -> AuthApp {
    let keyring = Arc::new(RwLock::new(
        Keyring::generate(now(), Duration::from_secs(3600)).unwrap(),
    ));
    let store = Store::memory();
    let revocation: Arc<dyn RevocationCheck> = Arc::new(store.grants.clone());
    let mut resource = ResourceServerConfig::new(ISSUER, keyring.clone(), revocation);
    resource.scopes_supported = scope("mcp:tools profile math");
    resource.revocation_cache_ttl = Duration::from_millis(300);
    resource.required_scopes = required;
    let app = spawn_app_with(ServerConfig {
        auth: AuthMode::Bearer(resource),
        ..ServerConfig::default()
    })
    .await;
    AuthApp {
        app,
        keyring,
        store,
    }
}

impl AuthApp {
    fn audience(&self) -> String {
        self.app.url("/mcp")
    }

    fn claims(&self, subject: &str, granted: &str) -> AccessClaims {
        AccessClaims::new(
            ISSUER,
            subject,
            &self.audience(),
            "client-1",
            scope(granted),
            now(),
            Duration::from_secs(600),
        )
        .unwrap()
    }

    fn mint(&self, claims: &AccessClaims) -> String {
        issue(&self.keyring.read().unwrap(), claims).unwrap()
    }

    fn token(&self, subject: &str, granted: &str) -> String {
        self.mint(
            &self
                .claims(subject, granted)
                .with_username(format!("{subject}-login")),
        )
    }

    async fn call(
        &self,
        token: Option<&str>,
        method: &str,
        name: Option<&str>,
        params: Value,
    ) -> reqwest::Response {
        let mut request = self.app.request_2026(method, name, params);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send().await.expect("send")
    }

    async fn whoami(&self, token: &str) -> reqwest::Response {
        self.call(
            Some(token),
            "tools/call",
            Some("whoami"),
            json!({ "name": "whoami" }),
        )
        .await
    }
}

fn challenge(response: &reqwest::Response) -> String {
    response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned()
}

async fn assert_invalid_token(response: reqwest::Response, why: &str) {
    assert_eq!(response.status(), 401, "{why}");
    let value = challenge(&response);
    assert!(value.contains("error=\"invalid_token\""), "{why}: {value}");
    assert!(value.contains("resource_metadata=\""), "{why}: {value}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_token", "{why}");
    assert!(body["error_description"].is_string(), "{why}");
}

#[tokio::test]
async fn no_token_is_401_naming_metadata_that_resolves() {
    let auth = spawn_protected(RequiredScopes::default()).await;
    let response = auth.call(None, "tools/list", None, json!({})).await;
    assert_eq!(response.status(), 401);
    let metadata_url = auth.app.url("/.well-known/oauth-protected-resource/mcp");
    assert_eq!(
        challenge(&response),
        format!("Bearer resource_metadata=\"{metadata_url}\"")
    );
    // The 2026-07-28 discovery request gets the same answer.
    let discover = auth.call(None, "server/discover", None, json!({})).await;
    assert_eq!(discover.status(), 401);
    assert!(challenge(&discover).contains(&metadata_url));

    for url in [
        metadata_url,
        auth.app.url("/.well-known/oauth-protected-resource"),
    ] {
        let document: Value = auth
            .app
            .http
            .get(&url)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            document,
            json!({
                "resource": auth.audience(),
                "authorization_servers": [ISSUER],
                "scopes_supported": ["math", "mcp:tools", "profile"],
                "bearer_methods_supported": ["header"],
            }),
            "{url}"
        );
    }

    // Tokens in the query string are refused, never read.
    let token = auth.token("alice", "mcp:tools");
    let query = auth
        .app
        .http
        .post(auth.app.url(&format!("/mcp?access_token={token}")))
        .header("content-type", "application/json")
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(query.status(), 400);
    assert!(challenge(&query).contains("error=\"invalid_request\""));
}

#[tokio::test]
async fn whoami_names_the_caller_on_the_stateless_fast_path() {
    let auth = spawn_protected(RequiredScopes::default()).await;
    let token = auth.token("alice", "mcp:tools profile");
    let response = auth.whoami(&token).await;
    assert_eq!(response.status(), 200);
    let answer = read_jsonrpc(response).await;
    assert_eq!(
        answer["result"]["structuredContent"],
        json!({
            "subject": "alice",
            "username": "alice-login",
            "client_id": "client-1",
            "scopes": ["mcp:tools", "profile"],
        }),
        "{answer}"
    );
    // Again: served from the validation cache.
    let again = read_jsonrpc(auth.whoami(&token).await).await;
    assert_eq!(again["result"]["structuredContent"]["subject"], "alice");
    let echo = auth
        .call(
            Some(&token),
            "tools/call",
            Some("echo"),
            json!({ "name": "echo", "arguments": { "message": "hi" } }),
        )
        .await;
    assert_eq!(echo.status(), 200);
    let echo = read_jsonrpc(echo).await;
    assert_eq!(echo["result"]["content"][0]["text"], "Echo: hi");
}

#[tokio::test]
async fn tokens_that_must_be_refused_are_401_invalid_token() {
    let auth = spawn_protected(RequiredScopes::default()).await;

    let mut other_audience = auth.claims("alice", "mcp:tools");
    other_audience.aud = "https://other.example/mcp".into();
    assert_invalid_token(auth.whoami(&auth.mint(&other_audience)).await, "audience").await;

    let mut expired = auth.claims("alice", "mcp:tools");
    expired.iat = now() - 7200;
    expired.exp = now() - 3600;
    let response = auth.whoami(&auth.mint(&expired)).await;
    assert!(challenge(&response).contains("expired"));
    assert_invalid_token(response, "expired").await;

    let mut other_issuer = auth.claims("alice", "mcp:tools");
    other_issuer.iss = "https://evil.example".into();
    assert_invalid_token(auth.whoami(&auth.mint(&other_issuer)).await, "issuer").await;

    let stranger = Keyring::generate(now(), Duration::from_secs(3600)).unwrap();
    let unknown_kid = issue(&stranger, &auth.claims("alice", "mcp:tools")).unwrap();
    assert_invalid_token(auth.whoami(&unknown_kid).await, "unknown kid").await;

    let valid = auth.token("alice", "mcp:tools");
    let (signed, signature) = valid.rsplit_once('.').unwrap();
    let mut bad: Vec<char> = signature.chars().collect();
    bad[10] = if bad[10] == 'A' { 'B' } else { 'A' };
    let tampered = format!("{signed}.{}", bad.into_iter().collect::<String>());
    assert_invalid_token(auth.whoami(&tampered).await, "signature").await;

    assert_invalid_token(auth.whoami("not-a-jwt").await, "garbage").await;
}

#[tokio::test]
async fn a_revoked_grant_stops_working_within_the_cache_window() {
    let auth = spawn_protected(RequiredScopes::default()).await;
    let user = UserRecord {
        id: UserId::random(),
        username: Username::parse("grace").unwrap(),
        password_hash: hash_password("password123").unwrap(),
        created_at: now(),
    };
    let client = ClientRecord {
        client_id: ClientId::parse("client-1").unwrap(),
        client_secret_hash: None,
        client_name: None,
        redirect_uris: vec!["http://127.0.0.1/callback".into()],
        grant_types: vec!["authorization_code".into()],
        response_types: vec!["code".into()],
        token_endpoint_auth_method: TokenEndpointAuthMethod::None,
        application_type: ApplicationType::Native,
        scope: None,
        created_at: now(),
    };
    auth.store.users.create(user.clone()).await.unwrap();
    auth.store.clients.insert(client).await.unwrap();
    let grant = GrantId::random();
    auth.store
        .grants
        .create_grant(GrantRecord {
            grant_id: grant,
            user_id: user.id,
            client_id: ClientId::parse("client-1").unwrap(),
            scope: "mcp:tools".into(),
            resource: Some(auth.audience()),
            created_at: now(),
            revoked_at: None,
        })
        .await
        .unwrap();
    let token = auth.mint(
        &auth
            .claims(&user.id.to_string(), "mcp:tools")
            .with_grant_id(grant.to_string()),
    );
    assert_eq!(auth.whoami(&token).await.status(), 200);

    auth.store.grants.revoke_grant(grant, now()).await.unwrap();
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let response = auth.whoami(&token).await;
        if response.status() == 401 {
            assert!(challenge(&response).contains("revoked"));
            break;
        }
        assert_eq!(response.status(), 200);
        assert!(Instant::now() < deadline, "revocation not honoured in time");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // A token naming a grant the store does not know fails closed.
    let unknown = auth.mint(
        &auth
            .claims("grace", "mcp:tools")
            .with_grant_id(GrantId::random().to_string()),
    );
    assert_invalid_token(auth.whoami(&unknown).await, "unknown grant").await;
}

#[tokio::test]
async fn a_tool_needing_a_missing_scope_is_403_insufficient_scope() {
    let auth = spawn_protected(RequiredScopes::default().require("add", scope("math"))).await;
    let add = |token: String| {
        let auth = &auth;
        async move {
            auth.call(
                Some(&token),
                "tools/call",
                Some("add"),
                json!({ "name": "add", "arguments": { "a": 1, "b": 2 } }),
            )
            .await
        }
    };
    let response = add(auth.token("alice", "mcp:tools")).await;
    assert_eq!(response.status(), 403);
    let value = challenge(&response);
    assert!(value.contains("error=\"insufficient_scope\""), "{value}");
    assert!(value.contains("scope=\"math\""), "{value}");
    assert!(value.contains("resource_metadata=\""), "{value}");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_scope");

    // Other tools stay callable; the scope unlocks the tool.
    assert_eq!(
        auth.whoami(&auth.token("alice", "mcp:tools"))
            .await
            .status(),
        200
    );
    let allowed = add(auth.token("alice", "mcp:tools math")).await;
    assert_eq!(allowed.status(), 200);
    let answer = read_jsonrpc(allowed).await;
    assert_eq!(
        answer["result"]["structuredContent"]["sum"], 3.0,
        "{answer}"
    );
}

/// Opens a 2025-11-25 session as the holder of `token`; returns its id.
async fn open_session(auth: &AuthApp, token: &str) -> String {
    let response = auth
        .app
        .http
        .post(auth.app.url("/mcp"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .json(&json!({
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {
                "protocolVersion": SESSION_VERSION,
                "capabilities": {},
                "clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
            }
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let id = response.headers()["mcp-session-id"]
        .to_str()
        .unwrap()
        .to_owned();
    read_jsonrpc(response).await;
    let ack = session_post(
        auth,
        token,
        &id,
        json!({ "jsonrpc": "2.0", "method": "notifications/initialized" }),
    )
    .await;
    assert_eq!(ack.status(), 202);
    id
}

async fn session_post(auth: &AuthApp, token: &str, id: &str, body: Value) -> reqwest::Response {
    auth.app
        .http
        .post(auth.app.url("/mcp"))
        .bearer_auth(token)
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .header("mcp-session-id", id)
        .header("mcp-protocol-version", SESSION_VERSION)
        .json(&body)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn sessions_know_their_caller_and_refuse_other_subjects() {
    let auth = spawn_protected(RequiredScopes::default()).await;
    let alice = auth.token("alice", "mcp:tools");
    let id = open_session(&auth, &alice).await;
    let call = json!({ "jsonrpc": "2.0", "id": 1, "method": "tools/call", "params": { "name": "whoami" } });
    let answer = read_jsonrpc(session_post(&auth, &alice, &id, call.clone()).await).await;
    assert_eq!(
        answer["result"]["structuredContent"]["subject"], "alice",
        "{answer}"
    );
    assert_eq!(
        answer["result"]["structuredContent"]["client_id"],
        "client-1"
    );

    // Another subject on alice's session: 404, as if it did not exist.
    let mallory = auth.token("mallory", "mcp:tools");
    assert_eq!(
        session_post(&auth, &mallory, &id, call.clone())
            .await
            .status(),
        404
    );
    let delete = auth
        .app
        .http
        .delete(auth.app.url("/mcp"))
        .bearer_auth(&mallory)
        .header("mcp-session-id", &id)
        .send()
        .await
        .unwrap();
    assert_eq!(delete.status(), 404);
    // The same subject with a fresh token keeps the session; no token is 401.
    let alice_again = auth.token("alice", "mcp:tools");
    assert_eq!(
        session_post(&auth, &alice_again, &id, call.clone())
            .await
            .status(),
        200
    );
    let anonymous = auth
        .app
        .http
        .post(auth.app.url("/mcp"))
        .header("mcp-session-id", &id)
        .json(&call)
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    // Alice ends it; afterwards it is gone for her too.
    let delete = auth
        .app
        .http
        .delete(auth.app.url("/mcp"))
        .bearer_auth(&alice)
        .header("mcp-session-id", &id)
        .header("mcp-protocol-version", SESSION_VERSION)
        .send()
        .await
        .unwrap();
    assert!(delete.status().is_success(), "{}", delete.status());
    assert_eq!(session_post(&auth, &alice, &id, call).await.status(), 404);
}

#[tokio::test]
async fn legacy_sse_sessions_belong_to_their_subject() {
    let auth = spawn_protected(RequiredScopes::default()).await;
    let alice = auth.token("alice", "mcp:tools");
    assert_eq!(
        auth.app
            .http
            .get(auth.app.url("/sse"))
            .send()
            .await
            .unwrap()
            .status(),
        401
    );
    let mut stream = auth
        .app
        .http
        .get(auth.app.url("/sse"))
        .bearer_auth(&alice)
        .header("accept", "text/event-stream")
        .send()
        .await
        .unwrap();
    assert_eq!(stream.status(), 200);
    let mut seen = String::new();
    let endpoint = loop {
        let chunk = stream.chunk().await.unwrap().expect("endpoint event");
        seen.push_str(&String::from_utf8_lossy(&chunk));
        if let Some(line) = seen.lines().find(|line| line.starts_with("data: /message")) {
            break line.trim_start_matches("data: ").to_owned();
        }
    };
    let initialize = json!({
        "jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {
            "protocolVersion": "2024-11-05",
            "capabilities": {},
            "clientInfo": { "name": "outpost-tests", "version": "1.0.0" }
        }
    });
    let post = |token: String| {
        let request = auth
            .app
            .http
            .post(auth.app.url(&endpoint))
            .bearer_auth(token)
            .json(&initialize);
        async move { request.send().await.unwrap().status() }
    };
    assert_eq!(post(auth.token("mallory", "mcp:tools")).await, 404);
    assert_eq!(post(alice.clone()).await, 202);
}

#[tokio::test]
async fn cors_preflight_is_answered_before_the_token_check() {
    let auth = spawn_protected(RequiredScopes::default()).await;
    let origin = "http://localhost:6274";
    let preflight = auth
        .app
        .http
        .request(reqwest::Method::OPTIONS, auth.app.url("/mcp"))
        .header("origin", origin)
        .header("access-control-request-method", "POST")
        .header(
            "access-control-request-headers",
            "authorization,content-type,mcp-protocol-version,mcp-session-id",
        )
        .send()
        .await
        .unwrap();
    assert!(preflight.status().is_success(), "{}", preflight.status());
    let headers = preflight.headers();
    assert_eq!(headers["access-control-allow-origin"], origin);
    let allowed = headers["access-control-allow-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");

    // A refused request still lets the browser read the challenge.
    let refused = auth
        .app
        .request_2026("tools/list", None, json!({}))
        .header("origin", origin)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 401);
    assert_eq!(refused.headers()["access-control-allow-origin"], origin);
    let exposed = refused.headers()["access-control-expose-headers"]
        .to_str()
        .unwrap()
        .to_ascii_lowercase();
    assert!(
        exposed.contains("www-authenticate") && exposed.contains("mcp-session-id"),
        "{exposed}"
    );

    // Origins the server does not accept are refused by the transport guard.
    let foreign = auth
        .app
        .http
        .request(reqwest::Method::OPTIONS, auth.app.url("/mcp"))
        .header("origin", "https://evil.example")
        .header("access-control-request-method", "POST")
        .send()
        .await
        .unwrap();
    assert_eq!(foreign.status(), 403);

    // Any origin may read the metadata.
    let metadata = auth
        .app
        .http
        .get(auth.app.url("/.well-known/oauth-protected-resource/mcp"))
        .header("origin", "https://inspector.example")
        .send()
        .await
        .unwrap();
    assert_eq!(metadata.status(), 200);
    assert_eq!(metadata.headers()["access-control-allow-origin"], "*");
}
