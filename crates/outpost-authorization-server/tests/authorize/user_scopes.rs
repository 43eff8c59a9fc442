//! The per-user scope policy, over the login and consent pages: every user may be granted the
//! baseline (`mcp:read` here), `mcp:write` only a user allowed it; a request for more is
//! narrowed, and refused `invalid_scope` when nothing is left. A refresh gets what the user may
//! have now. And a directory of the test's own (users in memory) signs users in through the
//! same form, refuses a wrong password, and stops a removed user's refresh.

use std::{
    collections::HashMap,
    sync::{Arc, RwLock},
};

use outpost_authorization_server::{
    password::limit::Argon2Pool,
    users::{DirectoryError, DirectoryUser, UserDirectory, async_trait},
};
use outpost_oauth::scope::Scope;
use outpost_store::{PasswordHash, ScopeSet};

use super::*;

const REDIRECT: &str = "http://127.0.0.1:6277/callback";

/// A server whose baseline is `mcp:read`, over `store` (alice and bob, no extra scopes yet).
async fn spawn_with_baseline(store: Store) -> TestServer {
    spawn_on(store, |mut state| {
        state.default_scope = Scope::parse("mcp:read").unwrap();
        state
    })
    .await
}

async fn allow(store: &Store, name: &str, scopes: &str) {
    let username = Username::parse(name).unwrap();
    let user = store
        .users
        .get_by_username(&username)
        .await
        .unwrap()
        .unwrap();
    let scopes = ScopeSet::parse(scopes).unwrap();
    store
        .users
        .set_allowed_scopes(user.id, scopes)
        .await
        .unwrap();
}

/// Signs `user` in to an authorization request for `scope`: the answer to the login (the
/// consent page, or a redirect) and the page's ids.
async fn sign_in(
    server: &TestServer,
    client_id: &str,
    user: &str,
    scope: &str,
) -> (reqwest::Response, (String, String)) {
    let url = server.authorize_url(client_id, REDIRECT, &[("scope", scope)]);
    let ids = server.open_login(url).await;
    (server.login(&ids, user, PASSWORD).await, ids)
}

