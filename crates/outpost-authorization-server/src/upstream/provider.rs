//! What the upstream provider publishes, and the requests this server makes of it.
//!
//! The discovery document (OpenID Connect Discovery 1.0, `{issuer}/.well-known/openid-configuration`)
//! is fetched at start and again at every sign-in: that fetch is how a provider that is down
//! is noticed before the browser is sent to it, and how one that moved its endpoints is
//! followed. Its keys (`jwks_uri`) are fetched at start and again when an ID token names a
//! key not in the set, at most every [`KEY_REFETCH_INTERVAL`]. The last good document and key
//! set stay when a fetch fails. The other requests: the code redeemed at the token endpoint,
//! and the user's claims read at the UserInfo endpoint when the ID token lacks them.

use std::{
    sync::{Arc, PoisonError, RwLock},
    time::{Duration, Instant},
};

use base64::{Engine as _, engine::general_purpose::STANDARD};
use serde::Deserialize;
use url::{Url, form_urlencoded};

use super::{UpstreamError, UpstreamSettings, id_token::UserInfo};
use outpost_oauth::{
    issuer_client::{FetchError, IssuerClient, is_https_or_loopback},
    jwk::{JwkSetDocument, KeySet},
};

/// The shortest time between two key-set fetches caused by an unknown `kid`.
pub const KEY_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// How this server authenticates at the provider's token endpoint (RFC 6749 §2.3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuthentication {
    /// `client_secret_basic`: the `Authorization: Basic` header (the OpenID default).
    Basic,
    /// `client_secret_post`: the id and secret in the form.
    Post,
}

/// The parts of the provider's discovery document the flow uses, checked.
#[derive(Debug, Clone)]
pub struct ProviderMetadata {
    /// The issuer, equal to the configured one.
    pub issuer: String,
    /// Where the browser is sent to sign in.
    pub authorization_endpoint: Url,
    /// Where the code is redeemed.
    pub token_endpoint: Url,
    /// The provider's key set.
    pub jwks_uri: Url,
    /// Where the user's claims are read with the access token (OpenID Connect Core §5.3),
    /// when the provider has it.
    pub userinfo_endpoint: Option<Url>,
    /// Whether the provider returns `iss` with the authorization response (RFC 9207), which
    /// the callback then requires.
    pub returns_iss: bool,
    /// How to authenticate at the token endpoint.
    pub client_authentication: ClientAuthentication,
}

#[derive(Deserialize)]
struct DiscoveryDocument {
    issuer: String,
    authorization_endpoint: Option<String>,
    token_endpoint: Option<String>,
    jwks_uri: Option<String>,
    userinfo_endpoint: Option<String>,
    response_types_supported: Option<Vec<String>>,
    code_challenge_methods_supported: Option<Vec<String>>,
    token_endpoint_auth_methods_supported: Option<Vec<String>>,
    #[serde(default)]
    authorization_response_iss_parameter_supported: bool,
}

/// The provider as last seen.
pub(super) struct Provider {
    issuer: String,
    discovery_url: Url,
    client: IssuerClient,
    metadata: RwLock<Arc<ProviderMetadata>>,
    keys: RwLock<Arc<KeySet>>,
    /// When an unknown `kid` last caused a fetch; held across it, so that concurrent callers
    /// wait for one fetch.
    last_key_fetch: tokio::sync::Mutex<Option<Instant>>,
}

/// Why the provider's answer to a token request is not usable.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RedeemError {
    /// The provider could not be reached (or failed): try again later.
    #[error("the token endpoint {url} cannot be reached: {cause}")]
    Unreachable {
        /// The token endpoint.
        url: String,
        /// What failed.
        cause: FetchError,
    },
    /// The provider refused the code (or answered with something other than a token).
    #[error("the token endpoint {url} refused the code: {cause}")]
    Refused {
        /// The token endpoint.
        url: String,
        /// What it answered.
        cause: FetchError,
    },
    /// The answer carried no ID token (the `openid` scope was not granted).
    #[error("the token endpoint {0} returned no id_token")]
    NoIdToken(String),
}

