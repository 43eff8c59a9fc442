//! `GET /oauth/upstream/callback`: the provider's authorization response (RFC 6749 §4.1.2,
//! OpenID Connect Core 1.0 §3.1.2.5), the end of the upstream leg.
//!
//! 1. The pending request is found by `state` and this browser's binding cookie; otherwise
//!    the "sign-in expired" page (a response from another browser, a replay after the request
//!    ended, or one older than the request's 10 minutes). A request the upstream leg signed
//!    in already (the response loaded again) is not signed in twice: the provider's code is
//!    never redeemed a second time.
//! 2. An `error` from the provider (the user declined, the provider refused the request)
//!    refuses the client's request (RFC 6749 §4.1.2.1): `access_denied` when the user
//!    declined, `temporarily_unavailable` when the provider says so, `server_error` otherwise,
//!    sent to the application as `/authorize` sends its refusals (at once to a loopback
//!    redirect URI or a client the operator registered, else a page with a link back).
//! 3. `iss` (RFC 9207): required and equal to the provider's issuer when its metadata says it
//!    sends one; when sent anyway, equal too. A mismatch is a mix-up attack: refused.
//! 4. The code is redeemed at the provider's token endpoint with this server's client secret
//!    and the PKCE verifier; the ID token is validated ([`id_token`](super::id_token)); when
//!    it has no email, the provider's UserInfo endpoint is asked with the access token (its
//!    `sub` must be the ID token's); the provider's tokens are then dropped.
//! 5. The allowed domains are checked (a user they leave out: `access_denied`), the user is
//!    found or created ([`account`](super::account)), and the sign-in continues as a password
//!    sign-in would: the per-user scope policy, the consent page or, with consent remembered,
//!    the code.
//!
//! The provider unreachable (token endpoint or keys) refuses the request with
//! `temporarily_unavailable`; a provider answer that does not check out with `server_error`,
//! the cause in the log and in the `error_description` ("from the issuer X, not Y" is what an
//! operator needs to see).

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, StatusCode, header},
    response::Response,
};

use outpost_oauth::error_description::sanitized;

