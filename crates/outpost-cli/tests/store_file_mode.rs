//! The SQLite store's file permissions through the binary: `outpost serve` under umask 022
//! creates the database and its `-wal` / `-shm` owner-only; an existing database that others
//! may read stops `serve` and `users` with a message naming the file, its mode and the fix,
//! unless `--store-allow-shared-file-mode` (or its environment variable) allows it.
#![cfg(unix)]

mod common;

use std::{
    os::unix::fs::PermissionsExt as _,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
};

use common::{OUTPOST, Server, TempDir, free_port, wait_healthy};

/// `outpost ARGS` run by a shell under umask 022, the usual one.
fn under_umask_022(args: &[&str]) -> Command {
    let mut command = Command::new("sh");
    command
        .args(["-c", "umask 022 && exec \"$0\" \"$@\"", OUTPOST])
        .args(args)
        .env_remove("OUTPOST_STORE")
        .env_remove("OUTPOST_STORE_ALLOW_SHARED_FILE_MODE");
    command
}

/// `outpost serve --store STORE EXTRA` under umask 022, once healthy.
fn serve(store: &str, extra: &[&str]) -> Server {
    let bind = format!("127.0.0.1:{}", free_port());
    let mut args = vec!["serve", "--store", store, "--bind", &bind];
    args.extend_from_slice(extra);
    let mut child = under_umask_022(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start outpost");
    let base = format!("http://{bind}");
    wait_healthy(&format!("{base}/health"), &mut child);
    Server { child, base }
}

fn mode(path: &Path) -> String {
    let mode = std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode();
    format!("{:o}", mode & 0o777)
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    PathBuf::from(format!("{}{suffix}", path.display()))
}

fn assert_refused(output: &Output, file: &Path) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "started: {stderr}");
    let shown = file.display();
    assert!(stderr.contains(&format!("{shown} (mode 0644)")), "{stderr}");
    assert!(stderr.contains(&format!("chmod 600 {shown}")), "{stderr}");
    assert!(
        stderr.contains("--store-allow-shared-file-mode"),
        "{stderr}"
    );
}

#[test]
fn store_files_are_owner_only_and_a_shared_one_is_refused_unless_allowed() {
    let dir = TempDir::new("store-file-mode");
    let store = dir.store();
    let db = dir.0.join("outpost.db");

    let server = serve(&store, &[]);
    for file in [
        db.clone(),
        with_suffix(&db, "-wal"),
        with_suffix(&db, "-shm"),
    ] {
        assert_eq!(mode(&file), "600", "{}", file.display());
    }
    drop(server);

    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let refused = under_umask_022(&["serve", "--store", &store, "--bind", "127.0.0.1:0"])
        .output()
        .expect("run outpost serve");
    assert_refused(&refused, &db);
    let users = under_umask_022(&["users", "list", "--store", &store])
        .output()
        .expect("run outpost users list");
    assert_refused(&users, &db);

    let allowed = serve(&store, &["--store-allow-shared-file-mode"]);
    drop(allowed);
    let listed = under_umask_022(&["users", "list", "--store", &store])
        .env("OUTPOST_STORE_ALLOW_SHARED_FILE_MODE", "true")
        .output()
        .expect("run outpost users list");
    assert!(
        listed.status.success(),
        "{}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert_eq!(mode(&db), "644", "an allowed mode is left as it is");
}
