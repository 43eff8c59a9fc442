//! The consent page and `POST /consent` (RFC 6749 §4.1.1–§4.1.2: the server "obtains an
//! authorization decision" from the resource owner; OAuth 2.1 §7.6 / MCP security best
//! practices: show who asks, where the user goes back to, and for what).
//!
//! The page names the client, the redirect URI's host and the scopes; for a Client ID Metadata
//! Document client, whose name is whatever its document says, it shows first the host that
//! published the document (the `client_id` URL's), which is what identifies it. The POST
//! must carry the CSRF token ([`crate::csrf`]) and a pending request that a user has signed in
//! to, from the browser that opened it ([`crate::browser`]).
//!
//! The page lists the scope narrowed to what the signed-in user may be granted (the per-user
//! policy of [`crate::users`]) and posts it back: approval grants that, narrowed again to the
//! user's current allowed scopes, never more. Approve remembers the consent — what was
//! granted, with what was granted before; a later authorization whose narrowed scope it
//! covers skips the page, so a scope the user is allowed later is asked for again — and
//! issues the authorization code: a 256-bit [`Secret`] stored only as its SHA-256 with the
//! user, client, redirect URI, scope, resource and PKCE challenge, for the code lifetime; the user is sent to `redirect_uri?code=…&state=…&iss=…` (RFC 6749
//! §4.1.2, RFC 9207). Deny sends `error=access_denied` (RFC 6749 §4.1.2.1).

use axum::{body::Bytes, extract::State, http::HeaderMap, http::StatusCode, response::Response};
use url::Url;

use super::{
    AuthorizationServer,
    authorize::redirect_to_client,
    browser::BrowserBinding,
    clients,
    login::{expired, grantable_scope, verified_form},
    pages::{self, ConsentView},
    pending::PendingAuthorization,
};
use outpost_oauth::{scope::Scope, secret::Secret};
use outpost_store::{AuthorizationCodeRecord, ConsentRecord, UserId, token_hash};

/// The consent page for a signed-in pending request.
pub fn consent_page(
    pending: &PendingAuthorization,
    request_id: &str,
    csrf: &str,
    action: &str,
) -> Response {
    let redirect_host = Url::parse(&pending.redirect_uri)
        .ok()
        .and_then(|url| {
            url.host_str().map(|host| match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_owned(),
            })
        })
        .unwrap_or_else(|| pending.redirect_uri.clone());
    let page = ConsentView {
        client_name: pending.client_name.clone(),
        client_host: pending.client_host.clone(),
        redirect_host,
        scopes: pending.scope.iter().map(str::to_owned).collect(),
        scope: pending.scope.to_string(),
        request_id: request_id.to_owned(),
        csrf: csrf.to_owned(),
        action: action.to_owned(),
    };
    pages::render_form(StatusCode::OK, page, None, &pending.redirect_uri)
}

/// `POST /consent`.
pub async fn consent(
    State(server): State<AuthorizationServer>,
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
    // Only a request someone signed in to, from the browser that opened it, may be decided;
    // it ends here either way. Another browser's attempt leaves it pending.
    let pending = match server
        .pending()
        .take_signed_in(request_id, &browser, now)
        .await
    {
        Ok(Some(pending)) => pending,
        Ok(None) => return expired(),
        Err(error) => return pages::internal_error(error),
    };
    match form.get("decision") {
        Some("approve") => {}
        Some("deny") => {
            return redirect_to_client(
                &server,
                &pending.redirect_uri,
                &[
                    ("error", "access_denied"),
                    ("error_description", "the user denied the request"),
                ],
                pending.state.as_deref(),
            );
        }
        _ => {
            return pages::error_page(
                StatusCode::BAD_REQUEST,
                "Invalid request",
                "The form has no decision.",
            );
        }
    }
    let Some(user_id) = pending.user_id else {
        return expired();
    };
    let pending = match granted_now(&server, pending, user_id, form.get("scope")).await {
        Ok(Some(pending)) => pending,
        Ok(None) => return expired(),
        Err(response) => return *response,
    };
    if let Err(error) = clients::ensure_stored(&server, &pending.client_id).await {
        return pages::internal_error(error);
    }
    // Remember what was approved, together with what was approved before.
    let previous = match server.store.consents.get(user_id, &pending.client_id).await {
        Ok(previous) => previous.and_then(|c| Scope::parse(&c.scope).ok()),
        Err(error) => return pages::internal_error(error),
    };
    let mut approved: Vec<&str> = pending.scope.iter().collect();
    if let Some(previous) = &previous {
        approved.extend(previous.iter());
    }
    let approved = Scope::parse(&approved.join(" ")).unwrap_or_else(|_| pending.scope.clone());
    let record = ConsentRecord {
        user_id,
        client_id: pending.client_id.clone(),
        scope: approved.to_string(),
        granted_at: now,
    };
    if let Err(error) = server.store.consents.remember(record).await {
        return pages::internal_error(error);
    }
    issue_code(&server, pending).await
}

/// The request with its scope narrowed to what user `user_id` may be granted now and to what
/// the consent page listed (`shown`; a page that listed nothing grants from the request), as
/// the page was drawn before the user's scopes could change; `None` when the user is gone.
/// Nothing left is `invalid_scope` to the client (RFC 6749 §4.1.2.1).
async fn granted_now(
    server: &AuthorizationServer,
    pending: PendingAuthorization,
    user_id: UserId,
    shown: Option<&str>,
) -> Result<Option<PendingAuthorization>, Box<Response>> {
    let user = match server.users().find(user_id).await {
        Ok(Some(user)) => user,
        Ok(None) => return Ok(None),
        Err(error) => return Err(Box::new(pages::internal_error(error))),
    };
    let mut scope = grantable_scope(server, &pending, &user);
    if let Some(shown) = shown {
        scope = scope.intersection(&Scope::parse(shown).unwrap_or_default());
    }
    if scope.is_empty() {
        return Err(Box::new(redirect_to_client(
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
        )));
    }
    Ok(Some(PendingAuthorization { scope, ..pending }))
}

/// Issues the authorization code for a signed-in, consented request and redirects to the
/// client with it. The client is in the store: a remembered consent keeps it from the purge
/// of unused metadata-document clients, and [`consent`] puts one back before remembering.
pub async fn issue_code(server: &AuthorizationServer, pending: PendingAuthorization) -> Response {
    let Some(user_id) = pending.user_id else {
        return expired();
    };
    let code = match Secret::generate() {
        Ok(code) => code,
        Err(error) => return pages::internal_error(error),
    };
    let lifetime = i64::try_from(server.code_lifetime.as_secs()).unwrap_or(60);
    let record = AuthorizationCodeRecord {
        code_hash: token_hash(code.expose()),
        client_id: pending.client_id.clone(),
        user_id,
        redirect_uri: pending.redirect_uri.clone(),
        redirect_uri_sent: pending.redirect_uri_sent,
        scope: pending.scope.to_string(),
        resource: pending.resource.clone(),
        code_challenge: pending.code_challenge.as_str().to_owned(),
        expires_at: server.now() + lifetime,
    };
    if let Err(error) = server.store.codes.insert(record).await {
        return pages::internal_error(error);
    }
    redirect_to_client(
        server,
        &pending.redirect_uri,
        &[("code", code.expose())],
        pending.state.as_deref(),
    )
}
