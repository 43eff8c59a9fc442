//! `GET /authorize`: the authorization endpoint (RFC 6749 §3.1, §4.1.1; OAuth 2.1 §4.1.1).
//!
//! A request a browser says is not a page navigation (an image, a frame, a script's fetch:
//! [`navigation`]) is refused with a 403 page before anything else, so another site cannot
//! spend its visitors' sign-in budget. The rest is checked in the order RFC 6749 §4.1.2.1
//! requires:
//!
//! 1. `client_id` and `redirect_uri` first (the client through [`clients::resolve`]: a
//!    registered one, or a Client ID Metadata Document fetched from a URL `client_id`, whose
//!    refusal reason the page shows). While either is missing, unknown or not an exact
//!    match for a registered URI ([`redirect_uri::find_match`]; loopback ports may vary,
//!    RFC 8252 §7.3), the user sees an error page and is never redirected: redirecting to an
//!    unchecked URI would make the server an open redirector (RFC 6749 §10.15). A client with
//!    one registered URI may omit `redirect_uri`.
//! 2. Every other error goes back to the redirect URI with `error`, `error_description`,
//!    `state` and `iss` (RFC 9207) — at once for a client the operator registered or a
//!    loopback redirect URI, else through a link on an error page the user may follow (a
//!    self-registered client's URI may be a phishing site's: RFC 9700 §4.11.2):
//!    `response_type` must be `code` (`unsupported_response_type`), and `response_mode`,
//!    when given, `query`; PKCE is required with `code_challenge_method=S256` (OAuth 2.1
//!    §4.1.1; missing or `plain` is `invalid_request`); `scope` defaults to the server's
//!    default scope; unsupported scopes, and scopes beyond the registered `scope` of a client
//!    the operator registered, are left out, and a request left with no scope is
//!    `invalid_scope`; `resource` (RFC 8707 §2), when given, must be the protected resource
//!    this server issues tokens for, or one of its aliases (`invalid_target`).
//!
//! A valid request is stored server-side ([`PendingRequests`](super::pending::PendingRequests),
//! in the store, so any instance can serve the next steps), bound to this browser
//! ([`BrowserBinding`]: a cookie, set here when the browser has none), and the login page is
//! shown with its id and a CSRF token — or, with upstream login ([`upstream`](crate::upstream)),
//! the browser is sent to the provider (a 503 page when the provider cannot be reached). A
//! source that started too many requests lately gets a 429 page.

use axum::{
    extract::{RawQuery, State},
    http::{HeaderMap, HeaderValue, StatusCode, header},
    response::{IntoResponse, Response},
};
use url::Url;

use super::{
    AuthorizationServer,
    browser::BrowserBinding,
    client_name,
    clients::{self, ClientResolutionError},
    csrf,
    form::FormParams,
    navigation,
    pages::{self, LoginView},
    pending::{PendingAuthorization, PendingError},
    throttle::ClientIp,
    upstream::leg::Leg,
};
use outpost_oauth::{
    error_description::sanitized,
    pkce::{CodeChallenge, CodeChallengeMethod},
    redirect_uri::{self, RedirectUri},
    scope::Scope,
};
use outpost_store::{ApplicationType, ClientId, ClientRecord};

