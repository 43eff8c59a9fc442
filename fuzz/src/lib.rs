//! What the fuzz targets share: fixed inputs, so that a crash reproduces from its input alone —
//! one signing key (made for fuzzing only: it signs nothing anywhere else), one keyring, one
//! authorization server on an in-memory store, one clock.

use std::{
    sync::{Arc, LazyLock},
    time::Duration,
};

use outpost_authorization_server::{AuthorizationServer, Clock};
use outpost_oauth::{
    keyring::{Keyring, KeyringEntry},
    signing_key::SigningKey,
};
use outpost_store::Store;

/// The issuer every token here names, as `outpost serve` on its default port would.
pub const ISSUER: &str = "http://127.0.0.1:8000";
/// The resource the tokens are for.
pub const AUDIENCE: &str = "http://127.0.0.1:8000/mcp";
/// The time every check runs at (Unix seconds, 2027-01-15).
pub const NOW: i64 = 1_800_000_000;
/// The client id a metadata document is fetched from (`client_metadata`).
pub const DOCUMENT_URL: &str = "https://client.example.com/oauth/metadata.json";

/// The fuzz-only key: a P-256 PKCS#8 PEM and its RFC 7638 thumbprint.
const KEY_PEM: &str = include_str!("fuzz-only-signing-key.pem");
const KEY_ID: &str = "2w60tkOMPvowQAi3DbEN7-vC4P8_A6l5zbk6MZ9S85w";

/// The keyring with the fuzz-only key, signing since an hour before [`NOW`].
pub fn keyring() -> &'static Keyring {
    static KEYRING: LazyLock<Keyring> = LazyLock::new(|| {
        let key = SigningKey::from_pem(KEY_ID, KEY_PEM).expect("the fuzz-only key loads");
        let entry = KeyringEntry {
            key,
            created_at: NOW - 3600,
            retired_at: None,
        };
        Keyring::from_entries([entry], Duration::from_secs(3600), NOW).expect("one active key")
    });
    &KEYRING
}

/// A clock stopped at [`NOW`].
struct Stopped;

impl Clock for Stopped {
    fn now(&self) -> i64 {
        NOW
    }
}

/// An authorization server as `outpost serve` configures it (scopes `mcp` and `mcp:admin`),
/// on an in-memory store, at [`NOW`].
pub fn authorization_server() -> &'static AuthorizationServer {
    static SERVER: LazyLock<AuthorizationServer> = LazyLock::new(|| {
        AuthorizationServer::new(
            ISSUER,
            AUDIENCE,
            Store::memory(),
            keyring().clone(),
            vec!["mcp".to_owned(), "mcp:admin".to_owned()],
        )
        .with_clock(Arc::new(Stopped))
    });
    &SERVER
}
