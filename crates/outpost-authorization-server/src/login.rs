//! `POST /login`: the login form of the authorization endpoint (RFC 6749 §3.1 leaves "the way
//! in which the authorization server authenticates the resource owner" to the server).
//!
//! 1. The CSRF token must match the cookie ([`csrf`]); otherwise 403.
//! 2. The pending request must exist, be unexpired, and have been opened by this browser
//!    ([`BrowserBinding`]); otherwise an error page.
//! 3. Throttling ([`throttle::lockout`](super::throttle::lockout)): the attempt is reserved
//!    against the budget of the browser's [device](crate::device) when it has signed in to
//!    this account before, else the account's and the source's, before any password is
//!    checked; a spent budget gets 429 with `Retry-After`.
//! 4. The server's [`UserDirectory`](crate::users::UserDirectory) verifies the password (the
//!    built-in one with argon2id under the server's argon2 permits; an unknown user costs the
//!    same hash, so timing does not tell which usernames exist). A failure keeps its reserved
//!    attempts, and shows the form again with 401 and "Wrong username or password". No
//!    answer — the directory busy (503 "busy, try again") or unreachable (503 "temporarily
//!    unavailable") — gives the attempts back.
//! 5. Success gives the attempts back, makes the browser a trusted device of the account
//!    (its cookie is set on the answer), and records the user on the pending request. The
//!    requested scope is narrowed to what this user may be granted (the per-user scope policy
//!    of [`users`](crate::users)); nothing left is `invalid_scope` to the client (RFC 6749
//!    §4.1.2.1). When the user's remembered consent for this client covers the narrowed scope,
//!    the code is issued at once; otherwise the consent page lists it.

use axum::{
    body::Bytes,
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::Response,
};

use super::{
    AuthorizationServer,
    browser::BrowserBinding,
    consent::{consent_page, issue_code},
    counters, csrf,
    device::{self, TrustedDevice},
    form::FormParams,
    pages::{self, LoginView},
    throttle::{ClientIp, ThrottleError, lockout},
};
use crate::{
    authorize::redirect_to_client,
    password::limit::BUSY_RETRY_AFTER,
    pending::PendingAuthorization,
    users::{self, DirectoryError, DirectoryUser},
};
use outpost_oauth::scope::Scope;
use outpost_store::Username;

/// What the user is told after a failed login.
pub const WRONG_CREDENTIALS: &str = "Wrong username or password.";

