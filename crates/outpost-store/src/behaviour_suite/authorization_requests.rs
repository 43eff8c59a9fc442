//! The suite's checks of [`PendingAuthorizationStore`](crate::PendingAuthorizationStore) and
//! [`ClientDocumentStore`](crate::ClientDocumentStore): what they keep, for how long, and
//! their bounds.

use super::NOW;
use crate::{
    ClientDocumentRecord, ClientId, DocumentOutcome, PendingAuthorizationRecord, Store, StoreError,
    UserId, token_hash,
};

fn pending(id: &str, expires_at: i64) -> PendingAuthorizationRecord {
    PendingAuthorizationRecord {
        id_hash: token_hash(id),
        client_id: ClientId::parse("client-p").expect("valid client id"),
        client_name: "Test client".into(),
        client_host: Some("app.example".into()),
        redirect_uri: "http://127.0.0.1/callback".into(),
        // Not the default a column or field added later reads as: kept as written.
        redirect_uri_sent: false,
        scope: "mcp".into(),
        resource: Some("https://mcp.example/mcp".into()),
        code_challenge: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
        state: Some("xyz".into()),
        user_id: None,
        expires_at,
    }
}

/// A pending request is found until it expires, signed in to while it lives, and taken once,
/// only after a sign-in.
pub async fn pending_authorizations_live_until_decided_or_expired(store: Store) {
    let requests = &store.pending_authorizations;
    let (id, expires_at) = (token_hash("r1"), NOW + 600);
    let record = pending("r1", expires_at);
    requests
        .insert(record.clone(), NOW, 100)
        .await
        .expect("insert");
    let dup = requests.insert(record.clone(), NOW, 100).await;
    assert!(matches!(dup, Err(StoreError::Conflict(_))), "{dup:?}");
    assert_eq!(
        requests.get(&id, NOW).await.expect("get"),
        Some(record.clone())
    );

    // Nobody signed in yet: consent cannot take it, and it stays.
    assert_eq!(requests.take_signed_in(&id, NOW).await.expect("take"), None);
    let user = UserId::random();
    let signed_in = requests.sign_in(&id, user, NOW + 1).await.expect("sign in");
    assert_eq!(
        signed_in.as_ref().and_then(|r| r.user_id),
        Some(user),
        "{signed_in:?}"
    );
    assert_eq!(requests.get(&id, NOW).await.expect("get"), signed_in);
    let taken = requests.take_signed_in(&id, NOW + 2).await.expect("take");
    assert_eq!(taken, signed_in);
    assert_eq!(
        requests.take_signed_in(&id, NOW + 2).await.expect("take"),
        None
    );
    assert_eq!(requests.get(&id, NOW).await.expect("get"), None);

    // Expired at `expires_at`: invisible, and no sign-in or decision revives it.
    let late = token_hash("r2");
    requests
        .insert(pending("r2", expires_at), NOW, 100)
        .await
        .expect("insert");
    assert_eq!(requests.get(&late, expires_at).await.expect("get"), None);
    let unknown = requests.sign_in(&late, user, expires_at).await;
    assert_eq!(unknown.expect("sign in"), None);
    let nobody = requests.sign_in(&token_hash("nope"), user, NOW).await;
    assert_eq!(nobody.expect("sign in"), None);
    requests.sign_in(&late, user, NOW).await.expect("sign in");
    assert_eq!(
        requests
            .take_signed_in(&late, expires_at)
            .await
            .expect("take"),
        None
    );

    assert_eq!(
        requests.purge_expired(expires_at - 1).await.expect("purge"),
        0
    );
    assert_eq!(requests.purge_expired(expires_at).await.expect("purge"), 1);
}

