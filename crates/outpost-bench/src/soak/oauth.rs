//! The soak's OAuth client, played as a user's browser and app would: one Dynamic Client
//! Registration, then logins through the real login form (authorization code + PKCE S256,
//! consent on the first login of each user), refresh-token rotations and revocations.
//!
//! Cookies are carried by hand: each login is a fresh browser, holding only the cookies the
//! authorization server sets during it (`outpost_browser`, `outpost_csrf`).

use anyhow::{Context, bail, ensure};
use http::{StatusCode, header};
use outpost::auth::{
    pkce::{CodeChallenge, CodeVerifier},
    secret::Secret,
};
use serde::Deserialize;
use url::Url;

/// Where the app would listen for the code (nothing listens: redirects are not followed).
const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

/// An access token and the refresh token that came with it.
#[derive(Debug, Clone, Deserialize)]
pub struct Tokens {
    /// The bearer token for `/mcp`.
    pub access_token: String,
    /// The refresh token (rotated on each use).
    pub refresh_token: String,
}

/// A registered public client of the server at `base`.
pub struct OAuthClient {
    http: reqwest::Client,
    base: String,
    client_id: String,
}

impl OAuthClient {
    /// Registers a native public client (`POST /register`), as MCP clients do.
    pub async fn register(http: reqwest::Client, base: &str) -> anyhow::Result<Self> {
        let metadata = serde_json::json!({
            "client_name": "outpost-bench soak",
            "redirect_uris": [REDIRECT_URI],
            "token_endpoint_auth_method": "none",
            "application_type": "native",
            "scope": "mcp",
        });
        let response = http
            .post(format!("{base}/register"))
            .json(&metadata)
            .send()
            .await?;
        let status = response.status();
        let body: serde_json::Value = response.json().await?;
        ensure!(
            status == StatusCode::CREATED,
            "registration: {status} {body}"
        );
        let client_id = body["client_id"]
            .as_str()
            .context("registration answered no client_id")?
            .to_owned();
        Ok(Self {
            http,
            base: base.to_owned(),
            client_id,
        })
    }

    /// Signs `username` in through `/authorize`, `/login` and (first time) `/consent`, and
    /// exchanges the code.
    pub async fn login(&self, username: &str, password: &str) -> anyhow::Result<Tokens> {
        let secret = Secret::generate()?;
        let verifier_text = secret.expose();
        let verifier = CodeVerifier::parse(verifier_text)?;
        let state = Secret::generate()?.expose().to_owned();
        let mut authorize = Url::parse(&format!("{}/authorize", self.base))?;
        authorize
            .query_pairs_mut()
            .append_pair("response_type", "code")
            .append_pair("client_id", &self.client_id)
            .append_pair("redirect_uri", REDIRECT_URI)
            .append_pair("scope", "mcp")
            .append_pair("state", &state)
            .append_pair("code_challenge", CodeChallenge::s256(&verifier).as_str())
            .append_pair("code_challenge_method", "S256");
        let mut browser = Browser::default();
        let page = browser.expect_page(self.http.get(authorize)).await?;
        let form = [
            ("request", hidden(&page, "request")?),
            ("csrf", hidden(&page, "csrf")?),
            ("username", username),
            ("password", password),
        ];
        let login = browser.post(&self.http, &format!("{}/login", self.base), &form);
        let location = match browser.send(login).await? {
            Answer::Redirect(location) => location,
            Answer::Page(consent) => {
                let form = [
                    ("request", hidden(&consent, "request")?),
                    ("csrf", hidden(&consent, "csrf")?),
                    ("decision", "approve"),
                ];
                let approve = browser.post(&self.http, &format!("{}/consent", self.base), &form);
                match browser.send(approve).await? {
                    Answer::Redirect(location) => location,
                    Answer::Page(_) => bail!("consent answered a page, not the redirect"),
                }
            }
        };
        let location = Url::parse(&location)?;
        let param = |name: &str| {
            location
                .query_pairs()
                .find(|(key, _)| key == name)
                .map(|(_, value)| value.into_owned())
        };
        ensure!(
            param("state").as_deref() == Some(state.as_str()),
            "state lost"
        );
        let code = param("code").with_context(|| format!("no code in {location}"))?;
        self.token(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("client_id", &self.client_id),
            ("code_verifier", verifier_text),
        ])
        .await
    }

    /// Rotates `refresh_token` (`grant_type=refresh_token`).
    pub async fn refresh(&self, refresh_token: &str) -> anyhow::Result<Tokens> {
        self.token(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
            ("client_id", &self.client_id),
        ])
        .await
    }

    /// Revokes the grant of `refresh_token` (`POST /revoke`, RFC 7009).
    pub async fn revoke(&self, refresh_token: &str) -> anyhow::Result<()> {
        let body = form(&[
            ("token", refresh_token),
            ("token_type_hint", "refresh_token"),
            ("client_id", &self.client_id),
        ]);
        let response = form_post(&self.http, &format!("{}/revoke", self.base), body)
            .send()
            .await?;
        let status = response.status();
        ensure!(status == StatusCode::OK, "revoke: {status}");
        Ok(())
    }

    async fn token(&self, fields: &[(&str, &str)]) -> anyhow::Result<Tokens> {
        let response = form_post(&self.http, &format!("{}/token", self.base), form(fields))
            .send()
            .await?;
        let status = response.status();
        let body = response.bytes().await?;
        ensure!(
            status == StatusCode::OK,
            "token: {status} {}",
            String::from_utf8_lossy(&body)
        );
        Ok(serde_json::from_slice(&body)?)
    }
}