/// `POST /login`.
pub async fn login(
    State(server): State<AuthorizationServer>,
    ip: ClientIp,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let form = match verified_form(&headers, &body, server.issuer_is_https()) {
        Ok(form) => form,
        Err(refusal) => return *refusal,
    };
    let now = server.now();
    let request_id = form.get("request").unwrap_or_default();
    let Some(browser) = BrowserBinding::from_headers(&headers, server.issuer_is_https()) else {
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
    let device = username
        .as_ref()
        .and_then(|username| TrustedDevice::from_headers(&server, &headers, username, now));
    let attempts =
        match lockout::admit(throttles, username.as_ref(), ip, device.as_ref(), now).await {
            Ok(attempts) => attempts,
            Err(ThrottleError::Refused { retry_after }) => return too_many_attempts(retry_after),
            Err(ThrottleError::Store(error)) => return pages::internal_error(error),
        };

    let verified = match &username {
        Some(username) => server.users().verify_password(username, &password).await,
        // No account can have this name: no directory is asked, and the answer is the same.
        None => Ok(None),
    };
    let user = match verified {
        Ok(Some(user)) => user,
        Ok(None) => {
            // A failure: its attempts keep counting.
            drop(attempts);
            tracing::info!(source = %ip.key(), "failed login");
            counters::login_failed();
            let page = LoginView {
                client_name: pending.client_name.clone(),
                request_id: request_id.to_owned(),
                csrf: form.get(csrf::FIELD_NAME).unwrap_or_default().to_owned(),
                username: username_text.to_owned(),
                message: Some(WRONG_CREDENTIALS.to_owned()),
                action: "login".to_owned(),
            };
            return pages::render_form(StatusCode::UNAUTHORIZED, page, None, &pending.redirect_uri);
        }
        Err(error) => {
            // The password was not evaluated: the attempt does not count.
            attempts.give_back(throttles).await;
            return match error {
                DirectoryError::Busy(_) => pages::busy(BUSY_RETRY_AFTER),
                other => pages::internal_error(other),
            };
        }
    };
    attempts.give_back(throttles).await;
    if server.user_directory.is_some()
        && let Err(error) = users::ensure_stored(&server, &user).await
    {
        return pages::internal_error(error);
    }
    let mut response = signed_in(
        &server,
        request_id,
        &browser,
        &user,
        form.get(csrf::FIELD_NAME).unwrap_or_default(),
        "consent",
        now,
    )
    .await;
    if let Some(cookie) = username
        .as_ref()
        .and_then(|username| device::cookie_for(&server, username, now))
    {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// What follows a sign-in, by password or at the upstream provider: the sign-in recorded on
/// pending request `request_id` of `browser`, the scope narrowed to what `user` may be granted
/// (`invalid_scope` to the client when nothing is left), then the code at once when the user's
/// remembered consent covers it, else the consent page (its form carrying `csrf`, posted to
/// `consent_action`: `/consent` relative to the page's own path).
pub async fn signed_in(
    server: &AuthorizationServer,
    request_id: &str,
    browser: &BrowserBinding,
    user: &DirectoryUser,
    csrf: &str,
    consent_action: &str,
    now: i64,
) -> Response {
    let pending = match server
        .pending()
        .sign_in(request_id, browser, user.subject, now)
        .await
    {
        Ok(Some(pending)) => pending,
        Ok(None) => return expired(),
        Err(error) => return pages::internal_error(error),
    };
    let scope = grantable_scope(server, &pending, user);
    if scope.is_empty() {
        return refuse_scope(server, request_id, browser, now).await;
    }
    let pending = PendingAuthorization { scope, ..pending };

    let covered = match server
        .store
        .consents
        .get(user.subject, &pending.client_id)
        .await
    {
        Ok(consent) => consent.is_some_and(|c| {
            Scope::parse(&c.scope).is_ok_and(|granted| granted.contains_all(&pending.scope))
        }),
        Err(error) => return pages::internal_error(error),
    };
    if covered {
        return match server
            .pending()
            .take_signed_in(request_id, browser, now)
            .await
        {
            Ok(Some(taken)) => {
                issue_code(
                    server,
                    PendingAuthorization {
                        scope: pending.scope,
                        ..taken
                    },
                )
                .await
            }
            Ok(None) => expired(),
            Err(error) => pages::internal_error(error),
        };
    }
    consent_page(&pending, request_id, csrf, consent_action)
}

/// What of the request's scope `user` may be granted: the per-user scope policy
/// ([`users`](crate::users)), the baseline and the user's allowed scopes.
pub fn grantable_scope(
    server: &AuthorizationServer,
    pending: &PendingAuthorization,
    user: &DirectoryUser,
) -> Scope {
    pending
        .scope
        .intersection(&user.grantable(&server.default_scope))
}

/// Ends signed-in request `request_id`: the user may be granted none of the requested scope,
/// so the client gets `invalid_scope` (RFC 6749 §4.1.2.1) with its `state`.
pub async fn refuse_scope(
    server: &AuthorizationServer,
    request_id: &str,
    browser: &BrowserBinding,
    now: i64,
) -> Response {
    match server
        .pending()
        .take_signed_in(request_id, browser, now)
        .await
    {
        Ok(Some(pending)) => redirect_to_client(
            server,
            &pending.redirect_uri,
            &[
                ("error", "invalid_scope"),
                (
                    "error_description",
                    "this user may not be granted any of the requested scopes",
                ),
            ],
            pending.state.as_deref(),
        ),
        Ok(None) => expired(),
        Err(error) => pages::internal_error(error),
    }
}

/// The posted form of a login or consent page, once its CSRF token checks out; otherwise the
/// page to answer with (400 for an unreadable form, 403 for a missing or wrong token).
pub fn verified_form(
    headers: &HeaderMap,
    body: &[u8],
    secure: bool,
) -> Result<FormParams, Box<Response>> {
    let form = FormParams::parse(headers, body).map_err(|error| {
        Box::new(pages::error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            error.description(),
        ))
    })?;
    if csrf::verify(headers, form.get(csrf::FIELD_NAME), secure) {
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
         cookies are enabled.",
    )
}

/// 400: the pending request is unknown, expired, or another browser's (the three look the
/// same from here: the request is found only with its browser's binding).
pub fn expired() -> Response {
    pages::error_page(
        StatusCode::BAD_REQUEST,
        "Sign-in expired",
        "This sign-in request is unknown, has expired, or was started in another browser: \
         sign in again from this browser.",
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
