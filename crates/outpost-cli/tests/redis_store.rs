//! `--store redis://…` from the command line: the password from OUTPOST_STORE_PASSWORD or
//! --store-password-file (and never in an error), --store-prefix keeping deployments apart.

mod common;

use std::{
    io::Write as _,
    process::{Command, Output, Stdio},
};

use common::{OUTPOST, redis::Redis};

const PASSWORD: &str = "store-pass-7f3a";

fn users(redis: &Redis, args: &[&str], env_password: Option<&str>, stdin: &str) -> Output {
    let mut command = Command::new(OUTPOST);
    command
        .arg("users")
        .args(args)
        .args(["--store", &redis.url()])
        .env_remove("OUTPOST_STORE")
        .env_remove("OUTPOST_STORE_PASSWORD")
        .env_remove("OUTPOST_STORE_PREFIX")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(password) = env_password {
        command.env("OUTPOST_STORE_PASSWORD", password);
    }
    let mut child = command.spawn().expect("run outpost");
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin.as_bytes());
    child.wait_with_output().expect("wait for outpost")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn users_live_in_redis_under_their_prefix() {
    let redis = Redis::start(Some(PASSWORD));
    let prefix = ["--store-prefix", "cli-a:"];
    let added = users(
        &redis,
        &["add", "alice", "--password-stdin", prefix[0], prefix[1]],
        Some(PASSWORD),
        "alice-password\n",
    );
    assert!(added.status.success(), "add: {}", text(&added.stderr));

    let file = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("store-password-{}", std::process::id()));
    std::fs::write(&file, format!("{PASSWORD}\n")).expect("write the password file");
    let file_arg = file.display().to_string();
    let listed = users(
        &redis,
        &[
            "list",
            "--store-password-file",
            &file_arg,
            prefix[0],
            prefix[1],
        ],
        None,
        "",
    );
    let _ = std::fs::remove_file(&file);
    assert!(listed.status.success(), "list: {}", text(&listed.stderr));
    assert!(
        text(&listed.stdout).starts_with("alice\t"),
        "{}",
        text(&listed.stdout)
    );

    let elsewhere = users(
        &redis,
        &["list", "--store-prefix", "cli-b:"],
        Some(PASSWORD),
        "",
    );
    assert!(elsewhere.status.success(), "{}", text(&elsewhere.stderr));
    assert_eq!(
        text(&elsewhere.stdout),
        "",
        "another prefix is another store"
    );

    let wrong = users(&redis, &["list"], Some("wrong-pass-91c2"), "");
    assert!(!wrong.status.success());
    let stderr = text(&wrong.stderr);
    assert!(stderr.contains("redis://127.0.0.1"), "{stderr}");
    assert!(!stderr.contains("wrong-pass-91c2"), "{stderr}");
}

/// A password in the URL still works, with a warning that names the URL without it and says
/// where the password belongs.
#[test]
fn a_password_in_the_url_works_with_a_warning() {
    let redis = Redis::start(Some(PASSWORD));
    let url = redis
        .url()
        .replacen("redis://", &format!("redis://:{PASSWORD}@"), 1);
    let listed = Command::new(OUTPOST)
        .args(["users", "list", "--store", &url])
        .env_remove("OUTPOST_STORE")
        .env_remove("OUTPOST_STORE_PASSWORD")
        .env_remove("OUTPOST_LOG")
        .output()
        .expect("run outpost");
    let stderr = text(&listed.stderr);
    assert!(listed.status.success(), "{stderr}");
    assert!(stderr.contains("carries a password"), "{stderr}");
    assert!(stderr.contains("--store-password-file"), "{stderr}");
    assert!(!stderr.contains(PASSWORD), "{stderr}");
}
