//! The authorization server's JSON endpoints over real HTTP on loopback: discovery, JWKS,
//! Dynamic Client Registration, the token endpoint (code + PKCE, refresh rotation and reuse),
//! revocation, introspection and who may introspect, the throttling of failed client authentication (bursts, two
//! instances on one file, sources behind trusted proxies), the bound on argon2 work, a restart
//! on the same SQLite file, and the answers while the store does not answer (`outage.rs`).
//!
//! Codes are inserted into the store directly, as `/authorize` does (`tests/authorize.rs`
//! drives the real pages): the SHA-256 of a known code, the S256 challenge of a known verifier.

use std::{
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::Duration,
};

use outpost_oauth::{
    access_token,
    keyring::PUBLICATION_LEAD,
    pkce::{CodeChallenge, CodeVerifier},
};

use outpost_authorization_server::{
    AuthorizationServer, Clock, password::hash_password, routes, throttle,
};

use outpost_store::{
    ApplicationType, AuthorizationCodeRecord, ClientId, ClientRecord, PasswordHash, Store,
    TokenEndpointAuthMethod, UserId, UserRecord, Username, token_hash,
};
use reqwest::{StatusCode, header::HeaderMap};
use serde_json::{Value, json};

const T0: i64 = 1_800_000_000;
const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9mIbHpbHCgrPsRcPEwDpY0mz9x";
const REDIRECT: &str = "http://127.0.0.1:6276/oauth/callback";
// A valid argon2id PHC string: the tests never log in, so the password does not matter.
const SOME_HASH: &str =
    "$argon2id$v=19$m=19456,t=2,p=1$c29tZXNhbHQ$iWh06vD8Fy27wf9npn6FXWiCX4K6pW6Ue1Bnzz07Z8A";

/// The client every test server designates as a resource server (see
/// [`TestServer::resource_server`]).
const RS_ID: &str = "resource-server";
const RS_SECRET: &str = "the resource server's long secret";

struct TestServer {
    base: String,
    http: reqwest::Client,
    state: AuthorizationServer,
    clock: Arc<ManualClock>,
    _server: tokio::task::JoinHandle<()>,
}

struct Tokens {
    access: String,
    refresh: String,
}

use common::ManualClock;

async fn spawn(store: Store) -> TestServer {
    spawn_with(store, |state| state).await
}