use super::{
    UpstreamOidc, account,
    id_token::{self, Expected, UpstreamUser},
    leg::Leg,
    provider::RedeemError,
};
use crate::{
    AuthorizationServer, authorize::refuse_pending, browser::BrowserBinding, csrf,
    form::FormParams, login, pages, users::DirectoryError,
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
    let pending = match server.pending().get(state, &browser, now).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return login::expired(),
        Err(error) => return pages::internal_error(error),
    };
    if pending.user_id.is_some() {
        // This response led to a sign-in already (a reload, the back button): its code is
        // not redeemed twice (RFC 6749 §4.1.2: a code is used once).
        return pages::error_page(
            StatusCode::BAD_REQUEST,
            "Already signed in",
            "This sign-in response was used already: continue on the page it led to.",
        );
    }
    if let Some(error) = params.get("error") {
        let refusal = provider_error(error, params.get("error_description"));
        tracing::info!(error, "the upstream provider refused the sign-in");
        return refuse_pending(&server, &pending, refusal.error, &refusal.description);
    }
    let user = match upstream_user(&upstream, &params, state, &browser, now).await {
        Ok(user) => user,
        Err(refusal) => {
            return refuse_pending(&server, &pending, refusal.error, &refusal.description);
        }
    };
    if let Err(refusal) = account::check_domain(&user, &upstream.settings.allowed_domains) {
        tracing::info!(%refusal, "upstream sign-in refused");
        return refuse_pending(&server, &pending, "access_denied", &refusal.to_string());
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

/// Why the upstream leg ended without a user: the client's `error` and its description.
struct Refusal {
    error: &'static str,
    description: String,
}

impl Refusal {
    /// `server_error`: the provider's answer does not check out (the cause is in the log).
    fn failed(description: impl Into<String>) -> Self {
        Self {
            error: "server_error",
            description: description.into(),
        }
    }

    /// `temporarily_unavailable`: the provider cannot be reached now.
    fn unreachable(issuer: &str) -> Self {
        Self {
            error: "temporarily_unavailable",
            description: format!("the sign-in provider {issuer} cannot be reached now"),
        }
    }
}

/// Steps 3 and 4: the `iss` check, the code redeemed, the ID token validated.
async fn upstream_user(
    upstream: &UpstreamOidc,
    params: &FormParams,
    state: &str,
    browser: &BrowserBinding,
    now: i64,
) -> Result<UpstreamUser, Refusal> {
    let metadata = upstream.provider.metadata();
    let issuer = &upstream.settings.issuer;
    match params.get("iss") {
        Some(iss) if iss != issuer => {
            tracing::warn!(iss, expected = %issuer, "upstream callback from another issuer");
            return Err(Refusal::failed(
                "the sign-in response names another provider than the one this server uses",
            ));
        }
        None if metadata.returns_iss => {
            tracing::warn!("upstream callback without the iss its provider promises");
            return Err(Refusal::failed(
                "the sign-in response does not say which provider sent it",
            ));
        }
        _ => {}
    }
    let Some(code) = params.get("code") else {
        return Err(Refusal::failed(
            "the sign-in response has neither a code nor an error",
        ));
    };
    let leg = Leg::of(state, browser);
    let redeemed = upstream
        .provider
        .redeem(
            &metadata,
            &upstream.settings,
            code,
            &leg.code_verifier,
            &upstream.redirect_uri,
        )
        .await
        .map_err(|error| match error {
            RedeemError::Unreachable { .. } => {
                tracing::warn!(%error, "upstream token endpoint unavailable");
                Refusal::unreachable(issuer)
            }
            error => {
                tracing::warn!(%error, "upstream code not redeemed");
                Refusal::failed("the sign-in provider did not confirm the sign-in")
            }
        })?;
    let keys = upstream
        .provider
        .keys_for(id_token::key_id(&redeemed.id_token).as_deref())
        .await
        .map_err(|error| {
            tracing::warn!(%error, jwks_uri = %metadata.jwks_uri, "upstream keys unavailable");
            Refusal::unreachable(issuer)
        })?;
    let expected = Expected {
        issuer,
        client_id: &upstream.settings.client_id,
        nonce: &leg.nonce,
        now,
        leeway_seconds: i64::try_from(upstream.settings.clock_leeway.as_secs()).unwrap_or(30),
    };
    let user = id_token::verify(&redeemed.id_token, &keys, &expected).map_err(|error| {
        tracing::warn!(%error, "upstream ID token refused");
        Refusal::failed(format!(
            "the sign-in provider's answer could not be verified: {error}"
        ))
    })?;
    // A provider may keep the scopes' claims for its UserInfo endpoint (OpenID Connect Core
    // §5.4; oidc-provider does by default): the email is read there when the ID token has
    // none. Unreachable, the sign-in goes on with the ID token's claims — unless the allowed
    // domains need the email: then it waits for the provider (`temporarily_unavailable`).
    let (Some(endpoint), Some(access_token), None) = (
        &metadata.userinfo_endpoint,
        &redeemed.access_token,
        &user.email,
    ) else {
        return Ok(user);
    };
    match upstream.provider.user_info(endpoint, access_token).await {
        Ok(info) => user.with_user_info(info).map_err(|mismatch| {
            tracing::warn!(%mismatch, "upstream sign-in refused");
            Refusal::failed(mismatch.to_string())
        }),
        // The allowed domains need the email: without it, the user would be refused for
        // an outage of the provider's.
        Err(error) if !upstream.settings.allowed_domains.is_empty() => {
            tracing::warn!(%error, %endpoint, "upstream UserInfo unavailable: the sign-in cannot check the domain");
            Err(Refusal::unreachable(issuer))
        }
        Err(error) => {
            tracing::warn!(%error, %endpoint, "upstream UserInfo unavailable: the ID token's claims only");
            Ok(user)
        }
    }
}

/// The provider's own error (RFC 6749 §4.1.2.1) as the client's: the user's refusal stays
/// one, the provider's outage too, anything else is this server failing to sign the user
/// in. The provider's description, if any, follows: at most 200 characters of it, within
/// RFC 6749's character set (no control or bidirectional characters), as it is the
/// provider's text shown to the user.
fn provider_error(error: &str, description: Option<&str>) -> Refusal {
    let client_error = match error {
        "access_denied" => "access_denied",
        "temporarily_unavailable" => "temporarily_unavailable",
        _ => "server_error",
    };
    let error: String = sanitized(error).chars().take(64).collect();
    let detail = description
        .map(|d| format!(" ({})", sanitized(d).chars().take(200).collect::<String>()))
        .unwrap_or_default();
    Refusal {
        error: client_error,
        description: format!("the sign-in provider answered {error}{detail}"),
    }
}
