//! `GET /oauth/upstream/callback`: the provider's authorization response (RFC 6749 §4.1.2,
//! OpenID Connect Core 1.0 §3.1.2.5), the end of the upstream leg.
//!
//! 1. The pending request is found by `state` and this browser's binding cookie; otherwise
//!    the "sign-in expired" page (a response from another browser, a replay after the request
//!    ended, or one older than the request's 10 minutes).
//! 2. An `error` from the provider (the user declined, the provider refused the request) is
//!    shown on a page naming it; the pending request stays, so starting again from the
//!    application works.
//! 3. `iss` (RFC 9207): required and equal to the provider's issuer when its metadata says it
//!    sends one; when sent anyway, equal too. A mismatch is a mix-up attack: refused.
//! 4. The code is redeemed at the provider's token endpoint with this server's client secret
//!    and the PKCE verifier; the ID token is validated ([`id_token`](super::id_token)); the
//!    provider's access and refresh tokens are dropped unread.
//! 5. The allowed domains are checked, the user is found or created
//!    ([`account`](super::account)), and the sign-in continues as a password sign-in would:
//!    the per-user scope policy, the consent page or, with consent remembered, the code.
//!
//! The provider unreachable (token endpoint or keys) is a 503 page with `Retry-After`; a
//! provider answer that does not check out is a 502 page, the cause in the log (and, for an
//! ID token, on the page: "from the issuer X, not Y" is what an operator needs to see).

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::Response,
};

use super::{
    UpstreamOidc, account,
    id_token::{self, Expected, UpstreamUser},
    leg::Leg,
    provider::RedeemError,
    start::unavailable,
};
use crate::{
    AuthorizationServer, browser::BrowserBinding, csrf, form::FormParams, login, pages,
    users::DirectoryError,
};

/// Where the consent page shown here posts: `/consent`, relative to this path (so it holds
/// under an issuer with a path too).
const CONSENT_ACTION: &str = "../../consent";

/// `GET /oauth/upstream/callback`.
pub(crate) async fn callback(
    State(server): State<AuthorizationServer>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    let Some(upstream) = server.upstream.clone() else {
        return pages::error_page(
            StatusCode::NOT_FOUND,
            "Not found",
            "This server does not sign users in at another provider.",
        );
    };
    let query = query.unwrap_or_default();
    let params = match FormParams::from_urlencoded(query.as_bytes()) {
        Ok(params) => params,
        Err(error) => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                error.description(),
            );
        }
    };
    let now = server.now();
    let (Some(browser), Some(state)) = (
        BrowserBinding::from_headers(&headers, server.issuer_is_https()),
        params.get("state"),
    ) else {
        return login::expired();
    };
    match server.pending().get(state, &browser, now).await {
        Ok(Some(_)) => {}
        Ok(None) => return login::expired(),
        Err(error) => return pages::internal_error(error),
    }
    if let Some(error) = params.get("error") {
        return provider_error(error, params.get("error_description"));
    }
    let user = match upstream_user(&upstream, &params, state, &browser, now).await {
        Ok(user) => user,
        Err(response) => return *response,
    };
    if let Err(refusal) = account::check_domain(&user, &upstream.settings.allowed_domains) {
        tracing::info!(%refusal, "upstream sign-in refused");
        return pages::error_page(
            StatusCode::FORBIDDEN,
            "Sign-in refused",
            &format!(
                "{}. Sign in at {} with an account of an allowed domain.",
                capitalized(&refusal.to_string()),
                upstream.settings.issuer
            ),
        );
    }
    let user = match account::sign_in(&server, &upstream.settings.issuer, &user).await {
        Ok(user) => user,
        Err(DirectoryError::Busy(_)) => {
            return pages::busy(crate::password::limit::BUSY_RETRY_AFTER);
        }
        Err(error) => return pages::internal_error(error),
    };
    tracing::info!(subject = %user.subject, username = %user.username, "upstream sign-in");
    let (csrf_token, csrf_cookie) = match csrf::token_for_page(&headers, server.issuer_is_https()) {
        Ok(pair) => pair,
        Err(error) => return pages::internal_error(error),
    };
    let mut response = login::signed_in(
        &server,
        state,
        &browser,
        &user,
        &csrf_token,
        CONSENT_ACTION,
        now,
    )
    .await;
    if let Some(cookie) = csrf_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Steps 3 and 4: the `iss` check, the code redeemed, the ID token validated.
