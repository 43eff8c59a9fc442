//! Durable state: the `outpost-store` crate's traits, records and in-memory backend, and
//! [`open`], which picks a backend by URL among those compiled in (feature `sqlite`).

pub use outpost_store::*;

/// The store URLs [`open`] accepts in this build.
pub const SUPPORTED_URLS: &str = if cfg!(feature = "sqlite") {
    "memory:// or sqlite://PATH (e.g. sqlite://./outpost.db, sqlite:///var/lib/outpost.db)"
} else {
    "memory:// (build with the `sqlite` feature for sqlite://PATH)"
};

/// Opens the store a URL names: `memory://` (empty, gone at exit) or, with the `sqlite`
/// feature, `sqlite://PATH` (created if missing, migrated to the current schema).
pub async fn open(url: &str) -> Result<Store, StoreError> {
    let invalid = |reason: String| StoreError::InvalidUrl {
        url: url.to_owned(),
        reason,
    };
    if url == "memory://" {
        return Ok(Store::memory());
    }
    if let Some(path) = url.strip_prefix("sqlite://") {
        if path.is_empty() {
            return Err(invalid("missing file path after sqlite://".into()));
        }
        #[cfg(feature = "sqlite")]
        return outpost_store_sqlite::open(path).await;
        #[cfg(not(feature = "sqlite"))]
        return Err(invalid(
            "this build has no SQLite backend (feature `sqlite`)".into(),
        ));
    }
    Err(invalid(format!("unsupported scheme; use {SUPPORTED_URLS}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn unknown_scheme_names_the_supported_ones() {
        let err = open("redis://localhost").await.expect_err("unsupported");
        let message = err.to_string();
        assert!(message.contains("memory://"), "{message}");
        assert!(matches!(
            open("sqlite://").await,
            Err(StoreError::InvalidUrl { .. })
        ));
    }
}
