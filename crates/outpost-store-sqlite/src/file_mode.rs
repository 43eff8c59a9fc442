//! The permissions of the database files. The store holds password hashes, grants and signing
//! keys, so its files are the owner's alone: a new database is created `0600` before SQLite
//! opens it, and SQLite's unix VFS gives the `-wal` and `-shm` files it creates the database
//! file's mode (it `fchmod`s them, so the umask does not widen them). An existing database, or
//! a `-wal` / `-shm` beside it, that group or others may read or write is refused
//! ([`StoreError::SharedFileMode`]) unless the operator allows shared modes; allowed, it is a
//! warning. Other processes of the same user (`outpost users` while `outpost serve` runs) open
//! the files as before.
//!
//! Unix only: Windows is not a target, and elsewhere nothing is created ahead of SQLite or
//! checked.

use std::path::Path;

use outpost_store::StoreError;

/// Creates the database at `path` owner-only if it does not exist yet, then checks that
/// neither it nor its `-wal` / `-shm` files let group or others in (a warning instead of a
/// refusal when `allow_shared` is set). In-memory databases and `file:` URIs are left to
/// SQLite.
pub(crate) fn prepare(path: &Path, allow_shared: bool) -> Result<(), StoreError> {
    if is_special(path) {
        return Ok(());
    }
    #[cfg(unix)]
    unix::prepare(path, allow_shared)?;
    #[cfg(not(unix))]
    let _ = allow_shared;
    Ok(())
}

/// Whether SQLite reads `path` as something other than a file name: `:memory:`, or a URI
/// (rusqlite opens with `SQLITE_OPEN_URI`).
fn is_special(path: &Path) -> bool {
    let text = path.to_string_lossy();
    text == ":memory:" || text.starts_with("file:")
}

#[cfg(unix)]
mod unix {
    use std::{
        ffi::OsString,
        fs::OpenOptions,
        io::ErrorKind,
        os::unix::fs::{OpenOptionsExt as _, PermissionsExt as _},
        path::{Path, PathBuf},
    };

    use outpost_store::{SharedFile, StoreError};

    /// The permission bits that let group or others read or write.
    const SHARED_BITS: u32 = 0o066;

    pub(super) fn prepare(path: &Path, allow_shared: bool) -> Result<(), StoreError> {
        create_private(path)?;
        let mut shared = Vec::new();
        for file in [
            path.to_owned(),
            companion(path, "-wal"),
            companion(path, "-shm"),
        ] {
            if let Some(mode) = shared_mode(&file)? {
                shared.push(SharedFile { path: file, mode });
            }
        }
        if shared.is_empty() {
            return Ok(());
        }
        if allow_shared {
            for file in &shared {
                tracing::warn!(
                    file = %file.path.display(),
                    mode = format!("{:04o}", file.mode),
                    "store file readable or writable by group or others, allowed explicitly"
                );
            }
            return Ok(());
        }
        Err(StoreError::SharedFileMode { files: shared })
    }

    /// Creates an empty file (an empty database to SQLite) readable and writable by its owner
    /// only; an existing file is left as it is — another process may have created it a moment
    /// ago.
    fn create_private(path: &Path) -> Result<(), StoreError> {
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => Ok(()),
            Err(error) if error.kind() == ErrorKind::AlreadyExists => Ok(()),
            Err(error) => Err(StoreError::Backend(format!(
                "cannot create SQLite database {}: {error}",
                path.display()
            ))),
        }
    }

    /// `path` with `suffix` appended, the way SQLite names its `-wal` and `-shm` files.
    fn companion(path: &Path, suffix: &str) -> PathBuf {
        let mut name = OsString::from(path.as_os_str());
        name.push(suffix);
        PathBuf::from(name)
    }

    /// The permission bits of `file` when they let group or others read or write it; `None`
    /// when they do not or there is no such file.
    fn shared_mode(file: &Path) -> Result<Option<u32>, StoreError> {
        let metadata = match std::fs::metadata(file) {
            Ok(metadata) => metadata,
            Err(error) if error.kind() == ErrorKind::NotFound => return Ok(None),
            Err(error) => {
                return Err(StoreError::Backend(format!(
                    "cannot read the permissions of {}: {error}",
                    file.display()
                )));
            }
        };
        let mode = metadata.permissions().mode() & 0o7777;
        Ok((mode & SHARED_BITS != 0).then_some(mode))
    }
}
