//! Refresh, revocation, introspection and restarts, one rule each.

use super::*;

#[tokio::test]
async fn refresh_rotates_and_reuse_revokes_the_family() {
    let server = spawn(Store::memory()).await;
    let client = server.public_client().await;
    let user = server.user("alice").await;
    let first = server.tokens(&client, user).await;

    let (status, body) = server.refresh(&client, &first.refresh, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_no_nulls(&body);
    let second = body["refresh_token"].as_str().unwrap().to_owned();
    assert_ne!(second, first.refresh);

    // Reuse of the rotated token, at once: refused, and the family is revoked (no race
    // window unless the server allows one).
    let (status, body) = server.refresh(&client, &first.refresh, None).await;
    assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_grant"));
    let (status, body) = server.refresh(&client, &second, None).await;
    assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_grant"));
}

/// With a race window, parallel requests that meet one expired access token refresh it at
/// the same moment: each gets working tokens, and neither loses the grant.
#[tokio::test]
async fn with_a_race_window_refreshes_racing_with_one_token_all_succeed() {
    let window = Duration::from_secs(10);
    let server = spawn_with(Store::memory(), move |mut server| {
        server.refresh_race_window = window;
        server
    })
    .await;
    let client = server.public_client().await;
    let user = server.user("alice").await;
    let first = server.tokens(&client, user).await;

    let (a, b) = tokio::join!(
        server.refresh(&client, &first.refresh, None),
        server.refresh(&client, &first.refresh, None),
    );
    let mut successors = Vec::new();
    for (status, body) in [a, b] {
        assert_eq!(status, StatusCode::OK, "{body}");
        successors.push(body["refresh_token"].as_str().unwrap().to_owned());
    }
    assert_ne!(successors[0], successors[1]);
    for successor in &successors {
        let (status, body) = server.refresh(&client, successor, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }

    // Later, the first token is a replay: the family goes.
    server
        .clock
        .0
        .fetch_add(window.as_secs() as i64 + 1, Ordering::SeqCst);
    let (status, body) = server.refresh(&client, &first.refresh, None).await;
    assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_grant"));
}

/// Successes never count, and neither do wrong refresh tokens: nobody guesses a 256-bit token,
/// and a web page posting junk ones under a public client's id from its user's browser must
/// not lock that client out of `/token` (wrong client secrets are throttled:
/// `client_throttle.rs`).
#[tokio::test]
async fn neither_refresh_bursts_nor_wrong_refresh_tokens_are_throttled() {
    let server = spawn(Store::memory()).await;
    let client = server.public_client().await;
    let user = server.user("alice").await;

    // A client that refreshes many times in a row is never throttled: successes do not count.
    let mut refresh = server.tokens(&client, user).await.refresh;
    for _ in 0..3 * throttle::CLIENT_FAILURES_PER_CLIENT.attempts {
        let (status, body) = server.refresh(&client, &refresh, None).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        refresh = body["refresh_token"].as_str().unwrap().to_owned();
    }

    // Junk refresh tokens under the client's id, three budgets' worth: each refused, none
    // throttled, and the client's own refresh still works from the same address.
    for _ in 0..3 * throttle::CLIENT_FAILURES_PER_CLIENT.attempts {
        let (status, body) = server.refresh(&client, "junk", None).await;
        assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_grant"));
    }
    let (status, body) = server.refresh(&client, &refresh, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn refresh_may_narrow_the_scope_but_not_widen_it() {
    let server = spawn(Store::memory()).await;
    let client = server.public_client().await;
    let user = server.user("alice").await;
    let code = server.code(&client, user, "mcp:read").await;
    let (_, body, _) = server.exchange(&client, &code).await;
    let refresh = body["refresh_token"].as_str().unwrap();

    let (status, body) = server
        .refresh(&client, refresh, Some("mcp:read mcp:write"))
        .await;
    assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_scope"));
    // The refused request did not spend the token.
    let tokens = server.tokens(&client, user).await;
    let (status, body) = server
        .refresh(&client, &tokens.refresh, Some("mcp:read"))
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], json!("mcp:read"));
    let (status, body) = server.refresh(&client, refresh, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Another client cannot use it.
    let other = server.public_client().await;
    let next = body["refresh_token"].as_str().unwrap();
    let (status, body) = server.refresh(&other, next, None).await;
    assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_grant"));
    let (status, _) = server.refresh(&client, next, None).await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn revocation_and_introspection() {
    let server = spawn(Store::memory()).await;
    let client = server.public_client().await;
    let (rs_id, rs_secret) = server.resource_server().await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let user = server.user("alice").await;
    let tokens = server.tokens(&client, user).await;

    let active = server.introspect(&tokens.access, rs).await;
    assert_no_nulls(&active);
    assert_eq!(active["active"], json!(true));
    assert_eq!(active["client_id"], json!(client));
    assert_eq!(active["username"], json!("alice"));
    assert_eq!(active["sub"], json!(user.to_string()));
    assert_eq!(active["aud"], json!(server.resource()));
    assert_eq!(active["iss"], json!(server.base));
    assert_eq!(active["token_type"], json!("Bearer"));
    assert_eq!(active["scope"], json!("mcp:read mcp:write"));
    let refresh = server.introspect(&tokens.refresh, rs).await;
    assert_eq!(refresh["active"], json!(true));
    assert_eq!(
        server.introspect("not-a-token", rs).await,
        json!({"active": false})
    );

    // Unauthenticated, or authenticated as a public client: 401.
    let (status, body, _) = server
        .post("/introspect", &[("token", &tokens.access)], None)
        .await;
    assert_error(status, &body, (StatusCode::UNAUTHORIZED, "invalid_client"));
    let form = [
        ("token", tokens.access.as_str()),
        ("client_id", client.as_str()),
    ];
    let (status, body, _) = server.post("/introspect", &form, None).await;
    assert_error(status, &body, (StatusCode::UNAUTHORIZED, "invalid_client"));

    // Unknown tokens still answer 200.
    let form = [("token", "garbage"), ("client_id", client.as_str())];
    let (status, _, _) = server.post("/revoke", &form, None).await;
    assert_eq!(status, StatusCode::OK);

    let form = [
        ("token", tokens.refresh.as_str()),
        ("token_type_hint", "refresh_token"),
        ("client_id", client.as_str()),
    ];
    let (status, _, _) = server.post("/revoke", &form, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.refresh(&client, &tokens.refresh, None).await;
    assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_grant"));
    assert_eq!(
        server.introspect(&tokens.access, rs).await,
        json!({"active": false})
    );

    // Revoking an access token revokes its grant, refresh tokens included.
    let tokens = server.tokens(&client, user).await;
    let form = [
        ("token", tokens.access.as_str()),
        ("client_id", client.as_str()),
    ];
    let (status, _, _) = server.post("/revoke", &form, None).await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = server.refresh(&client, &tokens.refresh, None).await;
    assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_grant"));
}

#[tokio::test]
async fn a_restart_on_the_same_file_keeps_keys_and_grants() {
    let path = std::env::temp_dir().join(format!("outpost-as-{}.db", uuid::Uuid::new_v4()));
    let (client, tokens, kid, issuer, user) = {
        let server = spawn(outpost_store_sqlite::open(&path).await.unwrap()).await;
        let client = server.public_client().await;
        let user = server.user("alice").await;
        let tokens = server.tokens(&client, user).await;
        let kid = server.state.keyring().signing_key(T0).kid().to_owned();
        (client, tokens, kid, server.base.clone(), user)
    };

    let server = spawn(outpost_store_sqlite::open(&path).await.unwrap()).await;
    assert_eq!(server.state.keyring().signing_key(T0).kid(), kid);
    let keyring = server.state.keyring().clone();
    let claims = access_token::verify(
        &keyring,
        &tokens.access,
        &issuer,
        &format!("{issuer}/mcp"),
        T0,
    )
    .unwrap();
    assert_eq!(claims.sub, user.to_string());
    let (status, body) = server.refresh(&client, &tokens.refresh, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");

    // Rotation persists: a third start, once the new key's publication lead has passed, signs
    // with it and still verifies the old one.
    let new_kid = server.state.rotate_keys(T0 + 10).await.unwrap();
    drop(server);
    let switch = T0 + 10 + PUBLICATION_LEAD.as_secs() as i64;
    let keyring = AuthorizationServer::load_keyring(
        &outpost_store_sqlite::open(&path).await.unwrap(),
        Duration::from_secs(3600),
        switch,
    )
    .await
    .unwrap();
    assert_eq!(keyring.signing_key(switch).kid(), new_kid);
    assert!(keyring.verification_key(&kid, switch).is_some());
    let _ = std::fs::remove_file(&path);
}

#[tokio::test]
async fn client_secret_post_clients_use_the_form_and_nothing_else() {
    let server = spawn(Store::memory()).await;
    let (status, body) = server
        .register(json!({
            "redirect_uris": [REDIRECT],
            "application_type": "native",
            "token_endpoint_auth_method": "client_secret_post",
        }))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let id = body["client_id"].as_str().unwrap();
    let secret = body["client_secret"].as_str().unwrap();
    let user = server.user("bob").await;
    let code = server.code(id, user, "mcp:read").await;
    let mut form = vec![
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", REDIRECT),
        ("code_verifier", VERIFIER),
    ];
    // Not the registered method: refused before the code is spent.
    let (status, body, _) = server.post("/token", &form, Some((id, secret))).await;
    assert_error(status, &body, (StatusCode::UNAUTHORIZED, "invalid_client"));
    form.extend([("client_id", id), ("client_secret", secret)]);
    let (status, body, _) = server.post("/token", &form, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

#[tokio::test]
async fn expired_tokens_are_inactive() {
    let server = spawn(Store::memory()).await;
    let client = server.public_client().await;
    let (rs_id, rs_secret) = server.resource_server().await;
    let rs = (rs_id.as_str(), rs_secret.as_str());
    let user = server.user("alice").await;
    let tokens = server.tokens(&client, user).await;
    server.clock.0.fetch_add(3600, Ordering::SeqCst);
    assert_eq!(
        server.introspect(&tokens.access, rs).await,
        json!({"active": false})
    );
    assert_eq!(
        server.introspect(&tokens.refresh, rs).await["active"],
        json!(true)
    );
    server.clock.0.fetch_add(30 * 24 * 3600, Ordering::SeqCst);
    assert_eq!(
        server.introspect(&tokens.refresh, rs).await,
        json!({"active": false})
    );
    let (status, body) = server.refresh(&client, &tokens.refresh, None).await;
    assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_grant"));
}

#[tokio::test]
async fn purging_keeps_everything_still_usable() {
    let server = spawn(Store::memory()).await;
    let client = server.public_client().await;
    let user = server.user("alice").await;
    let tokens = server.tokens(&client, user).await;
    let code = server.code(&client, user, "mcp:read").await;
    // A wrong client secret counts per source and per client for ten minutes, as each
    // registration does per source.
    let (confidential, _) = server.confidential_client().await;
    let (status, _, _) = server
        .post(
            "/introspect",
            &[("token", "t")],
            Some((&confidential, "wrong")),
        )
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // Two hours on: the access token and both codes (the redeemed one and the unused one)
    // have expired; the refresh token has not, so its grant stays.
    server.clock.0.fetch_add(2 * 3600, Ordering::SeqCst);
    let purged = server
        .state
        .purge_expired(server.clock.now())
        .await
        .unwrap();
    assert_eq!(purged.codes, 2, "{purged:?}");
    assert_eq!(purged.throttle_attempts, 4, "{purged:?}");
    let (status, body) = server.refresh(&client, &tokens.refresh, None).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body, _) = server.exchange(&client, &code).await;
    assert_error(status, &body, (StatusCode::BAD_REQUEST, "invalid_grant"));
}

#[tokio::test]
async fn a_key_rotated_elsewhere_is_published_everywhere_before_it_signs() {
    let store = Store::memory();
    let first = spawn(store.clone()).await;
    let second = spawn(store).await;
    let old = first.state.keyring().signing_key(T0).kid().to_owned();
    assert_eq!(
        second.state.keyring().signing_key(T0).kid(),
        old,
        "one shared key"
    );

    // `outpost keys rotate`, or another instance, rotates in the shared store: the new key is
    // published, and the old one keeps signing, on the rotating instance too.
    let new = second.state.rotate_keys(T0 + 10).await.unwrap();
    assert_eq!(second.state.keyring().signing_key(T0 + 11).kid(), old);
    assert!(
        first.state.reload_keyring(T0 + 11).await.unwrap(),
        "the keys changed"
    );
    assert!(
        first
            .state
            .keyring()
            .verification_key(&new, T0 + 11)
            .is_some(),
        "the new key verifies here before any instance signs with it"
    );
    // Nothing changed since: a reload reports no change.
    assert!(!first.state.reload_keyring(T0 + 12).await.unwrap());
    let jwks = first.get("/jwks.json").await;
    assert_eq!(jwks["keys"].as_array().unwrap().len(), 2, "{jwks}");

    // Both switch at the same second, without another reload, and tokens signed with the old
    // key still verify.
    let switch = T0 + 10 + PUBLICATION_LEAD.as_secs() as i64;
    for instance in [&first, &second] {
        let keyring = instance.state.keyring();
        assert_eq!(keyring.signing_key(switch - 1).kid(), old);
        assert_eq!(keyring.signing_key(switch).kid(), new);
        assert!(keyring.verification_key(&old, switch).is_some());
    }
}