/// Removing a user's signed-in requests leaves the ones nobody or someone else signed in to.
pub async fn a_users_signed_in_requests_are_removed_together(store: Store) {
    let requests = &store.pending_authorizations;
    let (user, other) = (UserId::random(), UserId::random());
    for id in ["mine", "mine-too", "theirs", "nobodys"] {
        requests
            .insert(pending(id, NOW + 600), NOW, 100)
            .await
            .expect("insert");
    }
    for (id, who) in [("mine", user), ("mine-too", user), ("theirs", other)] {
        requests
            .sign_in(&token_hash(id), who, NOW + 1)
            .await
            .expect("sign in");
    }
    let removed = requests
        .remove_signed_in_of_user(user)
        .await
        .expect("remove the user's");
    assert_eq!(removed, 2);
    let live = |id: &str| {
        let id = token_hash(id);
        async move { requests.get(&id, NOW + 2).await.expect("get").is_some() }
    };
    assert_eq!(
        (
            live("mine").await,
            live("mine-too").await,
            live("theirs").await,
            live("nobodys").await
        ),
        (false, false, true, true)
    );
    assert_eq!(
        requests
            .take_signed_in(&token_hash("mine"), NOW + 2)
            .await
            .expect("take"),
        None,
        "a removed sign-in cannot consent"
    );
    assert_eq!(
        requests
            .remove_signed_in_of_user(user)
            .await
            .expect("again"),
        0
    );
}

/// Inserting drops expired requests, then the ones expiring soonest past the bound.
pub async fn pending_authorizations_are_bounded(store: Store) {
    let requests = &store.pending_authorizations;
    for (n, expires_at) in [(0, NOW + 5), (1, NOW + 300), (2, NOW + 100), (3, NOW + 400)] {
        requests
            .insert(pending(&format!("b{n}"), expires_at), NOW, 3)
            .await
            .expect("insert");
    }
    let live = |n: usize| {
        let id = token_hash(&format!("b{n}"));
        async move { requests.get(&id, NOW).await.expect("get").is_some() }
    };
    assert_eq!(
        (live(0).await, live(1).await, live(2).await, live(3).await),
        (false, true, true, true),
        "the one expiring soonest made room"
    );
    // At NOW + 100 the request expiring then is gone: room without displacing another.
    requests
        .insert(pending("b4", NOW + 700), NOW + 100, 3)
        .await
        .expect("insert");
    assert_eq!(requests.purge_expired(NOW + 100).await.expect("purge"), 0);
    assert!(live(1).await && live(3).await && live(4).await);
}

fn document(url: &str, outcome: DocumentOutcome, expires_at: i64) -> ClientDocumentRecord {
    ClientDocumentRecord {
        client_id: ClientId::parse(url).expect("valid client id"),
        outcome,
        expires_at,
    }
}

/// Documents and failures are kept until they expire, replaced by newer answers, bounded, and
/// purged once expired.
pub async fn client_documents_are_kept_until_they_expire(store: Store) {
    let documents = &store.client_documents;
    let url = "https://app.example/client.json";
    let id = ClientId::parse(url).expect("valid client id");
    let body = format!(
        r#"{{"client_id":"{url}","padding":"{}"}}"#,
        "x".repeat(60_000)
    );
    let fetched = document(url, DocumentOutcome::Fetched(body), NOW + 300);
    documents.put(fetched.clone(), NOW, 10).await.expect("put");
    assert_eq!(
        documents.get(&id, NOW + 299).await.expect("get"),
        Some(fetched)
    );
    assert_eq!(documents.get(&id, NOW + 300).await.expect("get"), None);

    let failed = document(url, DocumentOutcome::Failed("timeout".into()), NOW + 10);
    documents.put(failed.clone(), NOW, 10).await.expect("put");
    assert_eq!(
        documents.get(&id, NOW).await.expect("get"),
        Some(failed),
        "a newer answer replaces the document"
    );

    // Past the bound, the answer expiring soonest goes.
    let others = ["https://b.example/c", "https://c.example/c"];
    for (url, expires_at) in others.iter().zip([NOW + 600, NOW + 60]) {
        let record = document(url, DocumentOutcome::Failed("x".into()), expires_at);
        documents.put(record, NOW, 2).await.expect("put");
    }
    let held = |url: &'static str| async move {
        let id = ClientId::parse(url).expect("valid client id");
        documents.get(&id, NOW).await.expect("get").is_some()
    };
    assert_eq!(
        (
            held(url).await,
            held(others[0]).await,
            held(others[1]).await
        ),
        (false, true, true)
    );
    assert_eq!(documents.purge_expired(NOW + 60).await.expect("purge"), 1);
    assert_eq!(documents.purge_expired(NOW + 60).await.expect("purge"), 0);
    assert!(held(others[0]).await);
}
