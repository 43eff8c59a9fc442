//! Signing in to an MCP server as an MCP host does (the MCP authorization spec): from the 401's
//! challenge to the protected-resource and authorization-server metadata, dynamic client
//! registration, then the authorization-code flow with PKCE S256, `state`, the RFC 8707
//! `resource` and the RFC 9207 `iss` checked, the code brought back to a loopback listener.
//! Refreshing a token is [`refresh`]; nothing here knows MCP beyond the discovery rules.

pub mod callback;
pub mod challenge;
pub mod discovery;
pub mod endpoints;

use std::{process::Stdio, time::Duration};

use anyhow::{Context as _, bail};
use outpost_oauth::{
    pkce::{CodeChallenge, CodeVerifier},
    secret::Secret,
};
use url::Url;

use self::{
    callback::{AuthorizationResponse, CallbackListener},
    challenge::Challenge,
    discovery::AuthorizationServerMetadata,
    endpoints::{RegisteredClient, TokenClient, TokenError},
};
use super::{credentials::ServerCredentials, http::HttpClient};

/// How long the sign-in waits for the browser to come back.
const SIGN_IN_TIMEOUT: Duration = Duration::from_secs(300);

/// How the authorization URL reaches the user.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Browser {
    /// Open the system browser (and print the URL, in case it does not open).
    Open,
    /// Print the URL alone on one line of stderr and wait.
    PrintOnly,
}

/// How to sign in: where the authorization URL goes, and as which client.
pub struct SignIn {
    /// Opened or printed.
    pub browser: Browser,
    /// A client registered beforehand (`--client-id`); `None`: register one (RFC 7591).
    pub client: Option<RegisteredClient>,
}

/// Signs in to `server`, whose 401 carried `challenge`, and returns the new credentials.
/// Without `--client-id`, signs in as the client `connect` registered for an earlier sign-in
/// (`previous`) when it still can ([`own_client`]).
pub async fn sign_in(
    http: &HttpClient,
    server: &Url,
    challenge: Option<&str>,
    how: &SignIn,
    previous: Option<&ServerCredentials>,
) -> anyhow::Result<ServerCredentials> {
    let challenge = challenge.map(Challenge::parse).unwrap_or_default();
    let resource_metadata =
        discovery::protected_resource(http, server, challenge.resource_metadata.as_deref()).await?;
    let (issuer, resource, scopes) =
        match resource_metadata {
            Some(document) => {
                let issuer = document.authorization_servers.first().cloned().with_context(|| {
                format!("the protected-resource metadata of {server} names no authorization server")
            })?;
                (
                    issuer,
                    document.resource,
                    document.scopes_supported.join(" "),
                )
            }
            // Before RFC 9728 (MCP 2025-03-26), the server's origin was the authorization server.
            None => (
                server.origin().ascii_serialization(),
                server.to_string(),
                String::new(),
            ),
        };
    let metadata = discovery::authorization_server(http, &issuer, server).await?;
    let scope = challenge.scope.unwrap_or(scopes);

    let (listener, client) = match &how.client {
        Some(client) => (CallbackListener::bind().await?, client.clone()),
        None => own_client(http, &metadata, previous).await?,
    };
    let redirect_uri = listener.redirect_uri().to_owned();

    let verifier = Secret::generate()?;
    let state = Secret::generate()?;
    let authorization_url = authorization_url(
        &metadata,
        &client.client_id,
        &redirect_uri,
        &scope,
        &resource,
        &state,
        &verifier,
    )?;
    present(&authorization_url, how.browser);
    let response = listener.wait(SIGN_IN_TIMEOUT, &state).await?;
    let code = authorization_code(&response, &state, &metadata)?;

    let token_client = TokenClient {
        endpoint: &metadata.token_endpoint,
        client_id: &client.client_id,
        client_secret: client.client_secret.as_deref(),
        resource: &resource,
    };
    let tokens = token_client
        .redeem(http, code, &redirect_uri, verifier.expose())
        .await?;
    Ok(ServerCredentials {
        expires_at: tokens.expires_at(),
        issuer: metadata.issuer,
        token_endpoint: metadata.token_endpoint,
        revocation_endpoint: metadata.revocation_endpoint,
        client_id: client.client_id,
        client_secret: client.client_secret,
        redirect_uri: how.client.is_none().then_some(redirect_uri),
        resource,
        access_token: tokens.access_token,
        refresh_token: tokens.refresh_token,
    })
}

/// The client `connect` registered at `metadata`'s server for the `previous` sign-in, with a
/// listener on the redirect URI it was registered with, when that port is free again; else a
/// new registration (RFC 7591) for a listener on a new port. So signing in again (a refused
/// refresh, a step-up) does not leave one more client at the server each time.
async fn own_client(
    http: &HttpClient,
    metadata: &AuthorizationServerMetadata,
    previous: Option<&ServerCredentials>,
) -> anyhow::Result<(CallbackListener, RegisteredClient)> {
    let registered = previous
        .filter(|previous| previous.issuer == metadata.issuer)
        .and_then(|previous| Some((previous, previous.redirect_uri.as_deref()?)));
    if let Some((previous, redirect_uri)) = registered
        && let Some(listener) = CallbackListener::bind_again(redirect_uri).await
    {
        let client = RegisteredClient {
            client_id: previous.client_id.clone(),
            client_secret: previous.client_secret.clone(),
        };
        return Ok((listener, client));
    }
    let registration_endpoint = metadata.registration_endpoint.as_deref().with_context(|| {
        format!(
            "the authorization server {} offers no dynamic client registration: sign in as a \
             client it registered for you (--client-id, with redirect URI \
             http://127.0.0.1/callback)",
            metadata.issuer
        )
    })?;
    let listener = CallbackListener::bind().await?;
    let client = endpoints::register(http, registration_endpoint, listener.redirect_uri()).await?;
    Ok((listener, client))
}

