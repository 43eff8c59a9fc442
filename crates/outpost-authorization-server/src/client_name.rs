//! A client's name as the login and consent pages show it. Clients choose their own
//! `client_name` (Dynamic Client Registration, metadata documents), so a name must not be
//! able to pass for another: registration refuses names with [`is_deceptive`] characters, and
//! [`shown`] drops any that a stored record still has.

use outpost_store::ClientRecord;

/// The name shown to the user: the registered `client_name` without the characters that
/// could make it read as something else ([`is_deceptive`]), else the client id.
pub(crate) fn shown(client: &ClientRecord) -> String {
    client
        .client_name
        .as_deref()
        .map(|name| {
            name.chars()
                .filter(|c| !is_deceptive(*c))
                .collect::<String>()
        })
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| client.client_id.to_string())
}

/// Control characters and the invisible formatting characters (Unicode `Cf`: bidirectional
/// overrides and isolates, zero-width spaces and joiners, the byte-order mark) that would let
/// a self-chosen client name render as another name on the login and consent pages
/// (`\u{202E}` reverses what follows it).
pub(crate) fn is_deceptive(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{00AD}'
                | '\u{061C}'
                | '\u{180E}'
                | '\u{200B}'..='\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2060}'..='\u{2064}'
                | '\u{2066}'..='\u{2069}'
                | '\u{FEFF}'
                | '\u{FFF9}'..='\u{FFFB}'
        )
}
