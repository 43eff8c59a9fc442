//! `outpost serve --config FILE` (and `OUTPOST_CONFIG`): settings from a TOML file, below the
//! environment and the flags; a bad file stops the start with a message naming the file, the
//! line and the setting.

mod common;

use std::process::{Command, Stdio};

use common::{OUTPOST, Server, TempDir, free_port, wait_healthy};
use serde_json::Value;

/// Starts `outpost serve` with `args` and the environment `env` (nothing else of the tests'
/// environment that names a setting), and waits for /health at `bind`.
fn start(bind: &str, args: &[&str], env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(OUTPOST);
    command
        .arg("serve")
        .args(args)
        .env_remove("OUTPOST_PUBLIC_URL")
        .envs(env.iter().copied())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    let mut server = Server {
        child: command.spawn().expect("start outpost"),
        base: format!("http://{bind}"),
    };
    wait_healthy(&format!("{}/health", server.base), &mut server.child);
    server
}

/// The issuer the server's authorization-server metadata names: its public URL.
fn issuer(server: &Server) -> String {
    let metadata: Value = reqwest::blocking::get(format!(
        "{}/.well-known/oauth-authorization-server",
        server.base
    ))
    .expect("GET metadata")
    .json()
    .expect("JSON");
    metadata["issuer"].as_str().expect("issuer").to_owned()
}

fn write(dir: &TempDir, name: &str, text: &str) -> String {
    let path = dir.0.join(name);
    std::fs::write(&path, text).expect("write the config file");
    path.display().to_string()
}

#[test]
fn a_flag_beats_the_environment_which_beats_the_file() {
    let dir = TempDir::new("config-file-precedence");
    let bind = format!("127.0.0.1:{}", free_port());
    let file = write(
        &dir,
        "outpost.toml",
        &format!(
            "# every setting is a flag of `outpost serve`\n\
             bind = \"{bind}\"\n\
             public-url = \"http://from-the-file.example\"\n\
             store = \"{}\"\n\
             no-dcr = true\n\
             allow-origin = [\"https://a.example\", \"https://b.example\"]\n",
            dir.store()
        ),
    );

    let server = start(&bind, &["--config", &file], &[]);
    assert_eq!(issuer(&server), "http://from-the-file.example");
    let metadata: Value = reqwest::blocking::get(format!(
        "{}/.well-known/oauth-authorization-server",
        server.base
    ))
    .expect("GET metadata")
    .json()
    .expect("JSON");
    assert!(
        metadata.get("registration_endpoint").is_none(),
        "no-dcr = true from the file: {metadata}"
    );
    drop(server);

    let server = start(
        &bind,
        &[],
        &[
            ("OUTPOST_CONFIG", file.as_str()),
            ("OUTPOST_PUBLIC_URL", "http://from-the-env.example"),
        ],
    );
    assert_eq!(issuer(&server), "http://from-the-env.example");
    drop(server);

    let server = start(
        &bind,
        &[
            "--config",
            &file,
            "--public-url",
            "http://from-the-flag.example",
        ],
        &[("OUTPOST_PUBLIC_URL", "http://from-the-env.example")],
    );
    assert_eq!(issuer(&server), "http://from-the-flag.example");
}

/// `outpost serve --config` on a file holding `text`: the exit status and stderr.
fn refused(dir: &TempDir, text: &str, args: &[&str]) -> (Option<i32>, String) {
    let file = write(dir, "bad.toml", text);
    let output = Command::new(OUTPOST)
        .args(["serve", "--config", &file])
        .args(args)
        .output()
        .expect("run outpost serve");
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_bad_file_is_an_error_naming_the_file_the_line_and_the_setting() {
    let dir = TempDir::new("config-file-errors");
    let file = dir.0.join("bad.toml");
    let shown = file.display();
    for (text, args, expected) in [
        (
            "\npublic-ur1 = \"x\"\n",
            &[][..],
            format!("error: {shown}:2: unknown setting `public-ur1`"),
        ),
        (
            "bind = 8000\n",
            &[],
            format!(
                "error: {shown}:1: bad value for the setting `bind`: \"8000\": invalid socket address"
            ),
        ),
        (
            "demo = \"yes\"\n",
            &[],
            format!(
                "error: {shown}:1: bad value for the setting `demo`: expected a boolean, found a string"
            ),
        ),
        (
            "rate-limit = [\"5/s\"]\n",
            &[],
            format!(
                "error: {shown}:1: bad value for the setting `rate-limit`: expected one value, found an array"
            ),
        ),
        (
            "log-format = \"xml\"\n",
            &[],
            format!(
                "error: {shown}:1: bad value for the setting `log-format`: \"xml\": expected one of auto, text, json"
            ),
        ),
        ("demo = \n", &[], format!("error: {shown}:1: not TOML")),
        (
            "no-auth = true\n",
            &["--demo"],
            format!(
                "error: {shown}: the setting `no-auth` cannot be used with `demo` (given on the command line)"
            ),
        ),
    ] {
        let (status, stderr) = refused(&dir, text, args);
        assert_eq!(status, Some(2), "{text}: {stderr}");
        assert!(stderr.starts_with(&expected), "{text}: {stderr}");
    }
    let missing = dir.0.join("missing.toml");
    let output = Command::new(OUTPOST)
        .args(["serve", "--config"])
        .arg(&missing)
        .output()
        .expect("run outpost serve");
    assert_eq!(output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&output.stderr).contains(&format!(
        "cannot read the config file {}",
        missing.display()
    )));
}

#[cfg(unix)]
#[test]
fn a_secret_in_a_file_others_may_read_is_warned_about() {
    use std::{io::Read as _, os::unix::fs::PermissionsExt as _};

    let dir = TempDir::new("config-file-secret");
    let file = write(
        &dir,
        "outpost.toml",
        "no-auth = true\nintrospection-client-secret = \"s3cret\"\n",
    );
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let bind = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(OUTPOST)
        .args(["serve", "--config", &file, "--bind", &bind])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start outpost");
    wait_healthy(&format!("http://{bind}/health"), &mut child);
    child.kill().expect("stop outpost");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("piped")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    let _ = child.wait();
    assert!(
        stderr.contains("holds a secret (introspection-client-secret) and other users may read it"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("s3cret"),
        "the secret itself is never logged"
    );
}