/// The authorization request (RFC 6749 §4.1.1, RFC 7636 §4.3, RFC 8707 §2).
fn authorization_url(
    metadata: &AuthorizationServerMetadata,
    client_id: &str,
    redirect_uri: &str,
    scope: &str,
    resource: &str,
    state: &Secret,
    verifier: &Secret,
) -> anyhow::Result<Url> {
    let challenge = CodeChallenge::s256(&CodeVerifier::parse(verifier.expose())?);
    let mut url = Url::parse(&metadata.authorization_endpoint)
        .context("the authorization endpoint is not a URL")?;
    {
        let mut query = url.query_pairs_mut();
        query
            .append_pair("response_type", "code")
            .append_pair("client_id", client_id)
            .append_pair("redirect_uri", redirect_uri)
            .append_pair("state", state.expose())
            .append_pair("code_challenge", challenge.as_str())
            .append_pair("code_challenge_method", "S256")
            .append_pair("resource", resource);
        if !scope.is_empty() {
            query.append_pair("scope", scope);
        }
    }
    Ok(url)
}

/// Prints the URL on stderr (alone on its line with `--no-browser`) and opens the browser.
fn present(url: &Url, browser: Browser) {
    match browser {
        Browser::PrintOnly => eprintln!("{url}"),
        Browser::Open => {
            eprintln!("Opening the browser to sign in; if it does not open, visit:\n{url}");
            let opener = if cfg!(target_os = "macos") {
                "open"
            } else {
                "xdg-open"
            };
            let opened = std::process::Command::new(opener)
                .arg(url.as_str())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            if opened.is_err() {
                eprintln!("({opener} is not available: open the URL above yourself)");
            }
        }
    }
}

/// The code from the authorization response, once its `state` and `iss` are checked
/// (RFC 6749 §10.12, RFC 9207 §2.4).
fn authorization_code<'a>(
    response: &'a AuthorizationResponse,
    state: &Secret,
    metadata: &AuthorizationServerMetadata,
) -> anyhow::Result<&'a str> {
    if !response
        .get("state")
        .is_some_and(|returned| state.matches(returned))
    {
        bail!("the authorization response's state does not match the request's: sign-in abandoned");
    }
    match response.get("iss") {
        Some(iss) if iss.trim_end_matches('/') != metadata.issuer.trim_end_matches('/') => bail!(
            "the authorization response came from issuer {iss}, not {}: sign-in abandoned",
            metadata.issuer
        ),
        None if metadata.authorization_response_iss_parameter_supported => {
            bail!(
                "the authorization response has no iss although the server promises one (RFC 9207)"
            )
        }
        _ => {}
    }
    if let Some(error) = response.get("error") {
        let description = response
            .get("error_description")
            .map(|d| format!(": {d}"))
            .unwrap_or_default();
        bail!("the authorization server refused the sign-in: {error}{description}");
    }
    response
        .get("code")
        .map(String::as_str)
        .context("the authorization response carries no code")
}

/// What a refresh gave.
pub enum Refreshed {
    /// New tokens.
    Tokens(Box<ServerCredentials>),
    /// No refresh token, or the server refused it: sign in again, as the same client unless
    /// the server no longer knows it (`invalid_client`).
    SignInAgain {
        /// The server answered `invalid_client`: the client is to be registered again.
        client_unknown: bool,
    },
}

/// Trades the refresh token in `credentials` for a new access token.
pub async fn refresh(
    http: &HttpClient,
    credentials: &ServerCredentials,
) -> anyhow::Result<Refreshed> {
    let Some(refresh_token) = credentials.refresh_token.as_deref() else {
        return Ok(Refreshed::SignInAgain {
            client_unknown: false,
        });
    };
    let token_client = TokenClient {
        endpoint: &credentials.token_endpoint,
        client_id: &credentials.client_id,
        client_secret: credentials.client_secret.as_deref(),
        resource: &credentials.resource,
    };
    match token_client.refresh(http, refresh_token).await {
        Ok(tokens) => Ok(Refreshed::Tokens(Box::new(ServerCredentials {
            expires_at: tokens.expires_at(),
            access_token: tokens.access_token,
            refresh_token: tokens
                .refresh_token
                .or_else(|| credentials.refresh_token.clone()),
            ..credentials.clone()
        }))),
        Err(TokenError::Refused { error, reason }) => {
            eprintln!(
                "The stored sign-in was refused ({}); signing in again.",
                super::output::one_line(&reason)
            );
            Ok(Refreshed::SignInAgain {
                client_unknown: error == "invalid_client",
            })
        }
        Err(TokenError::Unreachable(error)) => Err(error),
    }
}

/// Revokes the refresh token (or else the access token) at the server's revocation endpoint.
pub async fn revoke(http: &HttpClient, credentials: &ServerCredentials) -> anyhow::Result<bool> {
    let Some(endpoint) = credentials.revocation_endpoint.as_deref() else {
        return Ok(false);
    };
    let token_client = TokenClient {
        endpoint: &credentials.token_endpoint,
        client_id: &credentials.client_id,
        client_secret: credentials.client_secret.as_deref(),
        resource: &credentials.resource,
    };
    let token = credentials
        .refresh_token
        .as_deref()
        .unwrap_or(&credentials.access_token);
    token_client.revoke(http, endpoint, token).await?;
    Ok(true)
}
