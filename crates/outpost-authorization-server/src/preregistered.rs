//! Pre-registered clients: a JSON file of clients with fixed ids, loaded at start
//! (`outpost serve --clients FILE`) for deployments that know their clients in advance.
//!
//! ```json
//! { "clients": [
//!   { "client_id": "reporting-service",
//!     "client_name": "Reporting",
//!     "redirect_uris": ["https://reports.example.com/oauth/callback"],
//!     "token_endpoint_auth_method": "client_secret_basic",
//!     "client_secret_hash": "$argon2id$v=19$m=19456,t=2,p=1$…" },
//!   { "client_id": "desktop-app", "application_type": "native",
//!     "redirect_uris": ["http://127.0.0.1/callback"], "token_endpoint_auth_method": "none" }
//! ] }
//! ```
//!
//! Each entry is RFC 7591 client metadata (`client_name`, `redirect_uris`, `grant_types`,
//! `response_types`, `token_endpoint_auth_method` — default `client_secret_basic` as in
//! RFC 7591 §2 —, `application_type`, `scope`) checked by the same rules as Dynamic Client
//! Registration (`register::validate_metadata`), plus:
//!
//! - `client_id`: required, unique in the file, no whitespace, and not URL-shaped (`://`):
//!   those ids belong to Client ID Metadata Documents.
//! - `resource_server`: `true` for a resource server that introspects tokens issued to other
//!   clients (RFC 7662; a confidential client only). Without it a client introspects only its
//!   own tokens. The setting lives in this file, not in the store: every instance serving
//!   with the file knows its resource servers.
//! - A confidential client (`client_secret_basic`, `client_secret_post`) gives
//!   `client_secret_hash`, an argon2id PHC string (`outpost clients hash-secret` makes one):
//!   secrets are never written in plain text, and a `client_secret` member is refused. A
//!   public client (`none`) has no hash.
//!
//! A member outside these (a typo such as `redirect_uri`, or RFC 7591 metadata Outpost does not
//! keep, such as `logo_uri`) is refused, naming it: a setting in this file is never silently
//! ignored. Every entry is checked before any is stored; a bad entry fails the whole file with
//! a message naming it. The clients are then upserted ([`ClientStore::upsert`]), so a restart
//! with a changed file updates them and keeps what was issued to them. A client removed from
//! the file stays in the store.
//!
//! [`ClientStore::upsert`]: outpost_store::ClientStore::upsert

use serde::Deserialize;
use serde_json::Value;

use super::{
    AuthorizationServer,
    cimd::is_url_shaped,
    register::{self, RegistrationRequest},
};
use outpost_store::{ClientId, ClientRecord, PasswordHash, StoreError, TokenEndpointAuthMethod};

/// Longest pre-registered client id.
pub const MAX_CLIENT_ID_LEN: usize = 200;

