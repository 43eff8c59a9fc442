//! The seed server's 100 numbered resources: `test://static/resource/{n}`, n in 1..=100.
//! Even ids are plain text; odd ids are binary (base64 blobs).

use base64::Engine;
use rmcp::model::{Resource, ResourceContents};

/// How many numbered resources exist.
pub const NUMBERED_RESOURCE_COUNT: usize = 100;

/// Their URI template.
pub const TEMPLATE: &str = "test://static/resource/{id}";

const PREFIX: &str = "test://static/resource/";

/// The URI of resource `n`.
pub fn numbered_uri(n: usize) -> String {
    format!("{PREFIX}{n}")
}

/// The listing entry of resource `n`.
pub fn resource(n: usize) -> Resource {
    let mime = if n.is_multiple_of(2) {
        "text/plain"
    } else {
        "application/octet-stream"
    };
    Resource::new(numbered_uri(n), format!("Resource {n}")).with_mime_type(mime)
}

/// The contents of a numbered resource URI, or `None` if it is not one.
pub fn read(uri: &str) -> Option<ResourceContents> {
    let n: usize = uri.strip_prefix(PREFIX)?.parse().ok()?;
    if !(1..=NUMBERED_RESOURCE_COUNT).contains(&n) {
        return None;
    }
    Some(if n.is_multiple_of(2) {
        ResourceContents::text(format!("Resource {n}: This is a plaintext resource"), uri)
            .with_mime_type("text/plain")
    } else {
        let blob = base64::engine::general_purpose::STANDARD
            .encode(format!("Resource {n}: This is a base64 blob"));
        ResourceContents::blob(blob, uri).with_mime_type("application/octet-stream")
    })
}

/// Completion for the template's `id` argument: ids starting with `prefix`.
pub fn complete_id(prefix: &str) -> Vec<String> {
    (1..=NUMBERED_RESOURCE_COUNT)
        .map(|n| n.to_string())
        .filter(|id| id.starts_with(prefix))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn even_is_text_odd_is_blob() {
        assert!(matches!(
            read(&numbered_uri(2)),
            Some(ResourceContents::TextResourceContents { .. })
        ));
        assert!(matches!(
            read(&numbered_uri(3)),
            Some(ResourceContents::BlobResourceContents { .. })
        ));
        assert!(read(&numbered_uri(0)).is_none());
        assert!(read(&numbered_uri(101)).is_none());
    }
}
