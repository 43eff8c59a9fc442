//! Keys encrypted at rest, as an operator meets them: `outpost serve` started with
//! OUTPOST_KEY_ENCRYPTION_KEY on a store whose keys are in the clear encrypts them (no PEM is
//! left in the SQLite files) and goes on serving the tokens signed before; without the key, or
//! with another one, it refuses to start, naming the variable or the key it needs; a rotation
//! with the old key in OUTPOST_KEY_ENCRYPTION_PREVIOUS_KEYS moves every key to the new one.
//! `outpost keys list` needs the key too; `keys generate-encryption-key` makes one.

mod common;

use std::{
    io::Read,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use common::{OUTPOST, Server, TempDir, free_port, token, wait_healthy};
use outpost::store::KeyEncryptionKey;
use serde_json::json;

const KEY_ENV: &str = "OUTPOST_KEY_ENCRYPTION_KEY";
const PREVIOUS_ENV: &str = "OUTPOST_KEY_ENCRYPTION_PREVIOUS_KEYS";

/// `outpost` with `args` and exactly the key-encryption variables in `env`.
fn outpost(args: &[&str], env: &[(&str, &str)]) -> Command {
    let mut command = Command::new(OUTPOST);
    command
        .args(args)
        .env_remove(KEY_ENV)
        .env_remove(PREVIOUS_ENV);
    command.envs(env.iter().copied());
    command
}

/// `outpost serve` on `store` with `env`, once healthy.
fn serve(store: &str, env: &[(&str, &str)]) -> Server {
    let bind = format!("127.0.0.1:{}", free_port());
    let child = outpost(&["serve", "--store", store, "--bind", &bind], env)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start outpost");
    let mut server = Server {
        child,
        base: format!("http://{bind}"),
    };
    wait_healthy(&format!("{}/health", server.base), &mut server.child);
    server
}

/// `outpost serve` on `store` with `env`, expected to stop at once: its stderr.
fn refused_start(store: &str, env: &[(&str, &str)]) -> String {
    let bind = format!("127.0.0.1:{}", free_port());
    let mut child = outpost(&["serve", "--store", store, "--bind", &bind], env)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start outpost");
    let deadline = Instant::now() + Duration::from_secs(20);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("outpost serve started; it should have refused");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(!status.success());
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .expect("stderr")
        .read_to_string(&mut stderr)
        .expect("read stderr");
    stderr
}

/// A new key-encryption key from `outpost keys generate-encryption-key`.
fn generated_key() -> String {
    let output = outpost(&["keys", "generate-encryption-key"], &[])
        .output()
        .expect("run outpost keys generate-encryption-key");
    assert!(output.status.success());
    let key = String::from_utf8(output.stdout)
        .expect("text")
        .trim()
        .to_owned();
    KeyEncryptionKey::from_base64(&key).expect("a key-encryption key");
    key
}

fn key_id(key: &str) -> String {
    KeyEncryptionKey::from_base64(key)
        .expect("key")
        .id()
        .to_string()
}

/// The bytes of the SQLite store and its WAL.
fn store_files(dir: &TempDir) -> Vec<u8> {
    let mut bytes = std::fs::read(dir.0.join("outpost.db")).expect("store file");
    if let Ok(wal) = std::fs::read(dir.0.join("outpost.db-wal")) {
        bytes.extend(wal);
    }
    bytes
}

fn holds_a_pem(dir: &TempDir) -> bool {
    store_files(dir)
        .windows(b"PRIVATE KEY".len())
        .any(|w| w == b"PRIVATE KEY")
}

/// The status of an `initialize` with `token`.
fn initialize(base: &str, token: &str) -> u16 {
    let body = json!({
        "jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {
            "protocolVersion": "2025-11-25", "capabilities": {},
            "clientInfo": { "name": "keys-at-rest", "version": "1" }
        }
    });
    reqwest::blocking::Client::new()
        .post(format!("{base}/mcp"))
        .bearer_auth(token)
        .header("accept", "application/json, text/event-stream")
        .header("mcp-protocol-version", "2025-11-25")
        .json(&body)
        .send()
        .expect("POST /mcp")
        .status()
        .as_u16()
}

#[test]
fn keys_are_encrypted_at_the_first_start_with_the_key_and_tokens_keep_working() {
    let dir = TempDir::new("keys-at-rest-migrate");
    let store = dir.store();
    let (signed_before, base_before) = {
        let server = serve(&store, &[]);
        (token(&store, &server.base, "alice"), server.base.clone())
    };
    assert!(holds_a_pem(&dir), "without a key the store keeps PEM");

    let key = generated_key();
    let with_key = [(KEY_ENV, key.as_str())];
    drop(serve(&store, &with_key));
    assert!(!holds_a_pem(&dir), "a PEM is left in the store files");

    // The token's issuer and audience name the first server's URL: serve there again.
    let bind = base_before.trim_start_matches("http://");
    let child = outpost(&["serve", "--store", &store, "--bind", bind], &with_key)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start outpost");
    let mut server = Server {
        child,
        base: base_before.clone(),
    };
    wait_healthy(&format!("{base_before}/health"), &mut server.child);
    assert_eq!(initialize(&base_before, &signed_before), 200);
    assert_eq!(initialize(&base_before, "not-a-token"), 401);
    drop(server);

    let listed = outpost(&["keys", "list", "--store", &store], &with_key)
        .output()
        .expect("keys list");
    assert!(listed.status.success());
    assert!(String::from_utf8_lossy(&listed.stdout).contains("signing"));
    let refused = outpost(&["keys", "list", "--store", &store], &[])
        .output()
        .expect("keys list");
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains(KEY_ENV));
}

#[test]
fn sealed_keys_need_their_key_and_rotate_to_a_new_one() {
    let dir = TempDir::new("keys-at-rest-refuse");
    let store = dir.store();
    let (old, new) = (generated_key(), generated_key());
    drop(serve(&store, &[(KEY_ENV, &old)]));

    let without = refused_start(&store, &[]);
    assert!(without.contains(KEY_ENV), "{without}");
    assert!(without.contains(&key_id(&old)), "{without}");

    let wrong = refused_start(&store, &[(KEY_ENV, &new)]);
    assert!(wrong.contains(&key_id(&old)), "{wrong}");
    assert!(wrong.contains(PREVIOUS_ENV), "{wrong}");

    let malformed = refused_start(&store, &[(KEY_ENV, "c2VjcmV0LXZhbHVl")]);
    assert!(malformed.contains(KEY_ENV), "{malformed}");
    assert!(!malformed.contains("c2VjcmV0LXZhbHVl"), "{malformed}");

    drop(serve(&store, &[(KEY_ENV, &new), (PREVIOUS_ENV, &old)]));
    drop(serve(&store, &[(KEY_ENV, &new)]));
    let old_alone = refused_start(&store, &[(KEY_ENV, &old)]);
    assert!(old_alone.contains(&key_id(&new)), "{old_alone}");
}