/// Why a clients file was refused.
#[derive(Debug, thiserror::Error)]
pub enum PreregisteredClientsError {
    /// Not JSON of the expected shape.
    #[error("the clients file is not valid: {0} (expected {{\"clients\": [ … ]}})")]
    Format(String),
    /// One entry breaks a rule.
    #[error("client #{index} ({client_id}): {reason}")]
    Entry {
        /// The entry's position, from 1.
        index: usize,
        /// Its `client_id`, or `?` without one.
        client_id: String,
        /// What is wrong.
        reason: String,
    },
    /// Storing the clients failed.
    #[error("the clients could not be stored: {0}")]
    Store(#[from] StoreError),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClientsFile {
    clients: Vec<Value>,
}

/// The clients of a clients file, checked.
#[derive(Debug)]
pub struct PreregisteredClients {
    /// The clients, ready to store.
    pub clients: Vec<ClientRecord>,
    /// The ids of those marked `"resource_server": true`, for
    /// [`AuthorizationServer::with_resource_servers`].
    pub resource_servers: Vec<ClientId>,
}

/// The members an entry may have: its own, then the registration metadata Outpost keeps
/// ([`RegistrationRequest`]'s fields; `Entry` flattens it, which serde's
/// `deny_unknown_fields` does not support, hence this list).
const ENTRY_MEMBERS: [&str; 10] = [
    "client_id",
    "client_secret_hash",
    "resource_server",
    "redirect_uris",
    "client_name",
    "grant_types",
    "response_types",
    "token_endpoint_auth_method",
    "scope",
    "application_type",
];

#[derive(Debug, Deserialize)]
struct Entry {
    client_id: Option<String>,
    client_secret_hash: Option<String>,
    #[serde(default)]
    resource_server: bool,
    #[serde(flatten)]
    metadata: RegistrationRequest,
}

/// Checks the clients file `text` and returns its clients, ready to store.
pub fn parse_clients_file(
    server: &AuthorizationServer,
    text: &str,
) -> Result<PreregisteredClients, PreregisteredClientsError> {
    let file: ClientsFile =
        serde_json::from_str(text).map_err(|e| PreregisteredClientsError::Format(e.to_string()))?;
    let mut records: Vec<ClientRecord> = Vec::with_capacity(file.clients.len());
    let mut resource_servers = Vec::new();
    for (position, value) in file.clients.into_iter().enumerate() {
        let index = position + 1;
        let shown = value
            .get("client_id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_owned();
        let refuse = |reason: String| PreregisteredClientsError::Entry {
            index,
            client_id: shown.clone(),
            reason,
        };
        let (record, resource_server) = client_of(server, value).map_err(refuse)?;
        if records.iter().any(|r| r.client_id == record.client_id) {
            return Err(refuse("this client_id appears twice".into()));
        }
        if resource_server {
            resource_servers.push(record.client_id.clone());
        }
        records.push(record);
    }
    Ok(PreregisteredClients {
        clients: records,
        resource_servers,
    })
}

/// Checks and stores the clients of `text` (see the module docs); returns them. The caller
/// gives their `resource_servers` to [`AuthorizationServer::with_resource_servers`].
pub async fn load_clients_file(
    server: &AuthorizationServer,
    text: &str,
) -> Result<PreregisteredClients, PreregisteredClientsError> {
    let checked = parse_clients_file(server, text)?;
    for record in &checked.clients {
        server.store.clients.upsert(record.clone()).await?;
    }
    Ok(checked)
}

/// One entry, checked, and whether it is a resource server.
fn client_of(server: &AuthorizationServer, value: Value) -> Result<(ClientRecord, bool), String> {
    let Some(members) = value.as_object() else {
        return Err("an entry must be a JSON object".into());
    };
    if members.contains_key("client_secret") {
        return Err(
            "client_secret must not be written in the file: give client_secret_hash \
                    (from `outpost clients hash-secret`)"
                .into(),
        );
    }
    if let Some(unknown) = members
        .keys()
        .find(|member| !ENTRY_MEMBERS.contains(&member.as_str()))
    {
        return Err(format!(
            "unknown member {unknown:?} (an entry has {})",
            ENTRY_MEMBERS.join(", ")
        ));
    }
    let entry: Entry = serde_json::from_value(value).map_err(|e| e.to_string())?;
    let client_id = entry.client_id.ok_or("client_id is required")?;
    if is_url_shaped(&client_id) {
        return Err(
            "a client_id containing \"://\" is reserved for Client ID Metadata \
                    Documents"
                .into(),
        );
    }
    if client_id.chars().count() > MAX_CLIENT_ID_LEN {
        return Err(format!(
            "client_id is longer than {MAX_CLIENT_ID_LEN} characters"
        ));
    }
    let client_id = ClientId::parse(&client_id).map_err(|e| e.to_string())?;
    let mut record = register::validate_metadata(server, entry.metadata, client_id)
        .map_err(|e| e.description().to_owned())?;
    let confidential = record.token_endpoint_auth_method != TokenEndpointAuthMethod::None;
    record.client_secret_hash = match (confidential, entry.client_secret_hash) {
        (true, Some(phc)) => Some(parse_secret_hash(&phc)?),
        (true, None) => {
            return Err(format!(
                "token_endpoint_auth_method {} needs client_secret_hash",
                record.token_endpoint_auth_method.as_str()
            ));
        }
        (false, Some(_)) => {
            return Err(
                "a public client (token_endpoint_auth_method none) has no client_secret_hash"
                    .into(),
            );
        }
        (false, None) => None,
    };
    if entry.resource_server && !confidential {
        return Err(
            "a resource_server introspects tokens, which needs a confidential client \
             (client_secret_basic or client_secret_post)"
                .into(),
        );
    }
    Ok((record, entry.resource_server))
}

fn parse_secret_hash(phc: &str) -> Result<PasswordHash, String> {
    let invalid = || {
        "client_secret_hash is not an argon2id PHC string ($argon2id$…): make one with \
         `outpost clients hash-secret`"
            .to_owned()
    };
    if !phc.starts_with("$argon2id$") {
        return Err(invalid());
    }
    PasswordHash::parse(phc).map_err(|_| invalid())
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::password::hash_password;
    use outpost_oauth::keyring::Keyring;
    use outpost_store::Store;

    fn server() -> AuthorizationServer {
        let keyring = Keyring::generate(0, std::time::Duration::from_secs(3600)).unwrap();
        AuthorizationServer::new(
            "http://127.0.0.1:1",
            "http://127.0.0.1:1/mcp",
            Store::memory(),
            keyring,
            vec!["mcp".into()],
        )
    }

    fn confidential(id: &str) -> Value {
        json!({
            "client_id": id,
            "client_name": "Reporting",
            "redirect_uris": ["https://reports.example.com/callback"],
            "client_secret_hash": hash_password("a long enough client secret").unwrap().as_str(),
        })
    }

    fn refusal(entries: Value) -> String {
        let text = json!({ "clients": entries }).to_string();
        parse_clients_file(&server(), &text)
            .expect_err("refused")
            .to_string()
    }

    #[tokio::test]
    async fn valid_clients_are_stored_and_updated() {
        let server = server();
        let public = json!({
            "client_id": "desktop-app",
            "application_type": "native",
            "redirect_uris": ["http://127.0.0.1/callback"],
            "token_endpoint_auth_method": "none",
            "scope": "mcp other",
        });
        let mut introspecting = confidential("gateway");
        introspecting["resource_server"] = json!(true);
        // Every member an entry may have, once.
        introspecting["grant_types"] = json!(["authorization_code", "refresh_token"]);
        introspecting["response_types"] = json!(["code"]);
        introspecting["token_endpoint_auth_method"] = json!("client_secret_post");
        introspecting["application_type"] = json!("web");
        introspecting["scope"] = json!("mcp");
        let text =
            json!({ "clients": [confidential("reporting"), public, introspecting] }).to_string();
        let loaded = load_clients_file(&server, &text).await.unwrap();
        assert_eq!(loaded.clients.len(), 3);
        assert_eq!(
            loaded.resource_servers,
            vec![ClientId::parse("gateway").unwrap()]
        );
        let id = ClientId::parse("reporting").unwrap();
        let stored = server.store.clients.get(&id).await.unwrap().unwrap();
        assert_eq!(
            stored.token_endpoint_auth_method,
            TokenEndpointAuthMethod::ClientSecretBasic,
            "RFC 7591's default"
        );
        assert!(stored.client_secret_hash.is_some());
        let desktop = ClientId::parse("desktop-app").unwrap();
        let desktop = server.store.clients.get(&desktop).await.unwrap().unwrap();
        assert_eq!(desktop.scope.as_deref(), Some("mcp"), "cut to supported");
        assert_eq!(desktop.client_secret_hash, None);

        // Loading again with a change updates the client.
        let mut renamed = confidential("reporting");
        renamed["client_name"] = json!("Reports v2");
        let text = json!({ "clients": [renamed] }).to_string();
        load_clients_file(&server, &text).await.unwrap();
        let stored = server.store.clients.get(&id).await.unwrap().unwrap();
        assert_eq!(stored.client_name.as_deref(), Some("Reports v2"));
    }

    /// Every member the list admits is one the entry reads: a member the structs dropped
    /// (but the list kept) would be accepted and ignored, what the list exists to prevent.
    #[test]
    fn every_admitted_member_is_read() {
        for member in ENTRY_MEMBERS {
            let mut entry = confidential("c");
            entry[member] = json!({"not": "a string, list or flag"});
            let message = refusal(json!([entry]));
            assert!(message.contains("client #1"), "{member}: {message}");
        }
    }

    #[test]
    fn bad_entries_are_named() {
        assert!(
            parse_clients_file(&server(), "[]")
                .unwrap_err()
                .to_string()
                .contains("expected {\"clients\"")
        );
        assert!(
            parse_clients_file(&server(), r#"{"clients": [], "client": []}"#)
                .unwrap_err()
                .to_string()
                .contains("unknown field `client`")
        );
        let mut plain = confidential("plain");
        plain["client_secret"] = json!("hunter2");
        let cases = [
            (
                json!([json!({"redirect_uris": ["https://a.example/cb"]})]),
                "client #1 (?): client_id is required",
            ),
            (
                json!([confidential("a"), plain]),
                "client #2 (plain): client_secret must not",
            ),
            (
                json!([confidential("a"), confidential("a")]),
                "client #2 (a): this client_id appears twice",
            ),
            (
                json!([confidential("https://a.example/c")]),
                "reserved for Client ID Metadata",
            ),
            (
                json!([{"client_id": "s", "redirect_uris": ["https://a.example/cb"]}]),
                "needs client_secret_hash",
            ),
            (
                json!([{"client_id": "s", "redirect_uris": ["https://a.example/cb"], "client_secret_hash": "$pbkdf2$x"}]),
                "not an argon2id PHC string",
            ),
            (
                json!([{"client_id": "p", "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none", "client_secret_hash": hash_password("x").unwrap().as_str()}]),
                "has no client_secret_hash",
            ),
            (
                json!([{"client_id": "w", "redirect_uris": ["http://a.example/cb"], "token_endpoint_auth_method": "none"}]),
                "client #1 (w): redirect URI",
            ),
            (
                json!([{"client_id": "g", "redirect_uris": ["https://a.example/cb"], "grant_types": ["password"], "token_endpoint_auth_method": "none"}]),
                "grant_types",
            ),
            (
                json!([{"client_id": "has space", "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none"}]),
                "client #1 (has space)",
            ),
            (json!(["not an object"]), "must be a JSON object"),
            (
                json!([{"client_id": "t", "redirect_uri": ["https://a.example/cb"], "token_endpoint_auth_method": "none"}]),
                "client #1 (t): unknown member \"redirect_uri\" (an entry has client_id,",
            ),
            (
                json!([{"client_id": "l", "redirect_uris": ["https://a.example/cb"], "token_endpoint_auth_method": "none", "logo_uri": "https://a.example/l.png"}]),
                "unknown member \"logo_uri\"",
            ),
            (
                json!([{"client_id": "p", "redirect_uris": ["http://127.0.0.1/cb"], "application_type": "native", "token_endpoint_auth_method": "none", "resource_server": true}]),
                "needs a confidential client",
            ),
        ];
        for (entries, expected) in cases {
            let message = refusal(entries);
            assert!(
                message.contains(expected),
                "{expected:?} not in {message:?}"
            );
        }
    }
}
