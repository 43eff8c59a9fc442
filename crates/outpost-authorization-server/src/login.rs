//! `POST /login`: the login form of the authorization endpoint (RFC 6749 §3.1 leaves "the way
//! in which the authorization server authenticates the resource owner" to the server).
//!
//! 1. The CSRF token must match the cookie ([`csrf`]); otherwise 403.
//! 2. The pending request must exist and be unexpired; otherwise an error page.
//! 3. Throttling ([`throttle`](super::throttle)): an account or source address past its failed
//!    logins in the window gets 429 with `Retry-After`, before any password is checked.
//! 4. The password is verified with argon2id on the blocking pool (an unknown user costs the
//!    same hash, so timing does not tell which usernames exist). A failure counts against the
//!    account and the source, and shows the form again with 401 and "Wrong username or
//!    password".
//! 5. Success clears the account's failures. When the user's remembered consent for this
//!    client covers the requested scope, the code is issued at once; otherwise the consent
//!    page is shown.

use std::sync::OnceLock;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::Response,
};

use super::{
    AuthorizationServer,
    consent::{consent_page, issue_code},
    csrf,
    form::FormParams,
    pages::{self, LoginPage},
    throttle::ClientIp,
};
use crate::password::{hash_password, verify_password};
use outpost_oauth::scope::Scope;
use outpost_store::{PasswordHash, UserRecord, Username};

/// What the user is told after a failed login.
pub const WRONG_CREDENTIALS: &str = "Wrong username or password.";

/// `POST /login`.
pub async fn login(
    State(server): State<AuthorizationServer>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match verified_form(&headers, &body) {
        Ok(form) => form,
        Err(refusal) => return *refusal,
    };
    let now = server.now();
    let request_id = form.get("request").unwrap_or_default();
    let Some(pending) = server.pending.get(request_id, now) else {
        return expired();
    };
    let username_text = form.get("username").unwrap_or_default().trim();
    let password = form.get("password").unwrap_or_default().to_owned();
    let account_key = username_text.to_lowercase();
    let source_key = ip.key();
    let throttles = &server.throttles;
    if let Err(retry_after) = throttles
        .login_account
        .check(&account_key, now)
        .and_then(|()| throttles.login_source.check(&source_key, now))
    {
        return too_many_attempts(retry_after);
    }

    let user = match Username::parse(username_text) {
        Ok(username) => match server.store.users.get_by_username(&username).await {
            Ok(user) => user,
            Err(error) => return pages::internal_error(error),
        },
        Err(_) => None,
    };
    let Some(user) = check_password(user, password).await else {
        throttles.login_account.record(&account_key, now);
        throttles.login_source.record(&source_key, now);
        tracing::info!(source = %source_key, "failed login");
        let page = LoginPage {
            client_name: &pending.client_name,
            request_id,
            csrf: form.get(csrf::FIELD_NAME).unwrap_or_default(),
            username: username_text,
            message: Some(WRONG_CREDENTIALS),
            action: "login",
        };
        return pages::render_form(StatusCode::UNAUTHORIZED, &page, None, &pending.redirect_uri);
    };
    throttles.login_account.clear(&account_key);
    server.pending.sign_in(request_id, user.id);

    let covered = match server.store.consents.get(user.id, &pending.client_id).await {
        Ok(consent) => consent.is_some_and(|c| {
            Scope::parse(&c.scope).is_ok_and(|granted| granted.contains_all(&pending.scope))
        }),
        Err(error) => return pages::internal_error(error),
    };
    if covered {
        let Some(mut pending) = server.pending.take(request_id, now) else {
            return expired();
        };
        pending.user_id = Some(user.id);
        return issue_code(&server, pending).await;
    }
    consent_page(
        &pending,
        request_id,
        form.get(csrf::FIELD_NAME).unwrap_or_default(),
    )
}

/// Verifies `password` off the async runtime; an unknown user is checked against a dummy hash
/// so that both cases cost the same.
async fn check_password(user: Option<UserRecord>, password: String) -> Option<UserRecord> {
    tokio::task::spawn_blocking(move || {
        let hash = user
            .as_ref()
            .map(|u| u.password_hash.clone())
            .or_else(|| dummy_hash().cloned());
        let matches = hash.is_some_and(|h| verify_password(&password, &h));
        user.filter(|_| matches)
    })
    .await
    .ok()
    .flatten()
}

fn dummy_hash() -> Option<&'static PasswordHash> {
    static DUMMY: OnceLock<Option<PasswordHash>> = OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password("outpost dummy password").ok())
        .as_ref()
}

/// 403: the form did not come from this server's page (CSRF check failed).
/// The posted form of a login or consent page, once its CSRF token checks out; otherwise the
/// page to answer with (400 for an unreadable form, 403 for a missing or wrong token).
pub fn verified_form(headers: &HeaderMap, body: &[u8]) -> Result<FormParams, Box<Response>> {
    let form = FormParams::parse(headers, body).map_err(|error| {
        Box::new(pages::error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            error.description(),
        ))
    })?;
    if csrf::verify(headers, form.get(csrf::FIELD_NAME)) {
        Ok(form)
    } else {
        Err(Box::new(forbidden()))
    }
}

fn forbidden() -> Response {
    pages::error_page(
        StatusCode::FORBIDDEN,
        "Request refused",
        "The form could not be verified (missing or mismatched security token). Make sure \
         cookies are enabled, then start again from the application.",
    )
}

/// 400: the pending request is unknown or expired.
pub fn expired() -> Response {
    pages::error_page(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in request is unknown or has expired.",
    )
}

fn too_many_attempts(retry_after: u64) -> Response {
    let minutes = retry_after.div_ceil(60);
    let mut response = pages::error_page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many failed sign-in attempts",
        &format!(
            "Too many failed sign-in attempts. Sign-in is locked for this account or network; \
             try again in {minutes} minute{}.",
            if minutes == 1 { "" } else { "s" }
        ),
    );
    response
        .headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(retry_after));
    response
}
