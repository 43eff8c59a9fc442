//! The redirect URI of a native app (RFC 8252 §7.3): a listener on `127.0.0.1` on a port the
//! system picks, which takes the authorization response the browser brings to `/callback`
//! and tells the user they may close the tab.

use std::{collections::HashMap, convert::Infallible, time::Duration};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use tokio::{net::TcpListener, sync::mpsc};

const PAGE: &str = "<!doctype html><meta charset=utf-8><title>outpost connect</title>\
<p>Signed in. You may close this tab and return to the terminal.</p>";
const NOT_HERE: &str = "Not the callback.";

/// The query parameters of the authorization response.
pub type AuthorizationResponse = HashMap<String, String>;

/// A bound loopback listener waiting for the browser.
pub struct CallbackListener {
    listener: TcpListener,
    redirect_uri: String,
}

impl CallbackListener {
    /// Binds `127.0.0.1` on a free port.
    pub async fn bind() -> anyhow::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", 0))
            .await
            .context("cannot listen on 127.0.0.1 for the sign-in callback")?;
        let port = listener.local_addr()?.port();
        Ok(Self {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}/callback"),
        })
    }

    /// `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Serves until a request reaches `/callback` (other paths get a 404, such as a browser's
    /// favicon request) and returns its query, or fails after `timeout`.
    pub async fn wait(self, timeout: Duration) -> anyhow::Result<AuthorizationResponse> {
        let (sender, mut received) = mpsc::channel::<AuthorizationResponse>(1);
        let accept = async {
            loop {
                let (stream, _) = self.listener.accept().await?;
                let sender = sender.clone();
                let service = service_fn(move |request: Request<Incoming>| {
                    let sender = sender.clone();
                    async move { Ok::<_, Infallible>(answer(&request, &sender).await) }
                });
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
            #[allow(unreachable_code)]
            Ok::<(), std::io::Error>(())
        };
        tokio::select! {
            result = accept => {
                result.context("the sign-in callback listener failed")?;
                bail!("the sign-in callback listener stopped")
            }
            response = received.recv() => response.context("the sign-in callback listener stopped"),
            () = tokio::time::sleep(timeout) => {
                bail!("no sign-in within {} s: the browser never came back to {}", timeout.as_secs(), self.redirect_uri)
            }
        }
    }
}

async fn answer(
    request: &Request<Incoming>,
    sender: &mpsc::Sender<AuthorizationResponse>,
) -> Response<Full<Bytes>> {
    if request.uri().path() != "/callback" {
        return page(StatusCode::NOT_FOUND, "text/plain", NOT_HERE);
    }
    let query = request.uri().query().unwrap_or_default();
    let params = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let _ = sender.send(params).await;
    page(StatusCode::OK, "text/html; charset=utf-8", PAGE)
}

fn page(status: StatusCode, media_type: &str, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    if let Ok(value) = media_type.parse() {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
