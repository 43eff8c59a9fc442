//! The database files' permissions: a new database and its `-wal` / `-shm` are `0600` under
//! the usual umask, and existing files that group or others may read or write are refused,
//! naming them, unless shared modes are allowed.

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
};

use outpost_store::{SharedFile, StoreError, behaviour_suite::TempDir};

use super::{SqliteOptions, SqliteStore};

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

fn allowing_shared() -> SqliteOptions {
    SqliteOptions {
        allow_shared_file_mode: true,
    }
}

#[tokio::test]
async fn a_new_database_and_its_wal_and_shm_are_owner_only_under_umask_022() {
    // SAFETY: umask only swaps the process's file-creation mask; 022 is the usual one, under
    // which the other tests of this binary create their files anyway.
    unsafe { libc::umask(0o022) };
    let dir = TempDir::new();
    let path = dir.path().join("private.db");
    let store = SqliteStore::open(&path).await.expect("open");
    // The migrations wrote through the WAL, and reading set up the shared memory: while the
    // store is open, all three files exist.
    for file in [
        path.clone(),
        with_suffix(&path, "-wal"),
        with_suffix(&path, "-shm"),
    ] {
        assert_eq!(format!("{:o}", mode(&file)), "600", "{}", file.display());
    }
    drop(store);
}

#[tokio::test]
async fn an_existing_database_others_can_read_is_refused_naming_it() {
    let dir = TempDir::new();
    let path = dir.path().join("shared.db");
    drop(SqliteStore::open(&path).await.expect("create"));
    set_mode(&path, 0o644);

    let err = SqliteStore::open(&path).await.expect_err("refused");
    let StoreError::SharedFileMode { files } = &err else {
        panic!("not a file-mode refusal: {err}");
    };
    assert_eq!(
        files,
        &[SharedFile {
            path: path.clone(),
            mode: 0o644
        }]
    );
    let message = err.to_string();
    let shown = path.display();
    assert!(
        message.contains(&format!("{shown} (mode 0644)")),
        "{message}"
    );
    assert!(message.contains(&format!("chmod 600 {shown}")), "{message}");

    SqliteStore::open_with(&path, &allowing_shared())
        .await
        .expect("allowed explicitly");
    assert_eq!(mode(&path), 0o644, "an allowed mode is left alone");
}

#[tokio::test]
async fn a_wal_file_others_can_write_is_refused_too() {
    let dir = TempDir::new();
    let path = dir.path().join("wal.db");
    drop(SqliteStore::open(&path).await.expect("create"));
    let wal = with_suffix(&path, "-wal");
    std::fs::write(&wal, b"").expect("an empty WAL");
    set_mode(&wal, 0o620);

    let err = SqliteStore::open(&path).await.expect_err("refused");
    assert!(
        matches!(&err, StoreError::SharedFileMode { files } if files.len() == 1 && files[0].path == wal),
        "{err}"
    );
    set_mode(&wal, 0o600);
    SqliteStore::open(&path)
        .await
        .expect("fixed with chmod 600");
}