async fn upstream_user(
    upstream: &UpstreamOidc,
    params: &FormParams,
    state: &str,
    browser: &BrowserBinding,
    now: i64,
) -> Result<UpstreamUser, Box<Response>> {
    let metadata = upstream.provider.metadata();
    let issuer = &upstream.settings.issuer;
    match params.get("iss") {
        Some(iss) if iss != issuer => {
            tracing::warn!(iss, expected = %issuer, "upstream callback from another issuer");
            return Err(Box::new(refused(
                "The sign-in response names another provider than the one this server uses.",
            )));
        }
        None if metadata.returns_iss => {
            tracing::warn!("upstream callback without the iss its provider promises");
            return Err(Box::new(refused(
                "The sign-in response does not say which provider sent it.",
            )));
        }
        _ => {}
    }
    let Some(code) = params.get("code") else {
        return Err(Box::new(pages::error_page(
            StatusCode::BAD_REQUEST,
            "Invalid request",
            "The sign-in response has neither a code nor an error.",
        )));
    };
    let leg = Leg::of(state, browser);
    let token = upstream
        .provider
        .redeem(
            &metadata,
            &upstream.settings,
            code,
            &leg.code_verifier,
            &upstream.redirect_uri,
        )
        .await
        .map_err(|error| {
            Box::new(match error {
                RedeemError::Unreachable { .. } => {
                    tracing::warn!(%error, "upstream token endpoint unavailable");
                    unavailable(issuer)
                }
                error => {
                    tracing::warn!(%error, "upstream code not redeemed");
                    refused("The sign-in provider did not confirm the sign-in.")
                }
            })
        })?;
    let keys = upstream
        .provider
        .keys_for(id_token::key_id(&token).as_deref())
        .await
        .map_err(|error| {
            tracing::warn!(%error, jwks_uri = %metadata.jwks_uri, "upstream keys unavailable");
            Box::new(unavailable(issuer))
        })?;
    let expected = Expected {
        issuer,
        client_id: &upstream.settings.client_id,
        nonce: &leg.nonce,
        now,
        leeway_seconds: i64::try_from(upstream.settings.clock_leeway.as_secs()).unwrap_or(30),
    };
    id_token::verify(&token, &keys, &expected).map_err(|error| {
        tracing::warn!(%error, "upstream ID token refused");
        Box::new(refused(&format!(
            "The sign-in provider's answer could not be verified: {error}."
        )))
    })
}

/// 502: the provider's answer does not check out (the cause is in the log).
fn refused(message: &str) -> Response {
    pages::error_page(
        StatusCode::BAD_GATEWAY,
        "Sign-in failed",
        &format!("{message} Go back to the application and sign in again."),
    )
}

/// The provider's own error (RFC 6749 §4.1.2.1), shown to the user.
fn provider_error(error: &str, description: Option<&str>) -> Response {
    let (status, title) = if error == "access_denied" {
        (StatusCode::FORBIDDEN, "Sign-in cancelled")
    } else {
        (StatusCode::BAD_GATEWAY, "Sign-in failed")
    };
    let detail = description.map(|d| format!(" ({d})")).unwrap_or_default();
    pages::error_page(
        status,
        title,
        &format!(
            "The sign-in provider answered {error}{detail}. Go back to the application to \
             start again."
        ),
    )
}

fn capitalized(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().collect::<String>() + chars.as_str()
    })
}
