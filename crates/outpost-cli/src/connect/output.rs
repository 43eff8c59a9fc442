//! What `outpost connect` prints on stdout: text content as it is, structured content as
//! pretty JSON, and images, audio and embedded resources (an MCP App's HTML among them)
//! written to files in a fresh directory under the system's temporary directory, with a line
//! naming each file so it can be opened.
//!
//! The temporary directory is shared with every user of the machine, so the directory is
//! made with a random name, readable by its owner only (`0700`), and each file is created
//! new (`0600`, never through an existing file or link): nobody else can read what a tool
//! answered or make a planted link receive it. On a terminal, control characters a server
//! sends (escape sequences that retitle the window or clear the screen) are shown as
//! `\u{…}` escapes instead of being obeyed.

use std::{
    fs::{DirBuilder, OpenOptions},
    io::{IsTerminal as _, Write as _},
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _},
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

/// How many random names are tried for the directory before giving up.
const DIRECTORY_ATTEMPTS: usize = 8;

/// Prints results; owns the directory files are saved in.
pub struct Output {
    /// `$TMPDIR/outpost-connect-RANDOM/`, made when the first file is saved.
    directory: Option<PathBuf>,
    saved: usize,
    /// Whether stdout is a terminal, where control characters are shown, not obeyed.
    terminal: bool,
}

impl Output {
    /// Prints to stdout; files go to a new private directory under `$TMPDIR`.
    pub fn new() -> Self {
        Self {
            directory: None,
            saved: 0,
            terminal: std::io::stdout().is_terminal(),
        }
    }

    /// Prints content blocks (`tools/call`, prompt messages): text, or a saved file's path.
    pub fn content(&mut self, blocks: &[Value]) -> anyhow::Result<()> {
        for block in blocks {
            let mime_type = block.get("mimeType").and_then(Value::as_str);
            match block.get("type").and_then(Value::as_str) {
                Some("text") => say!("{}", self.shown(text(block, "text"))),
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
                say!("{}", self.shown(body));
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
        let directory = match &self.directory {
            Some(directory) => directory,
            None => self.directory.insert(private_directory()?),
        };
        self.saved += 1;
        let path = directory.join(file_name(self.saved, kind, uri, mime_type));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        file.write_all(bytes)
            .with_context(|| format!("cannot write {}", path.display()))?;
        Ok(path)
    }

    /// `text` as printed ([`shown`]).
    pub(crate) fn shown<'a>(&self, text: &'a str) -> std::borrow::Cow<'a, str> {
        shown(text, self.terminal)
    }

    /// The directory saved files go to, once one was saved.
    #[cfg(test)]
    pub fn directory(&self) -> Option<&Path> {
        self.directory.as_deref()
    }
}

/// A new directory only its owner may enter, under the temporary directory, with a random
/// name (`mkdir` fails on any existing name, link or not, so nothing planted is used).
fn private_directory() -> anyhow::Result<PathBuf> {
    let mut last_error = None;
    for _ in 0..DIRECTORY_ATTEMPTS {
        let random = outpost_oauth::secret::Secret::generate()?;
        let name: String = random
            .expose()
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect();
        let path = std::env::temp_dir().join(format!("outpost-connect-{name}"));
        match DirBuilder::new().mode(0o700).create(&path) {
            Ok(()) => return Ok(path),
            Err(error) if error.kind() == std::io::ErrorKind::AlreadyExists => {
                last_error = Some(error);
            }
            Err(error) => {
                return Err(error).with_context(|| format!("cannot create {}", path.display()));
            }
        }
    }
    Err(last_error.map_or_else(
        || anyhow::anyhow!("no directory name was tried"),
        anyhow::Error::from,
    ))
    .context("cannot create a directory for the saved files in the temporary directory")
}

/// `text` as printed: on a `terminal`, control characters other than newline and tab as
/// `\u{…}` escapes.
fn shown(text: &str, terminal: bool) -> std::borrow::Cow<'_, str> {
    if !terminal {
        return text.into();
    }
    escape_controls(text)
}

/// `text` with control characters other than newline and tab (C0, DEL, C1) as `\u{…}`.
fn escape_controls(text: &str) -> std::borrow::Cow<'_, str> {
    escape(text, |c| c.is_control() && c != '\n' && c != '\t')
}

/// Text from the server (or its authorization server) for a one-line message on stderr: every
/// control character as `\u{…}`, newline and tab too, so that what the server chose can
/// neither drive the terminal nor break the line.
pub(crate) fn one_line(text: &str) -> std::borrow::Cow<'_, str> {
    escape(text, char::is_control)
}

/// `text` with the characters `is_shown_as_escape` picks as `\u{…}`.
fn escape(text: &str, is_shown_as_escape: impl Fn(char) -> bool) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(&is_shown_as_escape) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if is_shown_as_escape(c) {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
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

/// `NAME  first line of the description`, control characters escaped on a terminal (the
/// server chose both).
fn print_entry(name: &str, description: Option<&str>) {
    let terminal = std::io::stdout().is_terminal();
    match description
        .and_then(|d| d.lines().next())
        .filter(|d| !d.is_empty())
    {
        Some(first_line) => say!("{}  {}", shown(name, terminal), shown(first_line, terminal)),
        None => say!("{}", shown(name, terminal)),
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::{Output, escape_controls, file_name};

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
        let directory = output
            .directory()
            .expect("made for the first file")
            .to_owned();
        let file = directory.join("1-image.png");
        let saved = std::fs::read(&file).unwrap();
        assert_eq!(saved, b"\x89PNG\r\n\x1a\n");
        let mode =
            |path: &std::path::Path| std::fs::metadata(path).unwrap().permissions().mode() & 0o777;
        assert_eq!(
            mode(&directory),
            0o700,
            "only the owner enters the directory"
        );
        assert_eq!(mode(&file), 0o600, "only the owner reads the file");
        let name = directory.file_name().unwrap().to_str().unwrap();
        assert!(name.starts_with("outpost-connect-") && name.len() > "outpost-connect-".len() + 8);
        assert_ne!(
            name,
            format!("outpost-connect-{}", std::process::id()),
            "not a name another user can guess and plant"
        );
        std::fs::remove_dir_all(directory).unwrap();
    }

    #[test]
    fn control_characters_are_shown_not_obeyed() {
        assert_eq!(
            escape_controls("\u{1b}]0;title\u{7} ok\nnext\tcell"),
            "\\u{1b}]0;title\\u{7} ok\nnext\tcell"
        );
        assert!(matches!(
            escape_controls("plain text\n"),
            std::borrow::Cow::Borrowed(_)
        ));
    }
}
