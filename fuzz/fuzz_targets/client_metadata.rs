//! Client metadata: Dynamic Client Registration bodies (`register.rs`, `validate_metadata`),
//! Client ID Metadata Documents (`cimd/document.rs`) and client id URLs
//! (`cimd/client_id_url.rs`), on arbitrary input.
//!
//! Beyond "no panic": accepted metadata has 1–20 redirect URIs that each register for the
//! client's type, only the supported grant and response types, and scopes the server
//! supports; an accepted document makes a public client (`none`) named by its URL; a client id
//! URL that parses is `https` and reads back as given.
//!
//! Input: the first line is a client id URL, the rest the metadata (DCR body and document).

#![no_main]

use libfuzzer_sys::fuzz_target;
use outpost_authorization_server::{
    cimd::{ClientIdUrl, document::client_from_document},
    fuzzing::registration,
};
use outpost_fuzz::{DOCUMENT_URL, authorization_server};
use outpost_oauth::redirect_uri::{self, RedirectUri};
use outpost_store::{ApplicationType, ClientId, ClientRecord, TokenEndpointAuthMethod};

fn check_record(record: &ClientRecord) {
    assert!((1..=20).contains(&record.redirect_uris.len()));
    let kind = match record.application_type {
        ApplicationType::Web => redirect_uri::ApplicationType::Web,
        ApplicationType::Native => redirect_uri::ApplicationType::Native,
    };
    for uri in &record.redirect_uris {
        assert!(RedirectUri::parse(uri, kind).is_ok(), "{uri}");
    }
    assert!(record.grant_types.iter().any(|g| g == "authorization_code"));
    assert!(
        record
            .grant_types
            .iter()
            .all(|g| g == "authorization_code" || g == "refresh_token")
    );
    assert!(record.response_types.iter().all(|r| r == "code"));
    if let Some(scope) = &record.scope {
        assert!(
            scope.split(' ').all(|s| s == "mcp" || s == "mcp:admin"),
            "{scope}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let (first, rest) = match data.iter().position(|byte| *byte == b'\n') {
        Some(end) => (data[..end].to_vec(), &data[end + 1..]),
        None => (data.to_vec(), &[][..]),
    };
    let client_id_url = String::from_utf8_lossy(&first);
    let server = authorization_server();
    let client_id = ClientId::parse("fuzz-client").expect("a client id");
    if let Ok(record) = registration(server, rest, client_id) {
        check_record(&record);
    }

    let url = ClientIdUrl::parse(DOCUMENT_URL).expect("the document URL is a client id URL");
    if let Ok(record) = client_from_document(server, &url, rest) {
        check_record(&record);
        assert_eq!(record.client_id.as_str(), DOCUMENT_URL);
        assert_eq!(
            record.token_endpoint_auth_method,
            TokenEndpointAuthMethod::None
        );
    }

    if let Ok(url) = ClientIdUrl::parse(&client_id_url) {
        assert_eq!(url.as_str(), client_id_url, "round trip");
        assert_eq!(url.url().scheme(), "https");
        assert!(!client_id_url.contains('#'));
    }
});