/// `GET /authorize`.
pub async fn authorize(
    State(server): State<AuthorizationServer>,
    source: ClientIp,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    if navigation::is_embedded(&headers) {
        return pages::error_page(
            StatusCode::FORBIDDEN,
            "Open the sign-in as a page",
            "The sign-in page opens only as a page of its own, not inside another page.",
        );
    }
    let query = query.unwrap_or_default();
    let params = match FormParams::from_urlencoded(query.as_bytes()) {
        Ok(params) => params,
        Err(error) => return bad_request(error.description()),
    };
    let client = match find_client(&server, params.get("client_id")).await {
        Ok(client) => client,
        Err(response) => return response,
    };
    let (redirect_uri, loopback) = match checked_redirect_uri(&client, params.get("redirect_uri")) {
        Ok(checked) => checked,
        Err(message) => return bad_request(&message),
    };
    let state = params.get("state").map(str::to_owned);
    let follows_unasked = follows_unasked(&server, &client.client_id, loopback);
    let fail = |error: &str, description: &str| {
        refusal(
            &server,
            follows_unasked,
            &redirect_uri,
            state.as_deref(),
            error,
            description,
        )
    };
    match params.get("response_type") {
        Some("code") => {}
        None => return fail("invalid_request", "response_type is required"),
        Some(_) => return fail("unsupported_response_type", "only response_type=code"),
    }
    // The metadata's `response_modes_supported` is `["query"]`: a client asking for another
    // would look for the code where it is not sent.
    if params
        .get("response_mode")
        .is_some_and(|mode| mode != "query")
    {
        return fail("invalid_request", "only response_mode=query");
    }
    let code_challenge = match CodeChallengeMethod::parse(params.get("code_challenge_method"))
        .and_then(|_| CodeChallenge::parse(params.get("code_challenge")))
    {
        Ok(challenge) => challenge,
        Err(error) => return fail("invalid_request", &error.to_string()),
    };
    let scope = match requested_scope(&server, &client, params.get("scope")) {
        Ok(scope) => scope,
        Err(message) => return fail("invalid_scope", &message),
    };
    if params.resources_differ() {
        return fail(
            "invalid_target",
            "one resource per request: this server protects one resource",
        );
    }
    let resource = match params
        .get("resource")
        .map(|named| server.resource_named(named))
    {
        None => None,
        Some(Some(resource)) => Some(resource.to_owned()),
        Some(None) => {
            return fail(
                "invalid_target",
                "resource is not a protected resource of this server",
            );
        }
    };

    let provider = match &server.upstream {
        Some(upstream) => match upstream.reachable_provider().await {
            Some(metadata) => Some((upstream.clone(), metadata)),
            None => {
                return fail(
                    "temporarily_unavailable",
                    "the sign-in provider cannot be reached now; try again in a moment",
                );
            }
        },
        None => None,
    };
    let pending = PendingAuthorization {
        client_name: client_name::shown(&client),
        client_host: clients::document_host(&client.client_id),
        client_id: client.client_id,
        redirect_uri,
        redirect_uri_sent: params.get("redirect_uri").is_some(),
        scope,
        resource,
        code_challenge,
        state,
        user_id: None,
        expires_at: 0,
    };
    let now = server.now();
    let client_name = pending.client_name.clone();
    let pending_redirect = pending.redirect_uri.clone();
    let (browser, browser_cookie) =
        match BrowserBinding::for_request(&headers, server.issuer_is_https()) {
            Ok(pair) => pair,
            Err(error) => return pages::internal_error(error),
        };
    let request_id = match server
        .pending()
        .insert(pending, &browser, source, now)
        .await
    {
        Ok(id) => id,
        Err(PendingError::TooMany { retry_after }) => {
            return pages::too_many_requests(
                "Too many sign-in requests",
                &format!(
                    "Too many sign-in requests came from this network lately; try again in {}.",
                    pages::minutes(retry_after)
                ),
                retry_after,
            );
        }
        Err(error) => return pages::internal_error(error),
    };
    if let Some((upstream, metadata)) = provider {
        let mut response =
            upstream.redirect_to_provider(&metadata, &Leg::of(&request_id, &browser));
        if let Some(cookie) = browser_cookie {
            response.headers_mut().append(header::SET_COOKIE, cookie);
        }
        return response;
    }
    let (token, cookie) = match csrf::token_for_page(&headers, server.issuer_is_https()) {
        Ok(pair) => pair,
        Err(error) => return pages::internal_error(error),
    };
    let page = LoginView {
        client_name,
        request_id,
        csrf: token,
        username: String::new(),
        message: None,
        action: "login".to_owned(),
    };
    let mut response = pages::render_form(StatusCode::OK, page, cookie, &pending_redirect);
    if let Some(cookie) = browser_cookie {
        response.headers_mut().append(header::SET_COOKIE, cookie);
    }
    response
}

