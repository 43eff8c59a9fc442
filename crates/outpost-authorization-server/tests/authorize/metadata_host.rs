//! A real https server on loopback that publishes Client ID Metadata Documents: a self-signed
//! certificate for `localhost` and `127.0.0.1` (rcgen), TLS by tokio-rustls, and a minimal
//! HTTP/1.1 responder (one request per connection, `Connection: close`) so each test can
//! shape an answer exactly: status, media type, body, a missing `Content-Length`, a delay.
//! The authorization server trusts the certificate through
//! `CimdConfig::extra_root_certificates`.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
    time::Duration,
};

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpListener,
};
use tokio_rustls::TlsAcceptor;

/// One answer of the host.
#[derive(Debug, Clone)]
pub struct Reply {
    pub status: u16,
    pub content_type: &'static str,
    pub body: Vec<u8>,
    /// Send no `Content-Length` (the body ends when the connection closes).
    pub no_length: bool,
    /// Wait this long before answering.
    pub delay: Duration,
    /// Extra header lines (`Name: value`).
    pub headers: Vec<String>,
}

impl Reply {
    /// `200` with a JSON body.
    pub fn json(body: &serde_json::Value) -> Self {
        Self {
            status: 200,
            content_type: "application/json",
            body: body.to_string().into_bytes(),
            no_length: false,
            delay: Duration::ZERO,
            headers: Vec::new(),
        }
    }
}

#[derive(Default)]
struct Routes {
    replies: HashMap<String, Reply>,
    hits: HashMap<String, usize>,
}

/// The running host.
pub struct MetadataHost {
    /// `https://localhost:PORT`.
    pub base: String,
    /// The port.
    pub port: u16,
    /// The self-signed certificate, DER: the root to trust.
    pub root_der: Vec<u8>,
    routes: Arc<Mutex<Routes>>,
    _task: tokio::task::JoinHandle<()>,
}

impl MetadataHost {
    /// Starts the host on a free loopback port.
    pub async fn start() -> Self {
        let certified =
            rcgen::generate_simple_self_signed(vec!["localhost".into(), "127.0.0.1".into()])
                .unwrap();
        let cert: CertificateDer<'static> = certified.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(
            certified.signing_key.serialize_der(),
        ));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(vec![cert.clone()], key)
            .unwrap();
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let routes = Arc::new(Mutex::new(Routes::default()));
        let shared = Arc::clone(&routes);
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    return;
                };
                let (acceptor, routes) = (acceptor.clone(), Arc::clone(&shared));
                tokio::spawn(async move {
                    if let Ok(stream) = acceptor.accept(tcp).await {
                        answer(stream, &routes).await;
                    }
                });
            }
        });
        Self {
            base: format!("https://localhost:{port}"),
            port,
            root_der: cert.to_vec(),
            routes,
            _task: task,
        }
    }

    /// `{base}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Answers GET `path` with `reply` from now on.
    pub fn serve(&self, path: &str, reply: Reply) {
        self.routes
            .lock()
            .unwrap()
            .replies
            .insert(path.to_owned(), reply);
    }

    /// How many requests for `path` arrived.
    pub fn hits(&self, path: &str) -> usize {
        self.routes
            .lock()
            .unwrap()
            .hits
            .get(path)
            .copied()
            .unwrap_or(0)
    }
}

async fn answer(
    mut stream: tokio_rustls::server::TlsStream<tokio::net::TcpStream>,
    routes: &Mutex<Routes>,
) {
    let mut head = Vec::new();
    let mut buffer = [0_u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 16 * 1024 {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buffer[..n]),
        }
    }
    let head = String::from_utf8_lossy(&head);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
    let reply = {
        let mut routes = routes.lock().unwrap();
        *routes.hits.entry(path.clone()).or_default() += 1;
        routes.replies.get(&path).cloned()
    };
    let reply = reply.unwrap_or(Reply {
        status: 404,
        content_type: "text/plain",
        body: b"not found".to_vec(),
        no_length: false,
        delay: Duration::ZERO,
        headers: Vec::new(),
    });
    tokio::time::sleep(reply.delay).await;
    let mut response = format!(
        "HTTP/1.1 {} X\r\nContent-Type: {}\r\nConnection: close\r\n",
        reply.status, reply.content_type
    );
    if !reply.no_length {
        response.push_str(&format!("Content-Length: {}\r\n", reply.body.len()));
    }
    for header in &reply.headers {
        response.push_str(header);
        response.push_str("\r\n");
    }
    response.push_str("\r\n");
    let _ = stream.write_all(response.as_bytes()).await;
    let _ = stream.write_all(&reply.body).await;
    let _ = stream.shutdown().await;
}
