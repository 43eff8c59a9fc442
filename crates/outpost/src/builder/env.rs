//! The settings [`OutpostBuilder::settings_from_env`](super::OutpostBuilder::settings_from_env)
//! reads: the variables `outpost serve` reads for the same settings, so that a server built
//! with the library is deployed the same way.

use std::net::SocketAddr;

use url::Url;

use super::BuildError;

/// The address to listen on (`127.0.0.1:8000` when unset).
pub const BIND_ENV: &str = "OUTPOST_BIND";
/// The externally visible base URL (`http://{bind}` when unset).
pub const PUBLIC_URL_ENV: &str = "OUTPOST_PUBLIC_URL";
/// The store URL (`sqlite://./outpost.db` when unset).
pub const STORE_ENV: &str = "OUTPOST_STORE";

/// What the environment sets; `None` for a variable unset or empty.
#[derive(Debug, Default)]
pub(super) struct EnvSettings {
    pub(super) bind: Option<SocketAddr>,
    pub(super) public_url: Option<Url>,
    pub(super) store: Option<String>,
}

impl EnvSettings {
    /// Reads the variables; a malformed one is an error naming it.
    pub(super) fn read() -> Result<Self, BuildError> {
        Ok(Self {
            bind: parsed(BIND_ENV, |v| {
                v.parse::<SocketAddr>().map_err(|e| e.to_string())
            })?,
            public_url: parsed(PUBLIC_URL_ENV, |v| Url::parse(v).map_err(|e| e.to_string()))?,
            store: parsed(STORE_ENV, |v| Ok(v.to_owned()))?,
        })
    }
}

fn parsed<T>(
    variable: &'static str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<Option<T>, BuildError> {
    let value = match std::env::var(variable) {
        Ok(value) if value.trim().is_empty() => return Ok(None),
        Ok(value) => value,
        Err(std::env::VarError::NotPresent) => return Ok(None),
        Err(std::env::VarError::NotUnicode(_)) => {
            return Err(BuildError::Environment {
                variable,
                reason: "not valid text".into(),
            });
        }
    };
    parse(value.trim())
        .map(Some)
        .map_err(|reason| BuildError::Environment { variable, reason })
}
