//! `Outpost::builder` over real HTTP, with the reference server as the handler, as a library
//! user would write it: authentication on by default (a `401` asking for the baseline scope),
//! the protected resource and authorization server metadata naming the real port when the
//! address was port 0, the scope a tool declares collected from the handler and advertised, the
//! demo users in the store, and errors that name the setting at fault.

use outpost::{
    BuildError, ConfigError, Outpost, OutpostBuilder,
    auth::resource::RequiredScopes,
    store::{Store, Username},
};
use outpost_reference::{ReferenceServer, tools::identity::ADMIN_SCOPE};
use serde_json::Value;

/// The reference server on a free loopback port, over `store`.
fn builder(store: &Store) -> OutpostBuilder<ReferenceServer> {
    let reference = ReferenceServer::new();
    Outpost::builder_with_factory(move || reference.for_session())
        .bind("127.0.0.1:0".parse().expect("address"))
        .opened_store(store.clone(), "memory://")
}

/// Builds and serves in the background; the base URL.
async fn serve(builder: OutpostBuilder<ReferenceServer>) -> String {
    let server = builder.build().await.expect("build");
    let base_url = server.config().base_url();
    tokio::spawn(server.serve(std::future::pending()));
    base_url
}

async fn get_json(url: &str) -> Value {
    let response = reqwest::get(url).await.expect(url);
    assert_eq!(response.status(), 200, "{url}");
    response.json().await.expect("JSON")
}

#[tokio::test]
async fn defaults_authenticate_and_advertise_the_scopes_the_tools_declare() {
    let store = Store::memory();
    let base = serve(builder(&store)).await;
    assert!(
        !base.ends_with(":0"),
        "the URLs carry the bound port: {base}"
    );

    let unauthenticated = reqwest::Client::new()
        .post(format!("{base}/mcp"))
        .header("content-type", "application/json")
        .header("accept", "application/json, text/event-stream")
        .body(r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#)
        .send()
        .await
        .expect("POST /mcp");
    assert_eq!(unauthenticated.status(), 401);
    let challenge = unauthenticated.headers()["www-authenticate"]
        .to_str()
        .expect("text");
    assert!(challenge.contains(r#"scope="mcp""#), "{challenge}");

    let resource = get_json(&format!("{base}/.well-known/oauth-protected-resource/mcp")).await;
    assert_eq!(resource["resource"], format!("{base}/mcp"));
    assert_eq!(resource["authorization_servers"][0], base);
    let scopes = resource["scopes_supported"].to_string();
    assert!(
        scopes.contains("\"mcp\"") && scopes.contains(ADMIN_SCOPE),
        "{scopes}"
    );

    let server = get_json(&format!("{base}/.well-known/oauth-authorization-server")).await;
    assert_eq!(server["issuer"], base);
    let users = store.users.list().await.expect("users");
    assert!(users.is_empty(), "no demo users unless asked for");
}

#[tokio::test]
async fn demo_users_may_be_granted_what_the_demo_allows_them() {
    let store = Store::memory();
    serve(builder(&store).demo_users()).await;
    let user = |name: &str| {
        let store = store.clone();
        let name = Username::parse(name).expect("name");
        async move { store.users.get_by_username(&name).await.expect("get") }
    };
    let alice = user("alice").await.expect("alice exists");
    assert!(alice.allowed_scopes.contains(ADMIN_SCOPE));
    let bob = user("bob").await.expect("bob exists");
    assert!(bob.allowed_scopes.is_empty());
}

/// The demo users stay in the store after a demo start; a later start that others can reach
/// is refused while one of them still has the public password.
#[tokio::test]
async fn a_public_start_refuses_demo_users_left_with_public_passwords() {
    let store = Store::memory();
    builder(&store)
        .demo_users()
        .build()
        .await
        .expect("demo build");
    let public = "0.0.0.0:0".parse().expect("address");
    let refused = builder(&store)
        .bind(public)
        .public_url("https://mcp.example.com".parse().expect("url"))
        .build()
        .await;
    let Err(BuildError::DemoPasswordsOnPublicBind { users, .. }) = refused else {
        panic!("expected a refusal, got {:?}", refused.err());
    };
    assert_eq!(users, "alice, bob");

    // A changed password is no longer public; removing the user does it too.
    let alice = store
        .users
        .get_by_username(&Username::parse("alice").expect("name"))
        .await
        .expect("get")
        .expect("alice");
    let hash =
        outpost::auth::server::password::hash_password("a real secret of alice").expect("hash");
    store
        .users
        .set_password_hash(alice.id, hash)
        .await
        .expect("passwd");
    let bob = Username::parse("bob").expect("name");
    store.users.delete(&bob).await.expect("remove");
    builder(&store)
        .bind(public)
        .public_url("https://mcp.example.com".parse().expect("url"))
        .build()
        .await
        .expect("public build");
}

#[tokio::test]
async fn the_scopes_of_any_handlers_tools_are_collected() {
    let scopes = RequiredScopes::from_handler(ReferenceServer::new())
        .await
        .expect("tools/list");
    let admin = scopes
        .for_tool("serverStatus")
        .expect("serverStatus declares a scope");
    assert_eq!(admin.to_string(), ADMIN_SCOPE);
    assert!(scopes.for_tool("echo").is_none());
}

#[tokio::test]
async fn errors_name_the_setting() {
    let store = Store::memory();
    let public = "0.0.0.0:0".parse().expect("address");
    let refused = builder(&store)
        .bind(public)
        .public_url("https://mcp.example.com".parse().expect("url"))
        .demo_users()
        .build()
        .await;
    assert!(matches!(refused, Err(BuildError::DemoUsersOnPublicBind(_))));

    let refused = builder(&store).bind(public).build().await;
    assert!(matches!(
        refused,
        Err(BuildError::Config(
            ConfigError::WildcardBindWithoutPublicUrl(_)
        ))
    ));

    let refused = builder(&store).bind(public).no_auth().build().await;
    assert!(matches!(
        refused,
        Err(BuildError::Config(ConfigError::NoAuthOnPublicBind(_)))
    ));

    let refused = builder(&store).no_auth().demo_users().build().await;
    assert!(matches!(
        refused,
        Err(BuildError::Conflict {
            setting: "demo_users",
            other: "no_auth"
        })
    ));

    let Err(error) = builder(&store).baseline_scope("mcp\"").build().await else {
        panic!("a malformed baseline scope was accepted");
    };
    assert!(error.to_string().starts_with("baseline_scope: "), "{error}");

    let Err(error) = builder(&store).store("postgres://db").build().await else {
        panic!("an unsupported store URL was accepted");
    };
    assert!(
        error.to_string().starts_with("store postgres://db: "),
        "{error}"
    );
}
