//! The demo users of [`OutpostBuilder::demo_users`](super::OutpostBuilder::demo_users):
//! `alice` / `password123`, who may be granted every scope the server supports, and `bob` /
//! `password456`, who may be granted the baseline only.
//!
//! Several instances may start on one store at the same moment: the users are created once
//! (another instance's `Conflict` means the user exists, which is all this asks).
//!
//! The users stay in the store when a later start drops the demo: [`still_public`] finds those
//! whose password is still the public one, which a start on a non-loopback address refuses.

use crate::{
    auth::{scope::Scope, server::AuthorizationServer},
    store::{ScopeSet, StoreError, UserId, UserRecord, Username},
};

use super::BuildError;

/// The demo users: name, password, and whether they may be granted the scopes beyond the
/// baseline.
pub const DEMO_USERS: [(&str, &str, bool); 2] = [
    ("alice", "password123", true),
    ("bob", "password456", false),
];

/// The demo users in `server`'s store whose password is still the demo's (a password check
/// each, at start only).
pub(super) async fn still_public(
    server: &AuthorizationServer,
) -> Result<Vec<&'static str>, BuildError> {
    let failed = |error: &dyn std::fmt::Display| BuildError::DemoUsers(error.to_string());
    let mut public = Vec::new();
    for (name, password, _) in DEMO_USERS {
        let username = Username::parse(name).map_err(|e| failed(&e))?;
        let Some(user) = server
            .store
            .users
            .get_by_username(&username)
            .await
            .map_err(|e| failed(&e))?
        else {
            continue;
        };
        let demo_password = server
            .argon2
            .verify(password.to_owned(), user.password_hash)
            .await
            .map_err(|e| failed(&e))?;
        if demo_password {
            public.push(name);
        }
    }
    Ok(public)
}

/// Creates the demo users that are missing from `server`'s store, and gives an existing demo
/// user the scopes the demo allows them when they lack one (a store from before per-user
/// scopes, or a server that supports a new scope); passwords and anything else of an
/// existing user are left as they are.
pub(super) async fn ensure(
    server: &AuthorizationServer,
    beyond_baseline: &Scope,
) -> Result<(), BuildError> {
    let failed = |error: &dyn std::fmt::Display| BuildError::DemoUsers(error.to_string());
    let users = &server.store.users;
    for (name, password, privileged) in DEMO_USERS {
        let username = Username::parse(name).map_err(|e| failed(&e))?;
        let allowed = if privileged {
            beyond_baseline.to_string()
        } else {
            String::new()
        };
        let allowed_scopes = ScopeSet::parse(&allowed).map_err(|e| failed(&e))?;
        if let Some(user) = users
            .get_by_username(&username)
            .await
            .map_err(|e| failed(&e))?
        {
            if allowed_scopes
                .iter()
                .any(|s| !user.allowed_scopes.contains(s))
            {
                let mut widened: Vec<&str> = user.allowed_scopes.iter().collect();
                widened.extend(allowed_scopes.iter());
                let widened = ScopeSet::from_tokens(widened).map_err(|e| failed(&e))?;
                users
                    .set_allowed_scopes(user.id, widened)
                    .await
                    .map_err(|e| failed(&e))?;
                tracing::info!(user = name, scopes = %allowed, "gave the demo user its scopes");
            }
            continue;
        }
        let password_hash = server
            .argon2
            .hash(password.to_owned())
            .await
            .map_err(|e| failed(&e))?;
        let created = users
            .create(UserRecord {
                id: UserId::random(),
                username,
                password_hash,
                allowed_scopes,
                created_at: server.now(),
            })
            .await;
        match created {
            Ok(()) => tracing::info!(user = name, "created demo user"),
            Err(StoreError::Conflict(_)) => {}
            Err(error) => return Err(failed(&error)),
        }
    }
    let alice = if beyond_baseline.is_empty() {
        "alice".to_owned()
    } else {
        format!("alice (who may be granted every scope: {beyond_baseline})")
    };
    tracing::warn!(
        "demo users: anyone who can reach this server can log in as {alice} and bob, whose \
         passwords are public"
    );
    Ok(())
}
