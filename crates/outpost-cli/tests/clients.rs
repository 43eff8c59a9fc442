//! `outpost serve`'s client flags as a process: Client ID Metadata Documents on by default and
//! off with `--no-cimd` (the metadata says so, and a URL client id gets the error page).

use std::{
    net::TcpListener,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

const OUTPOST: &str = env!("CARGO_BIN_EXE_outpost");

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A fresh directory under cargo's per-target temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
            .join(format!("clients-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).expect("create the temp dir");
        Self(path)
    }

    fn store(&self) -> String {
        format!("sqlite://{}", self.0.join("outpost.db").display())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A running `outpost serve`, killed when dropped.
struct Server {
    child: Child,
    base: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `outpost serve` on a free loopback port over a fresh store in `dir`, waits for
/// /health.
fn start(dir: &TempDir, args: &[&str]) -> Server {
    let bind = format!("127.0.0.1:{}", free_port());
    let mut child = Command::new(OUTPOST)
        .args(["serve", "--bind", &bind, "--store", &dir.store()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start outpost");
    let base = format!("http://{bind}");
    let client = reqwest::blocking::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(response) = client.get(format!("{base}/health")).send()
            && response.status() == 200
        {
            break;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("outpost exited early with {status}");
        }
        assert!(Instant::now() < deadline, "not healthy after 20s");
        std::thread::sleep(Duration::from_millis(50));
    }
    Server { child, base }
}

fn metadata(server: &Server) -> Value {
    reqwest::blocking::get(format!(
        "{}/.well-known/oauth-authorization-server",
        server.base
    ))
    .and_then(|r| r.json())
    .expect("metadata")
}

#[test]
fn client_id_metadata_documents_are_on_unless_turned_off() {
    let dir = TempDir::new("cimd");
    let server = start(&dir, &[]);
    assert_eq!(
        metadata(&server)["client_id_metadata_document_supported"],
        true
    );
    drop(server);

    let server = start(&dir, &["--no-cimd"]);
    assert_eq!(
        metadata(&server)["client_id_metadata_document_supported"],
        false
    );
    let mut url = url::Url::parse(&format!("{}/authorize", server.base)).unwrap();
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", "https://app.example/client.json")
        .append_pair("redirect_uri", "https://app.example/callback")
        .append_pair(
            "code_challenge",
            "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM",
        )
        .append_pair("code_challenge_method", "S256");
    let response = reqwest::blocking::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(url)
        .send()
        .unwrap();
    assert_eq!(response.status(), 400);
    assert!(response.headers().get("location").is_none());
    assert!(
        response
            .text()
            .unwrap()
            .contains("does not accept client_id URLs")
    );
}