/// Approves on the consent page shown by `page`, posting its form as a browser would; the
/// token response.
async fn approve(
    server: &TestServer,
    client_id: &str,
    page: reqwest::Response,
    ids: &(String, String),
) -> Value {
    let html = page.text().await.unwrap();
    let shown = hidden(&html, "scope");
    let (request, csrf) = ids;
    let response = server
        .post_form(
            "consent",
            &[
                ("request", request),
                ("csrf", csrf),
                ("scope", &shown),
                ("decision", "approve"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let (_, params) = location_params(&response);
    server
        .redeem(client_id, REDIRECT, param(&params, "code").expect("a code"))
        .await
}

async fn refresh(server: &TestServer, client_id: &str, token: &Value) -> (StatusCode, Value) {
    let response = reqwest::Client::new()
        .post(format!("{}/token", server.base))
        .form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", token["refresh_token"].as_str().unwrap()),
            ("client_id", client_id),
        ])
        .send()
        .await
        .unwrap();
    (response.status(), response.json().await.unwrap())
}

#[tokio::test]
async fn a_user_is_granted_only_the_scopes_they_may_have() {
    let store = Store::memory();
    let server = spawn_with_baseline(store.clone()).await;
    allow(&store, "alice", "mcp:write").await;
    let client_id = server.register(REDIRECT).await;

    // bob asks for both: the page lists only the baseline, and the token carries only it.
    let (page, ids) = sign_in(&server, &client_id, "bob", "mcp:read mcp:write").await;
    assert_eq!(page.status(), StatusCode::OK);
    let tokens = approve(&server, &client_id, page, &ids).await;
    assert_eq!(tokens["scope"], "mcp:read", "{tokens}");

    // bob asks for mcp:write alone: nothing is left, the client hears invalid_scope.
    let (answer, _) = sign_in(&server, &client_id, "bob", "mcp:write").await;
    assert_eq!(answer.status(), StatusCode::FOUND);
    let (url, params) = location_params(&answer);
    assert!(url.as_str().starts_with(REDIRECT), "{url}");
    assert_eq!(param(&params, "error"), Some("invalid_scope"));
    assert_eq!(param(&params, "state"), Some("xyz"));

    // alice may have it.
    let (page, ids) = sign_in(&server, &client_id, "alice", "mcp:read mcp:write").await;
    assert_eq!(page.status(), StatusCode::OK);
    let tokens = approve(&server, &client_id, page, &ids).await;
    assert_eq!(tokens["scope"], "mcp:read mcp:write", "{tokens}");

    // Her allowed scopes shrink: the next refresh carries the baseline only.
    allow(&store, "alice", "").await;
    let (status, refreshed) = refresh(&server, &client_id, &tokens).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");
    assert_eq!(refreshed["scope"], "mcp:read", "{refreshed}");
}

#[tokio::test]
async fn a_remembered_consent_covers_only_what_was_granted() {
    let store = Store::memory();
    let server = spawn_with_baseline(store.clone()).await;
    let client_id = server.register(REDIRECT).await;

    let (page, ids) = sign_in(&server, &client_id, "alice", "mcp:read mcp:write").await;
    let tokens = approve(&server, &client_id, page, &ids).await;
    assert_eq!(tokens["scope"], "mcp:read");

    // The same request again: the narrowed scope is covered, no page.
    let (answer, _) = sign_in(&server, &client_id, "alice", "mcp:read mcp:write").await;
    assert_eq!(answer.status(), StatusCode::FOUND);

    // Allowed mcp:write later, she is asked to consent to it.
    allow(&store, "alice", "mcp:write").await;
    let (page, ids) = sign_in(&server, &client_id, "alice", "mcp:read mcp:write").await;
    assert_eq!(page.status(), StatusCode::OK);
    let tokens = approve(&server, &client_id, page, &ids).await;
    assert_eq!(tokens["scope"], "mcp:read mcp:write");
}

/// A user directory of the test's own: users in memory, passwords as argon2id hashes checked
/// under the server's permits.
struct TeamDirectory {
    users: RwLock<HashMap<String, (PasswordHash, DirectoryUser)>>,
    argon2: Argon2Pool,
}

#[async_trait]
impl UserDirectory for TeamDirectory {
    async fn verify_password(
        &self,
        username: &Username,
        password: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        let found = self.users.read().unwrap().get(&username.key()).cloned();
        let Some((hash, user)) = found else {
            return Ok(None);
        };
        let matches = self.argon2.verify(password.to_owned(), hash).await?;
        Ok(matches.then_some(user))
    }

    async fn find(&self, subject: UserId) -> Result<Option<DirectoryUser>, DirectoryError> {
        let users = self.users.read().unwrap();
        let found = users.values().find(|(_, user)| user.subject == subject);
        Ok(found.map(|(_, user)| user.clone()))
    }
}

#[tokio::test]
async fn a_custom_directory_signs_users_in_and_a_removed_user_cannot_refresh() {
    let carol = DirectoryUser {
        subject: UserId::random(),
        username: "carol".into(),
        allowed_scopes: Scope::parse("mcp:write").unwrap(),
    };
    let directory = Arc::new(TeamDirectory {
        users: RwLock::new(HashMap::from([(
            "carol".to_owned(),
            (hash_password("carol's passphrase").unwrap(), carol.clone()),
        )])),
        argon2: Argon2Pool::default(),
    });
    let server = spawn_on(Store::memory(), {
        let directory = directory.clone();
        move |mut state| {
            state.default_scope = Scope::parse("mcp:read").unwrap();
            state.with_user_directory(directory)
        }
    })
    .await;
    let client_id = server.register(REDIRECT).await;

    // A wrong password, and a user only the store knows: the same refusal.
    for (user, password) in [("carol", PASSWORD), ("alice", PASSWORD)] {
        let url = server.authorize_url(&client_id, REDIRECT, &[]);
        let ids = server.open_login(url).await;
        let refused = server.login(&ids, user, password).await;
        assert_eq!(refused.status(), StatusCode::UNAUTHORIZED, "{user}");
        assert!(
            refused
                .text()
                .await
                .unwrap()
                .contains("Wrong username or password")
        );
    }

    let url = server.authorize_url(&client_id, REDIRECT, &[("scope", "mcp:read mcp:write")]);
    let ids = server.open_login(url).await;
    let page = server.login(&ids, "carol", "carol's passphrase").await;
    assert_eq!(page.status(), StatusCode::OK);
    let tokens = approve(&server, &client_id, page, &ids).await;
    assert_eq!(tokens["scope"], "mcp:read mcp:write", "{tokens}");
    let (status, refreshed) = refresh(&server, &client_id, &tokens).await;
    assert_eq!(status, StatusCode::OK, "{refreshed}");

    directory.users.write().unwrap().remove("carol");
    let (status, refused) = refresh(&server, &client_id, &refreshed).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"], "invalid_grant", "{refused}");
}

/// A directory that cannot be reached (its database down).
struct UnreachableDirectory;

#[async_trait]
impl UserDirectory for UnreachableDirectory {
    async fn verify_password(
        &self,
        _: &Username,
        _: &str,
    ) -> Result<Option<DirectoryUser>, DirectoryError> {
        Err(DirectoryError::Unavailable("connection refused".into()))
    }

    async fn find(&self, _: UserId) -> Result<Option<DirectoryUser>, DirectoryError> {
        Err(DirectoryError::Unavailable("connection refused".into()))
    }
}

#[tokio::test]
async fn an_unreachable_directory_is_a_temporary_503_that_says_nothing_of_the_password() {
    let server =
        spawn_with(|state| state.with_user_directory(Arc::new(UnreachableDirectory))).await;
    let client_id = server.register(REDIRECT).await;
    let ids = server
        .open_login(server.authorize_url(&client_id, REDIRECT, &[]))
        .await;
    let answer = server.login(&ids, "alice", PASSWORD).await;
    assert_eq!(answer.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(answer.headers().contains_key(header::RETRY_AFTER));
    let page = answer.text().await.unwrap();
    assert!(page.contains("temporarily unavailable"), "{page}");
    assert!(!page.contains("Wrong username or password"), "{page}");
}