#[derive(Deserialize)]
struct TokenResponse {
    id_token: Option<String>,
    access_token: Option<String>,
}

/// What the token endpoint gave for a code.
pub(crate) struct Redeemed {
    /// The ID token, to validate.
    pub id_token: String,
    /// The access token, for the UserInfo endpoint only.
    pub access_token: Option<String>,
}

impl Provider {
    /// Fetches and checks the discovery document of `issuer` and its key set.
    pub(super) async fn connect(issuer: &str, client: IssuerClient) -> Result<Self, UpstreamError> {
        let discovery_url = discovery_url(issuer)?;
        let metadata = discover(&client, issuer, &discovery_url).await?;
        let keys = fetch_keys(&client, &metadata.jwks_uri)
            .await
            .map_err(|cause| UpstreamError::Keys {
                jwks_uri: metadata.jwks_uri.to_string(),
                cause: cause.to_string(),
            })?;
        if keys.is_empty() {
            return Err(UpstreamError::Keys {
                jwks_uri: metadata.jwks_uri.to_string(),
                cause: "no usable signing key (RSA, P-256, P-384 or Ed25519 with a kid)".into(),
            });
        }
        Ok(Self {
            issuer: issuer.to_owned(),
            discovery_url,
            client,
            metadata: RwLock::new(Arc::new(metadata)),
            keys: RwLock::new(Arc::new(keys)),
            last_key_fetch: tokio::sync::Mutex::new(None),
        })
    }

    /// The discovery document fetched now (a sign-in starts); the last good one stays when
    /// this fails.
    pub(super) async fn refresh(&self) -> Result<Arc<ProviderMetadata>, UpstreamError> {
        let metadata = Arc::new(discover(&self.client, &self.issuer, &self.discovery_url).await?);
        *self
            .metadata
            .write()
            .unwrap_or_else(PoisonError::into_inner) = metadata.clone();
        Ok(metadata)
    }

