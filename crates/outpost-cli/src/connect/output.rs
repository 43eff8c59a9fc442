//! What `outpost connect` prints on stdout: text content as it is, structured content as
//! pretty JSON, and images, audio and embedded resources (an MCP App's HTML among them)
//! written to files in a fresh directory under the system's temporary directory, with a line
//! naming each file so it can be opened.

use std::{
    fs,
    path::{Path, PathBuf},
};

/// `println!` that does not panic when stdout is closed (`outpost connect … | head`): what
/// cannot be printed is dropped.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stdout(), $($arg)*);
    }};
}
pub(crate) use say;

use anyhow::Context as _;
use base64::{Engine as _, engine::general_purpose::STANDARD};
use rmcp::model::{Prompt, Resource, Tool};
use serde_json::Value;

/// Prints results; owns the directory files are saved in.
pub struct Output {
    directory: PathBuf,
    saved: usize,
}

impl Output {
    /// Files go to `$TMPDIR/outpost-connect-PID/`, made when the first one is saved.
    pub fn new() -> Self {
        Self {
            directory: std::env::temp_dir().join(format!("outpost-connect-{}", std::process::id())),
            saved: 0,
        }
    }

    /// Prints content blocks (`tools/call`, prompt messages): text, or a saved file's path.
    pub fn content(&mut self, blocks: &[Value]) -> anyhow::Result<()> {
        for block in blocks {
            let mime_type = block.get("mimeType").and_then(Value::as_str);
            match block.get("type").and_then(Value::as_str) {
                Some("text") => say!("{}", text(block, "text")),
                Some(kind @ ("image" | "audio")) => {
                    let path = self.save_base64(kind, None, mime_type, text(block, "data"))?;
                    say!(
                        "[{kind} {} saved to {}]",
                        mime_type.unwrap_or("?"),
                        path.display()
                    );
                }
                Some("resource") => {
                    if let Some(resource) = block.get("resource") {
                        self.resource(resource, true)?;
                    }
                }
                Some("resource_link") => say!("[resource link: {}]", text(block, "uri")),
                _ => say!("{block}"),
            }
        }
        Ok(())
    }

    /// Prints `resources/read` contents: text as it is (HTML saved to a file, to be opened in a
    /// browser), binary saved to a file.
    pub fn resource_contents(&mut self, contents: &[Value]) -> anyhow::Result<()> {
        for resource in contents {
            self.resource(resource, false)?;
        }
        Ok(())
    }

    fn resource(&mut self, resource: &Value, embedded: bool) -> anyhow::Result<()> {
        let uri = resource.get("uri").and_then(Value::as_str);
        let mime_type = resource.get("mimeType").and_then(Value::as_str);
        let is_html = mime_type.is_some_and(|m| m.starts_with("text/html"));
        let path = if let Some(blob) = resource.get("blob").and_then(Value::as_str) {
            self.save_base64("resource", uri, mime_type, blob)?
        } else {
            let body = text(resource, "text");
            if !embedded && !is_html {
                say!("{body}");
                return Ok(());
            }
            self.save("resource", uri, mime_type, body.as_bytes())?
        };
        say!(
            "[resource {} ({}) saved to {}]",
            uri.unwrap_or("?"),
            mime_type.unwrap_or("?"),
            path.display()
        );
        Ok(())
    }

    /// Prints structured content as pretty JSON.
    pub fn structured(&self, value: &Value) -> anyhow::Result<()> {
        say!("{}", serde_json::to_string_pretty(value)?);
        Ok(())
    }

    fn save_base64(
        &mut self,
        kind: &str,
        uri: Option<&str>,
        mime_type: Option<&str>,
        data: &str,
    ) -> anyhow::Result<PathBuf> {
        let bytes = STANDARD
            .decode(data.trim())
            .with_context(|| format!("the server sent {kind} data that is not base64"))?;
        self.save(kind, uri, mime_type, &bytes)
    }

