//! The browser side of the authorization server over real HTTP on loopback: `/authorize`, the
//! login and consent pages, the code they issue redeemed at `/token`, the CSRF check, the
//! throttles and the failed-login policy, a login spread over two instances on one SQLite file,
//! the conformance suite's login robot (`login-driver.py`), and clients whose `client_id` is
//! the URL of a Client ID Metadata Document on a loopback https host, the pages while the
//! store does not answer, and the pages branded or replaced by templates.
//!
//! The server is served with connect info, as `serve` will, so per-source limits see
//! `127.0.0.1`.

use std::net::SocketAddr;

use outpost_oauth::pkce::{CodeChallenge, CodeVerifier};

use outpost_authorization_server::{
    password::hash_password,
    {AuthorizationServer, Clock, SystemClock, routes},
};

use outpost_store::{Store, UserId, UserRecord, Username};
use reqwest::{StatusCode, header, redirect::Policy};
use serde_json::{Value, json};
use url::Url;

const VERIFIER: &str = "dBjftJeZ4CVP-mJ92K9mIbHpbHCgrPsRcPEwDpY0mz9x";
const PASSWORD: &str = "correct horse battery";
const CLIENT_NAME: &str = "Outpost Test Client";

struct TestServer {
    base: String,
    /// A browser: cookies kept, redirects not followed (the test reads them).
    browser: reqwest::Client,
    _server: tokio::task::JoinHandle<()>,
}

async fn spawn() -> TestServer {
    spawn_with(|server| server).await
}

/// A server whose [`AuthorizationServer`] `configure` adjusts first.
async fn spawn_with(
    configure: impl FnOnce(AuthorizationServer) -> AuthorizationServer,
) -> TestServer {
    spawn_on(Store::memory(), configure).await
}

/// Like [`spawn_with`], over `store`.
async fn spawn_on(
    store: Store,
    configure: impl FnOnce(AuthorizationServer) -> AuthorizationServer,
) -> TestServer {
    for name in ["alice", "bob"] {
        store
            .users
            .create(UserRecord {
                id: UserId::random(),
                username: Username::parse(name).unwrap(),
                password_hash: hash_password(PASSWORD).unwrap(),
                allowed_scopes: Default::default(),
                created_at: 0,
            })
            .await
            .unwrap();
    }
    let (listener, base, state) = common::on_loopback(store, SystemClock.now()).await;
    let app = routes(configure(state)).into_make_service_with_connect_info::<SocketAddr>();
    let server = tokio::spawn(async move {
        axum::serve(listener, app).await.unwrap();
    });
    TestServer {
        base,
        browser: browser(),
        _server: server,
    }
}

fn browser() -> reqwest::Client {
    reqwest::Client::builder()
        .cookie_store(true)
        .redirect(Policy::none())
        .build()
        .unwrap()
}

fn challenge() -> String {
    CodeChallenge::s256(&CodeVerifier::parse(VERIFIER).unwrap())
        .as_str()
        .to_owned()
}

/// The `value` of the hidden input `name` in `html`.
fn hidden(html: &str, name: &str) -> String {
    let marker = format!("name=\"{name}\" value=\"");
    let start = html.find(&marker).expect(name) + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_owned()
}

/// The query parameters of a redirect's `Location`.
fn location_params(response: &reqwest::Response) -> (Url, Vec<(String, String)>) {
    let location = response.headers()[header::LOCATION].to_str().unwrap();
    let url = Url::parse(location).unwrap();
    let params = url.query_pairs().into_owned().collect();
    (url, params)
}

fn param<'a>(params: &'a [(String, String)], name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

impl TestServer {
    /// Registers a native public client with `redirect_uri`; returns its id.
    async fn register(&self, redirect_uri: &str) -> String {
        let response = reqwest::Client::new()
            .post(format!("{}/register", self.base))
            .json(&json!({
                "client_name": CLIENT_NAME,
                "redirect_uris": [redirect_uri],
                "application_type": "native",
                "token_endpoint_auth_method": "none",
                "grant_types": ["authorization_code", "refresh_token"],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::CREATED);
        let body: Value = response.json().await.unwrap();
        body["client_id"].as_str().unwrap().to_owned()
    }

    /// The `/authorize` URL for `client_id` with PKCE S256, `state=xyz` and `extra`.
    fn authorize_url(&self, client_id: &str, redirect_uri: &str, extra: &[(&str, &str)]) -> Url {
        let mut url = Url::parse(&format!("{}/authorize", self.base)).unwrap();
        url.query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", "xyz")
            .append_pair("code_challenge", &challenge())
            .append_pair("code_challenge_method", "S256");
        for (name, value) in extra {
            url.query_pairs_mut().append_pair(name, value);
        }
        url
    }

    /// Opens the login page; returns (request id, csrf token).
    async fn open_login(&self, url: Url) -> (String, String) {
        let response = self.browser.get(url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        let html = response.text().await.unwrap();
        (hidden(&html, "request"), hidden(&html, "csrf"))
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.browser
            .post(format!("{}/{path}", self.base))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn login(&self, ids: &(String, String), user: &str, pass: &str) -> reqwest::Response {
        let (request, csrf) = ids;
        self.post_form(
            "login",
            &[
                ("request", request),
                ("csrf", csrf),
                ("username", user),
                ("password", pass),
            ],
        )
        .await
    }

    async fn decide(&self, ids: &(String, String), decision: &str) -> reqwest::Response {
        let (request, csrf) = ids;
        self.post_form(
            "consent",
            &[("request", request), ("csrf", csrf), ("decision", decision)],
        )
        .await
    }

    /// Redeems `code` at `/token`; returns the JSON answer.
    async fn redeem(&self, client_id: &str, redirect_uri: &str, code: &str) -> Value {
        let response = reqwest::Client::new()
            .post(format!("{}/token", self.base))
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("client_id", client_id),
                ("code_verifier", VERIFIER),
            ])
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }
}

/// The headers every page must carry.
fn assert_page_headers(response: &reqwest::Response) {
    let headers = response.headers();
    // `form-action` is `'self'`, widened on the form pages to the redirect URI's origin.
    let csp = headers[header::CONTENT_SECURITY_POLICY].to_str().unwrap();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'unsafe-inline'; form-action 'self'"),
        "{csp}"
    );
    assert!(
        csp.ends_with("; frame-ancestors 'none'; base-uri 'none'"),
        "{csp}"
    );
    assert_eq!(headers[header::X_FRAME_OPTIONS], "DENY");
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers[header::REFERRER_POLICY], "no-referrer");
}

#[path = "authorize/browser_binding.rs"]
mod browser_binding;
#[path = "authorize/cimd.rs"]
mod cimd;
mod common;
#[path = "authorize/flow.rs"]
mod flow;
#[path = "authorize/guards.rs"]
mod guards;
#[path = "authorize/instances.rs"]
mod instances;
#[path = "authorize/lockout.rs"]
mod lockout;
#[path = "authorize/metadata_host.rs"]
mod metadata_host;
#[path = "authorize/outage.rs"]
mod outage;
#[path = "authorize/pages.rs"]
mod pages;
#[path = "authorize/registered_scope.rs"]
mod registered_scope;
#[path = "authorize/user_scopes.rs"]
mod user_scopes;