/// A server on `store` whose [`AuthorizationServer`] `configure` adjusts first.
async fn spawn_with(
    store: Store,
    configure: impl FnOnce(AuthorizationServer) -> AuthorizationServer,
) -> TestServer {
    let clock = Arc::new(ManualClock(AtomicI64::new(T0)));
    let (listener, base, state) = common::on_loopback(store, T0).await;
    let rs = ClientId::parse(RS_ID).unwrap();
    let state = configure(state.with_clock(clock.clone()).with_resource_servers([rs]));
    let app = routes(state.clone());
    let server = tokio::spawn(async move {
        axum::serve(
            listener,
            app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .await
        .unwrap();
    });
    TestServer {
        base,
        http: reqwest::Client::new(),
        state,
        clock,
        _server: server,
    }
}

impl TestServer {
    fn resource(&self) -> String {
        format!("{}/mcp", self.base)
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        response.json().await.unwrap()
    }

    async fn register(&self, metadata: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(format!("{}/register", self.base))
            .json(&metadata)
            .send()
            .await
            .unwrap();
        (response.status(), response.json().await.unwrap())
    }

    async fn public_client(&self) -> String {
        let (status, body) = self
            .register(json!({
                "redirect_uris": [REDIRECT],
                "application_type": "native",
                "token_endpoint_auth_method": "none",
                "client_name": "Inspector",
            }))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        body["client_id"].as_str().unwrap().to_owned()
    }

    async fn post(
        &self,
        path: &str,
        params: &[(&str, &str)],
        basic: Option<(&str, &str)>,
    ) -> (StatusCode, Value, HeaderMap) {
        let body = url::form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish();
        let mut request = self
            .http
            .post(format!("{}{path}", self.base))
            .header("content-type", "application/x-www-form-urlencoded")
            .body(body);
        if let Some((id, secret)) = basic {
            request = request.basic_auth(id, Some(secret));
        }
        let response = request.send().await.unwrap();
        let (status, headers) = (response.status(), response.headers().clone());
        let text = response.text().await.unwrap();
        let json = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, json, headers)
    }

    async fn user(&self, name: &str) -> UserId {
        let id = UserId::random();
        let record = UserRecord {
            id,
            username: Username::parse(name).unwrap(),
            password_hash: PasswordHash::parse(SOME_HASH).unwrap(),
            allowed_scopes: Default::default(),
            created_at: T0,
        };
        self.state.store.users.create(record).await.unwrap();
        id
    }

    /// What `/authorize` will store: returns the code in clear.
    async fn code(&self, client_id: &str, user: UserId, scope: &str) -> String {
        let code = format!("code-{}", uuid::Uuid::new_v4());
        let verifier = CodeVerifier::parse(VERIFIER).unwrap();
        let record = AuthorizationCodeRecord {
            code_hash: token_hash(&code),
            client_id: ClientId::parse(client_id).unwrap(),
            user_id: user,
            redirect_uri: REDIRECT.into(),
            redirect_uri_sent: true,
            scope: scope.into(),
            resource: Some(self.resource()),
            code_challenge: CodeChallenge::s256(&verifier).as_str().to_owned(),
            expires_at: self.clock.now() + 60,
        };
        self.state.store.codes.insert(record).await.unwrap();
        code
    }

    async fn exchange(&self, client_id: &str, code: &str) -> (StatusCode, Value, HeaderMap) {
        let resource = self.resource();
        self.post(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("client_id", client_id),
                ("resource", &resource),
            ],
            None,
        )
        .await
    }

    async fn tokens(&self, client_id: &str, user: UserId) -> Tokens {
        let code = self.code(client_id, user, "mcp:read mcp:write").await;
        let (status, body, _) = self.exchange(client_id, &code).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        Tokens {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn refresh(
        &self,
        client_id: &str,
        token: &str,
        scope: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut params = vec![
            ("grant_type", "refresh_token"),
            ("refresh_token", token),
            ("client_id", client_id),
        ];
        if let Some(scope) = scope {
            params.push(("scope", scope));
        }
        let (status, body, _) = self.post("/token", &params, None).await;
        (status, body)
    }

    async fn confidential_client(&self) -> (String, String) {
        let (status, body) = self
            .register(json!({"redirect_uris": ["https://rs.example/cb"], "client_name": "RS"}))
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["client_id"].as_str().unwrap().to_owned();
        (id, body["client_secret"].as_str().unwrap().to_owned())
    }

    /// Stores the client [`RS_ID`], which the server takes for a resource server (as a clients
    /// file's `"resource_server": true` does); returns its id and secret.
    async fn resource_server(&self) -> (String, String) {
        let record = ClientRecord {
            client_id: ClientId::parse(RS_ID).unwrap(),
            client_secret_hash: Some(hash_password(RS_SECRET).unwrap()),
            client_name: Some("Resource server".into()),
            redirect_uris: vec!["https://rs.example/cb".into()],
            grant_types: vec!["authorization_code".into()],
            response_types: vec!["code".into()],
            token_endpoint_auth_method: TokenEndpointAuthMethod::ClientSecretBasic,
            application_type: ApplicationType::Web,
            scope: None,
            created_at: T0,
        };
        self.state.store.clients.upsert(record).await.unwrap();
        (RS_ID.into(), RS_SECRET.into())
    }

    async fn introspect(&self, token: &str, basic: (&str, &str)) -> Value {
        let (status, body, _) = self
            .post("/introspect", &[("token", token)], Some(basic))
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        body
    }
}

/// `body` is the error `expected`, its description within RFC 6749 §5.2's characters
/// (printable ASCII but `"` and `\`).
fn assert_error(status: StatusCode, body: &Value, expected: (StatusCode, &str)) {
    assert_eq!(
        (status, body["error"].as_str()),
        (expected.0, Some(expected.1)),
        "{body}"
    );
    if let Some(description) = body["error_description"].as_str() {
        assert!(
            description
                .chars()
                .all(|c| matches!(c, ' '..='~') && c != '"' && c != '\\'),
            "{description:?}"
        );
    }
}

fn assert_no_nulls(value: &Value) {
    match value {
        Value::Null => panic!("null member"),
        Value::Object(map) => map.values().for_each(assert_no_nulls),
        Value::Array(items) => items.iter().for_each(assert_no_nulls),
        _ => {}
    }
}

#[path = "authorization_server/argon2_limit.rs"]
mod argon2_limit;
#[path = "authorization_server/client_throttle.rs"]
mod client_throttle;
mod common;
#[path = "authorization_server/discovery_and_codes.rs"]
mod discovery_and_codes;
#[path = "authorization_server/forwarded_sources.rs"]
mod forwarded_sources;
#[path = "authorization_server/grants.rs"]
mod grants;
#[path = "authorization_server/introspection_access.rs"]
mod introspection_access;
#[path = "authorization_server/outage.rs"]
mod outage;