/// What a browser step answered: a page to fill in, or a redirect to the client.
enum Answer {
    Page(String),
    Redirect(String),
}

/// The cookies of one browser, as `name=value` pairs.
#[derive(Default)]
struct Browser {
    cookies: Vec<(String, String)>,
}

impl Browser {
    fn post(
        &self,
        http: &reqwest::Client,
        url: &str,
        fields: &[(&str, &str)],
    ) -> reqwest::RequestBuilder {
        form_post(http, url, form(fields))
    }

    /// Sends `request` with the cookies, keeps the ones it sets; a 200 page or a redirect.
    async fn send(&mut self, request: reqwest::RequestBuilder) -> anyhow::Result<Answer> {
        let cookie = self
            .cookies
            .iter()
            .map(|(name, value)| format!("{name}={value}"))
            .collect::<Vec<_>>()
            .join("; ");
        let response = request.header(header::COOKIE, cookie).send().await?;
        for set in response.headers().get_all(header::SET_COOKIE) {
            let pair = set.to_str()?.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                self.cookies.retain(|(known, _)| known != name);
                self.cookies.push((name.to_owned(), value.to_owned()));
            }
        }
        let status = response.status();
        if status.is_redirection() {
            let location = response
                .headers()
                .get(header::LOCATION)
                .context("a redirect without Location")?;
            return Ok(Answer::Redirect(location.to_str()?.to_owned()));
        }
        let body = response.text().await?;
        ensure!(status == StatusCode::OK, "{status}: {body}");
        Ok(Answer::Page(body))
    }

    async fn expect_page(&mut self, request: reqwest::RequestBuilder) -> anyhow::Result<String> {
        match self.send(request).await? {
            Answer::Page(page) => Ok(page),
            Answer::Redirect(location) => bail!("expected a page, was sent to {location}"),
        }
    }
}

/// The value of the hidden input `name` in `page`.
fn hidden<'a>(page: &'a str, name: &str) -> anyhow::Result<&'a str> {
    let marker = format!("name=\"{name}\" value=\"");
    let start = page
        .find(&marker)
        .with_context(|| format!("no {name} field in the page"))?
        + marker.len();
    let end = page[start..].find('"').context("an unterminated value")?;
    Ok(&page[start..start + end])
}

fn form(fields: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(fields)
        .finish()
}

fn form_post(http: &reqwest::Client, url: &str, body: String) -> reqwest::RequestBuilder {
    http.post(url)
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(body)
}
