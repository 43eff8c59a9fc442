//! `POST /login`: the login form of the authorization endpoint (RFC 6749 §3.1 leaves "the way
//! in which the authorization server authenticates the resource owner" to the server).
//!
//! 1. The CSRF token must match the cookie ([`csrf`]); otherwise 403.
//! 2. The pending request must exist, be unexpired, and have been opened by this browser
//!    ([`BrowserBinding`]); otherwise an error page.
//! 3. Throttling ([`throttle::lockout`](super::throttle::lockout)): the attempt is reserved
//!    against the account's and the source's budgets before any password is checked; a spent
//!    budget gets 429 with `Retry-After`.
//! 4. The password is verified with argon2id under the server's argon2 permits (an unknown
//!    user costs the same hash, so timing does not tell which usernames exist). A failure
//!    keeps its reserved attempts, and shows the form again with 401 and "Wrong username or
//!    password". No permit free in time: a 503 "busy, try again" page, the attempts given
//!    back.
//! 5. Success gives the attempts back and records the user on the pending request. When the
//!    user's remembered consent for this client covers the requested scope, the code is
//!    issued at once; otherwise the consent page is shown.

use std::sync::OnceLock;

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode},
    response::Response,
};

use super::{
    AuthorizationServer,
    browser::BrowserBinding,
    consent::{consent_page, issue_code},
    counters, csrf,
    form::FormParams,
    pages::{self, LoginPage},
    throttle::{ClientIp, ThrottleError, lockout},
};
use crate::password::{
    hash_password,
    limit::{Argon2Error, Argon2Pool, BUSY_RETRY_AFTER},
    verify_password,
};
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
    let Some(browser) = BrowserBinding::from_headers(&headers) else {
        return expired();
    };
    let pending = match server.pending().get(request_id, &browser, now).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return expired(),
        Err(error) => return pages::internal_error(error),
    };
    let username_text = form.get("username").unwrap_or_default().trim();
    let password = form.get("password").unwrap_or_default().to_owned();
    let username = Username::parse(username_text).ok();
    let throttles = &*server.store.throttles;
    let attempts = match lockout::admit(throttles, username.as_ref(), ip, now).await {
        Ok(attempts) => attempts,
        Err(ThrottleError::Refused { retry_after }) => return too_many_attempts(retry_after),
        Err(ThrottleError::Store(error)) => return pages::internal_error(error),
    };

    let user = match &username {
        Some(username) => match server.store.users.get_by_username(username).await {
            Ok(user) => user,
            Err(error) => return pages::internal_error(error),
        },
        None => None,
    };
    let checked = match check_password(&server.argon2, user, password).await {
        Ok(checked) => checked,
        Err(Argon2Error::Busy(_)) => {
            // The password was not evaluated: the attempt does not count.
            attempts.give_back(throttles).await;
            return pages::busy(BUSY_RETRY_AFTER);
        }
        Err(error) => return pages::internal_error(error),
    };
    let Some(user) = checked else {
        // A failure: its attempts keep counting.
        drop(attempts);
        tracing::info!(source = %ip.key(), "failed login");
        counters::login_failed();
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
    attempts.give_back(throttles).await;
    let pending = match server
        .pending()
        .sign_in(request_id, &browser, user.id, now)
        .await
    {
        Ok(Some(pending)) => pending,
        Ok(None) => return expired(),
        Err(error) => return pages::internal_error(error),
    };

    let covered = match server.store.consents.get(user.id, &pending.client_id).await {
        Ok(consent) => consent.is_some_and(|c| {
            Scope::parse(&c.scope).is_ok_and(|granted| granted.contains_all(&pending.scope))
        }),
        Err(error) => return pages::internal_error(error),
    };
    if covered {
        return match server
            .pending()
            .take_signed_in(request_id, &browser, now)
            .await
        {
            Ok(Some(pending)) => issue_code(&server, pending).await,
            Ok(None) => expired(),
            Err(error) => pages::internal_error(error),
        };
    }
    consent_page(
        &pending,
        request_id,
        form.get(csrf::FIELD_NAME).unwrap_or_default(),
    )
}

/// Verifies `password` under an argon2 permit: the user when it matches. An unknown user is
/// checked against a dummy hash so that both cases cost the same.
async fn check_password(
    argon2: &Argon2Pool,
    user: Option<UserRecord>,
    password: String,
) -> Result<Option<UserRecord>, Argon2Error> {
    argon2
        .run(move || {
            let hash = user
                .as_ref()
                .map(|u| u.password_hash.clone())
                .or_else(|| dummy_hash().cloned());
            let matches = hash.is_some_and(|h| verify_password(&password, &h));
            user.filter(|_| matches)
        })
        .await
}

fn dummy_hash() -> Option<&'static PasswordHash> {
    static DUMMY: OnceLock<Option<PasswordHash>> = OnceLock::new();
    DUMMY
        .get_or_init(|| hash_password("outpost dummy password").ok())
        .as_ref()
}

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

/// 403: the form did not come from this server's page (CSRF check failed).
fn forbidden() -> Response {
    pages::error_page(
        StatusCode::FORBIDDEN,
        "Request refused",
        "The form could not be verified (missing or mismatched security token). Make sure \
         cookies are enabled, then start again from the application.",
    )
}

/// 400: the pending request is unknown, expired, or another browser's (the three look the
/// same from here: the request is found only with its browser's binding).
pub fn expired() -> Response {
    pages::error_page(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in request is unknown, has expired, or was started in another browser. \
         Go back to the application and sign in again from this browser.",
    )
}

fn too_many_attempts(retry_after: u64) -> Response {
    pages::too_many_requests(
        "Too many failed sign-in attempts",
        &format!(
            "Too many failed sign-in attempts for this account or from this network; try \
             again in {}.",
            pages::minutes(retry_after)
        ),
        retry_after,
    )
}