    fn save(
        &mut self,
        kind: &str,
        uri: Option<&str>,
        mime_type: Option<&str>,
        bytes: &[u8],
    ) -> anyhow::Result<PathBuf> {
        fs::create_dir_all(&self.directory)
            .with_context(|| format!("cannot create {}", self.directory.display()))?;
        self.saved += 1;
        let path = self
            .directory
            .join(file_name(self.saved, kind, uri, mime_type));
        fs::write(&path, bytes).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// The directory saved files go to.
    #[cfg(test)]
    pub fn directory(&self) -> &Path {
        &self.directory
    }
}

fn text<'a>(value: &'a Value, field: &str) -> &'a str {
    value.get(field).and_then(Value::as_str).unwrap_or_default()
}

/// `N-NAME.EXT`: the URI's last segment (letters, digits, `-`, `_`, `.` only) or the kind,
/// with an extension from the media type when the name has none.
fn file_name(number: usize, kind: &str, uri: Option<&str>, mime_type: Option<&str>) -> String {
    let stem: String = uri
        .and_then(|uri| uri.trim_end_matches('/').rsplit(['/', ':']).next())
        .unwrap_or(kind)
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .collect();
    let stem = if stem.trim_matches('.').is_empty() {
        kind.to_owned()
    } else {
        stem
    };
    if Path::new(&stem).extension().is_some() {
        return format!("{number}-{stem}");
    }
    format!("{number}-{stem}.{}", extension(mime_type))
}

fn extension(mime_type: Option<&str>) -> &'static str {
    let essence = mime_type
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim();
    match essence {
        "image/png" => "png",
        "image/jpeg" => "jpg",
        "image/gif" => "gif",
        "image/webp" => "webp",
        "image/svg+xml" => "svg",
        "audio/wav" | "audio/x-wav" => "wav",
        "audio/mpeg" => "mp3",
        "text/html" => "html",
        "text/plain" => "txt",
        "text/markdown" => "md",
        "application/json" => "json",
        _ => "bin",
    }
}

/// `NAME  first line of the description`, one tool a line.
pub fn tools(tools: &[Tool]) {
    for tool in tools {
        print_entry(&tool.name, tool.description.as_deref());
    }
}

/// `URI  NAME — description`, one resource a line.
pub fn resources(resources: &[Resource]) {
    for resource in resources {
        let label = match &resource.description {
            Some(description) => format!("{} — {description}", resource.name),
            None => resource.name.clone(),
        };
        print_entry(&resource.uri, Some(&label));
    }
}

/// `NAME(arg, optional?)  description`, one prompt a line.
pub fn prompts(prompts: &[Prompt]) {
    for prompt in prompts {
        let arguments: Vec<String> = prompt
            .arguments
            .iter()
            .flatten()
            .map(|a| match a.required {
                Some(true) => a.name.clone(),
                _ => format!("{}?", a.name),
            })
            .collect();
        print_entry(
            &format!("{}({})", prompt.name, arguments.join(", ")),
            prompt.description.as_deref(),
        );
    }
}

fn print_entry(name: &str, description: Option<&str>) {
    match description
        .and_then(|d| d.lines().next())
        .filter(|d| !d.is_empty())
    {
        Some(first_line) => say!("{name}  {first_line}"),
        None => say!("{name}"),
    }
}

#[cfg(test)]
mod tests {
    use super::{Output, file_name};

    #[test]
    fn file_names_come_from_the_uri_or_the_kind() {
        assert_eq!(
            file_name(1, "image", None, Some("image/png")),
            "1-image.png"
        );
        assert_eq!(
            file_name(
                2,
                "resource",
                Some("ui://widget/board.html"),
                Some("text/html;profile=mcp-app")
            ),
            "2-board.html"
        );
        assert_eq!(
            file_name(3, "resource", Some("demo://../../etc"), Some("text/plain")),
            "3-etc.txt"
        );
    }

    #[test]
    fn images_are_saved_decoded() {
        let mut output = Output::new();
        let block =
            serde_json::json!({"type": "image", "data": "iVBORw0KGgo=", "mimeType": "image/png"});
        output.content(&[block]).unwrap();
        let saved = std::fs::read(output.directory().join("1-image.png")).unwrap();
        assert_eq!(saved, b"\x89PNG\r\n\x1a\n");
        std::fs::remove_dir_all(output.directory()).unwrap();
    }
}
