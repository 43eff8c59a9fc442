//! The credentials file: per MCP server URL, the client registration and the tokens from the
//! last sign-in, so later commands neither register nor sign in again. One JSON file, the
//! owner's alone (`0600`, in a `0700` directory), written whole to a temporary file and
//! renamed over the old one, so a crash never leaves half a file.

use std::{
    collections::BTreeMap,
    fs,
    io::Write as _,
    os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _},
    path::{Path, PathBuf},
};

use anyhow::{Context as _, bail};
use serde::{Deserialize, Serialize};

/// What is kept for one server. No `Debug`: the tokens must not reach a log.
#[derive(Clone, Serialize, Deserialize)]
pub struct ServerCredentials {
    /// The authorization server's issuer.
    pub issuer: String,
    /// Its token endpoint (for refresh).
    pub token_endpoint: String,
    /// Its revocation endpoint (for logout), when it has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_endpoint: Option<String>,
    /// The registered client.
    pub client_id: String,
    /// Its secret, when the server gave one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_secret: Option<String>,
    /// The loopback redirect URI `connect` registered the client with, when it registered it
    /// (not for a `--client-id` client): a later sign-in signs in as the same client when it
    /// can listen there again, rather than registering another one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub redirect_uri: Option<String>,
    /// The RFC 8707 resource the tokens are for.
    pub resource: String,
    /// The current access token.
    pub access_token: String,
    /// The refresh token, when the server issued one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    /// When the access token expires (seconds since the epoch), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<u64>,
}

impl ServerCredentials {
    /// Whether the access token has expired (or does within a minute) by its recorded expiry.
    pub fn access_token_expired(&self, now: u64) -> bool {
        self.expires_at.is_some_and(|at| at <= now + 60)
    }
}

#[derive(Default, Serialize, Deserialize)]
struct FileContents {
    #[serde(default)]
    servers: BTreeMap<String, ServerCredentials>,
}

/// The file and what it holds.
pub struct CredentialsFile {
    path: PathBuf,
    contents: FileContents,
}

impl CredentialsFile {
    /// `$XDG_CONFIG_HOME/outpost/credentials.json`, else `~/.config/outpost/credentials.json`.
    pub fn default_path() -> anyhow::Result<PathBuf> {
        let config = match std::env::var_os("XDG_CONFIG_HOME").filter(|v| !v.is_empty()) {
            Some(dir) => PathBuf::from(dir),
            None => match std::env::var_os("HOME").filter(|v| !v.is_empty()) {
                Some(home) => PathBuf::from(home).join(".config"),
                None => bail!("neither XDG_CONFIG_HOME nor HOME is set: pass --credentials FILE"),
            },
        };
        Ok(config.join("outpost").join("credentials.json"))
    }

    /// Reads `path`; a missing file is an empty one.
    pub fn load(path: PathBuf) -> anyhow::Result<Self> {
        let contents = match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).with_context(|| {
                format!("{} is not an outpost credentials file", path.display())
            })?,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => FileContents::default(),
            Err(error) => {
                return Err(error).with_context(|| format!("cannot read {}", path.display()));
            }
        };
        Ok(Self { path, contents })
    }

    /// The credentials kept for `server`.
    pub fn get(&self, server: &str) -> Option<&ServerCredentials> {
        self.contents.servers.get(server)
    }

    /// Keeps `credentials` for `server` and writes the file.
    pub fn store(&mut self, server: &str, credentials: ServerCredentials) -> anyhow::Result<()> {
        self.contents.servers.insert(server.to_owned(), credentials);
        self.save()
    }

    /// Forgets `server` and writes the file; returns what was kept.
    pub fn remove(&mut self, server: &str) -> anyhow::Result<Option<ServerCredentials>> {
        let removed = self.contents.servers.remove(server);
        if removed.is_some() {
            self.save()?;
        }
        Ok(removed)
    }

    fn save(&self) -> anyhow::Result<()> {
        let context = || format!("cannot write {}", self.path.display());
        if let Some(dir) = self.path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .with_context(context)?;
        }
        let temporary = temporary_path(&self.path);
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temporary)
            .with_context(context)?;
        file.write_all(&serde_json::to_vec_pretty(&self.contents)?)
            .and_then(|()| file.sync_all())
            .with_context(context)?;
        fs::rename(&temporary, &self.path).with_context(context)
    }
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".{}.tmp", std::process::id()));
    path.with_file_name(name)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;

    use super::{CredentialsFile, ServerCredentials};

    fn credentials() -> ServerCredentials {
        ServerCredentials {
            issuer: "http://127.0.0.1:1".into(),
            token_endpoint: "http://127.0.0.1:1/token".into(),
            revocation_endpoint: None,
            client_id: "c".into(),
            client_secret: None,
            redirect_uri: Some("http://127.0.0.1:2/callback".into()),
            resource: "http://127.0.0.1:1/mcp".into(),
            access_token: "a".into(),
            refresh_token: Some("r".into()),
            expires_at: Some(10),
        }
    }

    #[test]
    fn the_file_is_the_owners_alone_and_round_trips() {
        let dir = std::env::temp_dir().join(format!("outpost-credentials-{}", std::process::id()));
        let path = dir.join("nested").join("credentials.json");
        let mut file = CredentialsFile::load(path.clone()).unwrap();
        file.store("http://127.0.0.1:1/mcp", credentials()).unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        let reread = CredentialsFile::load(path).unwrap();
        let kept = reread.get("http://127.0.0.1:1/mcp").unwrap();
        assert_eq!(kept.refresh_token.as_deref(), Some("r"));
        assert!(kept.access_token_expired(10));
        std::fs::remove_dir_all(dir).unwrap();
    }
}