    /// The last good discovery document.
    pub(super) fn metadata(&self) -> Arc<ProviderMetadata> {
        self.metadata
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn cached_keys(&self) -> Arc<KeySet> {
        self.keys
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The key set, refetched first when it has no key `kid` (unless a fetch for an unknown
    /// `kid` happened within [`KEY_REFETCH_INTERVAL`]).
    pub(super) async fn keys_for(&self, kid: Option<&str>) -> Result<Arc<KeySet>, FetchError> {
        let known = |keys: &KeySet| kid.is_none_or(|kid| keys.get(kid).is_some());
        let keys = self.cached_keys();
        if known(&keys) {
            return Ok(keys);
        }
        let mut last = self.last_key_fetch.lock().await;
        let keys = self.cached_keys();
        if known(&keys) || last.is_some_and(|at| at.elapsed() < KEY_REFETCH_INTERVAL) {
            return Ok(keys);
        }
        *last = Some(Instant::now());
        let fresh = Arc::new(fetch_keys(&self.client, &self.metadata().jwks_uri).await?);
        if !fresh.is_empty() {
            *self.keys.write().unwrap_or_else(PoisonError::into_inner) = fresh.clone();
        }
        Ok(fresh)
    }

    /// Redeems `code` at the token endpoint (RFC 6749 §4.1.3, RFC 7636 §4.5) and returns the
    /// ID token and the access token (any refresh token in the answer is dropped unread).
    pub(super) async fn redeem(
        &self,
        metadata: &ProviderMetadata,
        settings: &UpstreamSettings,
        code: &str,
        code_verifier: &str,
        redirect_uri: &str,
    ) -> Result<Redeemed, RedeemError> {
        // The serializer is not `Send`: it is done with before the request is awaited.
        let (form, authorization) = {
            let mut form = form_urlencoded::Serializer::new(String::new());
            form.append_pair("grant_type", "authorization_code")
                .append_pair("code", code)
                .append_pair("redirect_uri", redirect_uri)
                .append_pair("code_verifier", code_verifier);
            let authorization = match metadata.client_authentication {
                ClientAuthentication::Basic => Some(basic_credentials(settings)),
                ClientAuthentication::Post => {
                    form.append_pair("client_id", &settings.client_id)
                        .append_pair("client_secret", &settings.client_secret);
                    None
                }
            };
            (form.finish(), authorization)
        };
        let url = &metadata.token_endpoint;
        let answer: TokenResponse = self
            .client
            .post_form(url, authorization.as_deref(), form)
            .await
            .map_err(|cause| match cause {
                FetchError::Status(status) if (400..500).contains(&status) => {
                    RedeemError::Refused {
                        url: url.to_string(),
                        cause,
                    }
                }
                FetchError::Json(_) | FetchError::Refused(_) => RedeemError::Refused {
                    url: url.to_string(),
                    cause,
                },
                cause => RedeemError::Unreachable {
                    url: url.to_string(),
                    cause,
                },
            })?;
        let id_token = answer
            .id_token
            .ok_or_else(|| RedeemError::NoIdToken(url.to_string()))?;
        Ok(Redeemed {
            id_token,
            access_token: answer.access_token,
        })
    }

    /// The user's claims at the UserInfo endpoint `endpoint`, read with `access_token`
    /// (OpenID Connect Core §5.3; a JSON answer — a signed one is not read).
    pub(super) async fn user_info(
        &self,
        endpoint: &Url,
        access_token: &str,
    ) -> Result<UserInfo, FetchError> {
        self.client
            .get_json_authorized(endpoint, &format!("Bearer {access_token}"))
            .await
    }
}

/// RFC 6749 §2.3.1: each part form-encoded, then Basic.
fn basic_credentials(settings: &UpstreamSettings) -> String {
    let encode =
        |value: &str| form_urlencoded::byte_serialize(value.as_bytes()).collect::<String>();
    let pair = format!(
        "{}:{}",
        encode(&settings.client_id),
        encode(&settings.client_secret)
    );
    format!("Basic {}", STANDARD.encode(pair))
}

/// OpenID Connect Discovery 1.0 §4: the issuer with `/.well-known/openid-configuration`
/// appended.
fn discovery_url(issuer: &str) -> Result<Url, UpstreamError> {
    Url::parse(&format!(
        "{}/.well-known/openid-configuration",
        issuer.trim_end_matches('/')
    ))
    .map_err(|_| UpstreamError::InsecureUrl {
        setting: "--upstream-oidc",
        url: issuer.to_owned(),
    })
}

async fn discover(
    client: &IssuerClient,
    issuer: &str,
    url: &Url,
) -> Result<ProviderMetadata, UpstreamError> {
    let document: DiscoveryDocument =
        client
            .get_json(url)
            .await
            .map_err(|cause| UpstreamError::Unreachable {
                issuer: issuer.to_owned(),
                url: url.to_string(),
                cause,
            })?;
    metadata_of(document, issuer, url)
}

/// The checked metadata of `document`, fetched from `url` for `issuer`.
fn metadata_of(
    document: DiscoveryDocument,
    issuer: &str,
    url: &Url,
) -> Result<ProviderMetadata, UpstreamError> {
    let unusable = |problem: String| UpstreamError::Unusable {
        url: url.to_string(),
        problem,
    };
    if document.issuer != issuer {
        return Err(UpstreamError::IssuerMismatch {
            issuer: issuer.to_owned(),
            url: url.to_string(),
            found: document.issuer,
        });
    }
    let endpoint = |member: &'static str, value: Option<String>| {
        let value = value.ok_or_else(|| unusable(format!("it has no {member}")))?;
        match Url::parse(&value) {
            Ok(parsed) if is_https_or_loopback(&parsed) => Ok(parsed),
            _ => Err(unusable(format!(
                "its {member} {value:?} is not an https URL (http only on a loopback host)"
            ))),
        }
    };
    let authorization_endpoint =
        endpoint("authorization_endpoint", document.authorization_endpoint)?;
    let token_endpoint = endpoint("token_endpoint", document.token_endpoint)?;
    let jwks_uri = endpoint("jwks_uri", document.jwks_uri)?;
    let userinfo_endpoint = document
        .userinfo_endpoint
        .map(|value| endpoint("userinfo_endpoint", Some(value)))
        .transpose()?;
    if let Some(types) = &document.response_types_supported
        && !types.iter().any(|t| t == "code")
    {
        return Err(unusable(format!(
            "its response_types_supported {types:?} lacks \"code\" (the authorization code flow)"
        )));
    }
    if let Some(methods) = &document.code_challenge_methods_supported
        && !methods.iter().any(|m| m == "S256")
    {
        return Err(unusable(format!(
            "its code_challenge_methods_supported {methods:?} lacks \"S256\" (PKCE)"
        )));
    }
    let client_authentication = match &document.token_endpoint_auth_methods_supported {
        None => ClientAuthentication::Basic,
        Some(methods) if methods.iter().any(|m| m == "client_secret_basic") => {
            ClientAuthentication::Basic
        }
        Some(methods) if methods.iter().any(|m| m == "client_secret_post") => {
            ClientAuthentication::Post
        }
        Some(methods) => {
            return Err(unusable(format!(
                "its token_endpoint_auth_methods_supported {methods:?} has neither \
                 client_secret_basic nor client_secret_post"
            )));
        }
    };
    Ok(ProviderMetadata {
        issuer: document.issuer,
        authorization_endpoint,
        token_endpoint,
        jwks_uri,
        userinfo_endpoint,
        returns_iss: document.authorization_response_iss_parameter_supported,
        client_authentication,
    })
}

async fn fetch_keys(client: &IssuerClient, jwks_uri: &Url) -> Result<KeySet, FetchError> {
    let document: JwkSetDocument = client.get_json(jwks_uri).await?;
    Ok(KeySet::from_document(&document))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn document(json: serde_json::Value) -> DiscoveryDocument {
        serde_json::from_value(json).unwrap()
    }

    fn url() -> Url {
        Url::parse("https://idp.example/.well-known/openid-configuration").unwrap()
    }

    fn complete() -> serde_json::Value {
        serde_json::json!({
            "issuer": "https://idp.example",
            "authorization_endpoint": "https://idp.example/authorize",
            "token_endpoint": "https://idp.example/token",
            "jwks_uri": "https://idp.example/jwks",
            "response_types_supported": ["code", "id_token"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "private_key_jwt"],
            "authorization_response_iss_parameter_supported": true
        })
    }

    #[test]
    fn a_complete_document_is_read() {
        let metadata = metadata_of(document(complete()), "https://idp.example", &url()).unwrap();
        assert_eq!(
            metadata.token_endpoint.as_str(),
            "https://idp.example/token"
        );
        assert_eq!(metadata.client_authentication, ClientAuthentication::Post);
        assert!(metadata.returns_iss);
    }

    #[test]
    fn errors_name_what_is_missing() {
        let mut json = complete();
        json.as_object_mut().unwrap().remove("jwks_uri");
        let error = metadata_of(document(json), "https://idp.example", &url()).unwrap_err();
        assert!(error.to_string().contains("it has no jwks_uri"), "{error}");

        let error = metadata_of(document(complete()), "https://idp.example/", &url()).unwrap_err();
        assert!(
            error
                .to_string()
                .contains("names the issuer \"https://idp.example\""),
            "{error}"
        );

        let mut json = complete();
        json["token_endpoint"] = "http://idp.example/token".into();
        let error = metadata_of(document(json), "https://idp.example", &url()).unwrap_err();
        assert!(error.to_string().contains("token_endpoint"), "{error}");

        let mut json = complete();
        json["code_challenge_methods_supported"] = serde_json::json!(["plain"]);
        let error = metadata_of(document(json), "https://idp.example", &url()).unwrap_err();
        assert!(error.to_string().contains("S256"), "{error}");
    }

    #[test]
    fn basic_credentials_are_form_encoded_first() {
        let settings = UpstreamSettings::new("https://idp.example", "a:b", "s p");
        assert_eq!(
            basic_credentials(&settings),
            format!("Basic {}", STANDARD.encode("a%3Ab:s+p"))
        );
    }
}
