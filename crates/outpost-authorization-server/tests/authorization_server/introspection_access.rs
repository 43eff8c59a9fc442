//! Who may introspect a token (RFC 7662 §2.1, §4): the client it was issued to, and the
//! clients designated as resource servers. Any other confidential client learns only
//! `{"active": false}`, not whose token it is.

use super::*;

#[tokio::test]
async fn only_the_tokens_client_and_resource_servers_may_introspect() {
    let server = spawn(Store::memory()).await;
    let (rs, rs_secret) = server.resource_server().await;
    let (owner, owner_secret) = server.confidential_client().await;
    let (other, other_secret) = server.confidential_client().await;
    let user = server.user("alice").await;

    // A token issued to the confidential client `owner`.
    let code = server.code(&owner, user, "mcp:read").await;
    let resource = server.resource();
    let (status, body, _) = server
        .post(
            "/token",
            &[
                ("grant_type", "authorization_code"),
                ("code", &code),
                ("redirect_uri", REDIRECT),
                ("code_verifier", VERIFIER),
                ("resource", &resource),
            ],
            Some((&owner, &owner_secret)),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let access = body["access_token"].as_str().unwrap();
    let refresh = body["refresh_token"].as_str().unwrap();

    for token in [access, refresh] {
        assert_eq!(
            server.introspect(token, (&other, &other_secret)).await,
            json!({"active": false}),
            "another client learns nothing"
        );
        let own = server.introspect(token, (&owner, &owner_secret)).await;
        assert_eq!(own["active"], json!(true), "{own}");
        assert_eq!(own["client_id"], json!(owner));
        assert_eq!(own["username"], json!("alice"));
        assert_eq!(own["sub"], json!(user.to_string()));
        assert_eq!(own["scope"], json!("mcp:read"));
        let by_rs = server.introspect(token, (&rs, &rs_secret)).await;
        assert_eq!(by_rs["active"], json!(true), "{by_rs}");
        assert_eq!(by_rs["client_id"], json!(owner));
    }
}