/// Whether a refusal may send the browser to `client_id`'s redirect URI unasked: a loopback
/// one (a native app on the user's own machine), or a client the operator registered (see
/// `checked_redirect_uri`).
fn follows_unasked(server: &AuthorizationServer, client_id: &ClientId, loopback: bool) -> bool {
    loopback || server.preregistered.contains(client_id)
}

/// The refusal of a request whose redirect URI was checked: `error` and `description` (RFC
/// 6749 §4.1.2.1) for the client. Sent to the client at once when it `follows_unasked` (a
/// loopback redirect URI, or a client the operator registered); otherwise shown, with a link
/// back the user may follow (see `checked_redirect_uri`).
fn refusal(
    server: &AuthorizationServer,
    follows_unasked: bool,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    // RFC 6749 §4.1.2.1's character set.
    let sanitized = sanitized(description);
    let params = [("error", error), ("error_description", &*sanitized)];
    if follows_unasked {
        return redirect_to_client(server, redirect_uri, &params, state);
    }
    match client_redirect_url(server, redirect_uri, &params, state) {
        Some(url) => pages::refused_request_page(description, url.into()),
        None => pages::internal_error(UNPARSED_REDIRECT),
    }
}

/// The refusal of `pending`, a request kept at `/authorize` that something later ended (the
/// upstream provider refused the sign-in or could not be reached), as `/authorize` refuses
/// one ([`refusal`]), so that the application learns of it (RFC 6749 §4.1.2.1).
pub(crate) fn refuse_pending(
    server: &AuthorizationServer,
    pending: &PendingAuthorization,
    error: &str,
    description: &str,
) -> Response {
    let loopback = RedirectUri::parse(&pending.redirect_uri, redirect_uri::ApplicationType::Native)
        .is_ok_and(|uri| uri.is_loopback());
    let follows_unasked = follows_unasked(server, &pending.client_id, loopback);
    refusal(
        server,
        follows_unasked,
        &pending.redirect_uri,
        pending.state.as_deref(),
        error,
        description,
    )
}

/// A 302 to `redirect_uri` with `params`, `state` (when the request had one) and `iss`
/// (RFC 9207 §2) appended to its query (RFC 6749 §4.1.2: existing query components kept).
pub fn redirect_to_client(
    server: &AuthorizationServer,
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
) -> Response {
    let Some(url) = client_redirect_url(server, redirect_uri, params, state) else {
        return pages::internal_error(UNPARSED_REDIRECT);
    };
    match HeaderValue::from_str(url.as_str()) {
        Ok(location) => (StatusCode::FOUND, [(header::LOCATION, location)]).into_response(),
        Err(error) => pages::internal_error(error),
    }
}

/// Why a redirect could not be made: the URI was checked, so it cannot happen.
const UNPARSED_REDIRECT: &str = "a checked redirect URI does not parse";

/// `redirect_uri` with `params`, `state` and `iss` appended, as [`redirect_to_client`] sends
/// the browser there (`None` when the checked URI does not parse).
fn client_redirect_url(
    server: &AuthorizationServer,
    redirect_uri: &str,
    params: &[(&str, &str)],
    state: Option<&str>,
) -> Option<Url> {
    let mut url = Url::parse(redirect_uri).ok()?;
    {
        let mut query = url.query_pairs_mut();
        for (name, value) in params {
            query.append_pair(name, value);
        }
        if let Some(state) = state {
            query.append_pair("state", state);
        }
        query.append_pair("iss", &server.issuer);
    }
    Some(url)
}

fn bad_request(message: &str) -> Response {
    pages::error_page(StatusCode::BAD_REQUEST, "Invalid request", message)
}

