//! The reference server's resources: the seed's 100 numbered resources (even: text, odd:
//! binary), paginated; the conformance suite's `test://` fixtures; the MCP App template.
//!
//! The catalog is static, so list and read are pure functions of their arguments.

pub mod app;
pub mod numbered;

use rmcp::{
    ErrorData as McpError,
    model::{
        ListResourceTemplatesResult, ListResourcesResult, ReadResourceResult, Resource,
        ResourceContents, ResourceTemplate,
    },
};
use serde_json::json;

use crate::tools::media::TINY_PNG_BASE64;

pub use numbered::{NUMBERED_RESOURCE_COUNT, numbered_uri};

/// Resources per `resources/list` page.
pub const PAGE_SIZE: usize = 10;

/// `test://template/{id}/data`: the conformance suite's template.
pub const CONFORMANCE_TEMPLATE: &str = "test://template/{id}/data";

/// `test://watched-resource`: the resource the conformance suite subscribes to.
pub const WATCHED_RESOURCE: &str = "test://watched-resource";

/// Every listed resource, in list order: fixtures first, then the app template, then the
/// numbered resources.
fn catalog() -> impl Iterator<Item = Resource> {
    let fixtures = [
        Resource::new("test://static-text", "Static Text Resource")
            .with_description("A static text resource for testing")
            .with_mime_type("text/plain"),
        Resource::new("test://static-binary", "Static Binary Resource")
            .with_description("A static binary/blob resource for testing")
            .with_mime_type("image/png"),
        Resource::new(WATCHED_RESOURCE, "Watched Resource")
            .with_description("A resource to subscribe to; updates are announced periodically")
            .with_mime_type("text/plain"),
        app::resource(),
    ];
    fixtures
        .into_iter()
        .chain((1..=NUMBERED_RESOURCE_COUNT).map(numbered::resource))
}

/// One page of `resources/list`. The cursor is the decimal offset of the page's first item, as
/// `nextCursor` gives it (a whole page on, within the list); anything else is
/// `-32602 Invalid params`.
pub fn list(cursor: Option<&str>) -> Result<ListResourcesResult, McpError> {
    let offset = match cursor {
        None => 0,
        Some(cursor) => cursor
            .parse::<usize>()
            .ok()
            .filter(|&offset| offset > 0 && offset % PAGE_SIZE == 0 && offset < catalog().count())
            .ok_or_else(|| {
                McpError::invalid_params("invalid cursor", Some(json!({ "cursor": cursor })))
            })?,
    };
    let mut page: Vec<Resource> = catalog().skip(offset).take(PAGE_SIZE + 1).collect();
    let next_cursor = (page.len() > PAGE_SIZE).then(|| {
        page.truncate(PAGE_SIZE);
        (offset + PAGE_SIZE).to_string()
    });
    let mut result = ListResourcesResult::with_all_items(page);
    result.next_cursor = next_cursor;
    Ok(result)
}

/// `resources/templates/list`: the numbered-resource template and the conformance template.
pub fn templates() -> ListResourceTemplatesResult {
    ListResourceTemplatesResult::with_all_items(vec![
        ResourceTemplate::new(numbered::TEMPLATE, "Numbered resource")
            .with_description("One of the 100 numbered resources, by id (1–100); even ids are text, odd ids binary")
            .with_mime_type("text/plain"),
        ResourceTemplate::new(CONFORMANCE_TEMPLATE, "Dynamic Resource")
            .with_description("A dynamic resource with parameter substitution")
            .with_mime_type("application/json"),
    ])
}

/// `resources/read`. An unknown URI is `-32002` (rmcp turns it into `-32602` for 2026-07-28).
pub fn read(uri: &str) -> Result<ReadResourceResult, McpError> {
    let contents = match uri {
        "test://static-text" => {
            ResourceContents::text("This is the content of the static text resource.", uri)
                .with_mime_type("text/plain")
        }
        "test://static-binary" => {
            ResourceContents::blob(TINY_PNG_BASE64, uri).with_mime_type("image/png")
        }
        WATCHED_RESOURCE => ResourceContents::text("This resource is watched for updates.", uri)
            .with_mime_type("text/plain"),
        app::GREETING_CARD_URI => app::contents(),
        _ => {
            if let Some(id) = template_id(uri) {
                ResourceContents::text(
                    json!({ "id": id, "templateTest": true, "data": format!("Data for ID: {id}") })
                        .to_string(),
                    uri,
                )
                .with_mime_type("application/json")
            } else if let Some(contents) = numbered::read(uri) {
                contents
            } else {
                return Err(not_found(uri));
            }
        }
    };
    Ok(ReadResourceResult::new(vec![contents]))
}

/// `Ok` when `uri` can be read (subscriptions are only accepted for those).
pub fn ensure_exists(uri: &str) -> Result<(), McpError> {
    read(uri).map(|_| ())
}

fn template_id(uri: &str) -> Option<&str> {
    uri.strip_prefix("test://template/")?
        .strip_suffix("/data")
        .filter(|id| !id.is_empty() && !id.contains('/'))
}

fn not_found(uri: &str) -> McpError {
    McpError::resource_not_found(
        format!("Resource not found: {uri}"),
        Some(json!({ "uri": uri })),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages_cover_every_resource_once() {
        let mut seen = Vec::new();
        let mut cursor = None;
        loop {
            let page = list(cursor.as_deref()).unwrap();
            assert!(page.resources.len() <= PAGE_SIZE);
            seen.extend(page.resources.into_iter().map(|r| r.uri));
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        assert_eq!(seen.len(), NUMBERED_RESOURCE_COUNT + 4);
        assert_eq!(seen[0], "test://static-text");
        assert!(seen.contains(&numbered_uri(100)));
    }

    #[test]
    fn a_cursor_no_page_gave_is_invalid_params() {
        let past_the_end = (catalog().count() / PAGE_SIZE + 1) * PAGE_SIZE;
        for cursor in ["not-a-cursor", "0", "5", "-10", &past_the_end.to_string()] {
            let error = list(Some(cursor)).unwrap_err();
            assert_eq!(
                error.code,
                rmcp::model::ErrorCode::INVALID_PARAMS,
                "{cursor}"
            );
        }
    }

    #[test]
    fn unknown_resource_is_not_found() {
        let error = read("test://nope").unwrap_err();
        assert_eq!(error.code, rmcp::model::ErrorCode::RESOURCE_NOT_FOUND);
    }

    #[test]
    fn template_reads_substitute_the_id() {
        let result = read("test://template/42/data").unwrap();
        let ResourceContents::TextResourceContents { text, .. } = &result.contents[0] else {
            panic!("expected text");
        };
        assert!(text.contains("Data for ID: 42"));
    }
}