async fn find_client(
    server: &AuthorizationServer,
    client_id: Option<&str>,
) -> Result<ClientRecord, Response> {
    let Some(client_id) = client_id else {
        return Err(bad_request("The request has no client_id."));
    };
    match clients::resolve(server, client_id).await {
        Ok(Some(client)) => Ok(client),
        Ok(None) => Err(bad_request(
            "The application is not registered with this server.",
        )),
        Err(ClientResolutionError::Document(error)) => {
            tracing::info!(%error, "a client_id URL's metadata document is unusable");
            Err(bad_request(&error.public_reason()))
        }
        Err(ClientResolutionError::Store(error)) => Err(pages::internal_error(error)),
    }
}

/// The request's redirect URI when it matches a registered one, and whether that registration
/// is an `http` loopback one; a message for the error page otherwise.
///
/// An error found before the user signed in sends the browser to the URI unasked only for a
/// loopback URI (a native app on the user's own machine) or a client the operator registered.
/// Any other client registered itself, so its URI may be anyone's site, and redirecting there
/// at once would lend the server's address to a phishing link (RFC 9700 §4.11.2): the error
/// is shown instead, with a link back that the user may follow.
fn checked_redirect_uri(
    client: &ClientRecord,
    requested: Option<&str>,
) -> Result<(String, bool), String> {
    let kind = match client.application_type {
        ApplicationType::Web => redirect_uri::ApplicationType::Web,
        ApplicationType::Native => redirect_uri::ApplicationType::Native,
    };
    let registered: Vec<RedirectUri> = client
        .redirect_uris
        .iter()
        .filter_map(|uri| match RedirectUri::parse(uri, kind) {
            Ok(uri) => Some(uri),
            Err(error) => {
                // Stored before today's rules (a stricter release, an edited clients file):
                // never redirected to, and said so where an operator looks.
                tracing::warn!(client = %client.client_id, %error, "a registered redirect URI is no longer accepted");
                None
            }
        })
        .collect();
    match requested {
        Some(requested) => redirect_uri::find_match(&registered, requested)
            .map(|matched| (requested.to_owned(), matched.is_loopback()))
            .ok_or_else(|| "The redirect URI is not registered for this application.".into()),
        None => match registered.as_slice() {
            [only] => Ok((only.as_str().to_owned(), only.is_loopback())),
            _ => Err("The request has no redirect_uri.".into()),
        },
    }
}

/// The requested scope, or the default when none is named, narrowed to what this server
/// supports and, for a client the operator registered with a `scope` (RFC 7591 §2, in the
/// clients file; see [`AuthorizationServer::preregistered`] for why not for self-registered
/// clients), to that: such a client never gets more than it was registered for. Scopes beyond
/// either are left out rather than refused (RFC 6749 §3.3 lets the server partially ignore
/// the request, and the token response's `scope` says what was granted): MCP clients ask for
/// the `scope` of a `WWW-Authenticate` challenge or every `scopes_supported`, not for what
/// they registered, and would otherwise never get a token. A request left with no scope at
/// all is refused (`invalid_scope`).
fn requested_scope(
    server: &AuthorizationServer,
    client: &ClientRecord,
    requested: Option<&str>,
) -> Result<Scope, String> {
    let asked = match requested.map(Scope::parse).transpose() {
        Ok(Some(scope)) if !scope.is_empty() => scope,
        Ok(_) => server.default_scope.clone(),
        Err(error) => return Err(error.to_string()),
    };
    let supported = Scope::parse(&server.scopes_supported.join(" ")).unwrap_or_default();
    let granted = asked.intersection(&supported);
    if granted.is_empty() {
        return Err(format!(
            "none of the requested scopes ({asked}) is supported; supported: {supported}"
        ));
    }
    let ceiling = client
        .scope
        .as_deref()
        .filter(|_| server.preregistered.contains(&client.client_id));
    let Some(registered) = ceiling else {
        return Ok(granted);
    };
    let registered = Scope::parse(registered)
        .map_err(|e| format!("the client's registered scope is invalid: {e}"))?;
    let granted = granted.intersection(&registered);
    if granted.is_empty() {
        return Err(format!(
            "none of the requested scopes ({asked}) is registered for this client; \
             registered: {registered}"
        ));
    }
    Ok(granted)
}
