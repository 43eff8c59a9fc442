//! The redirect URI of a native app (RFC 8252 §7.3): a listener on `127.0.0.1` on a port the
//! system picks, which takes the authorization response the browser brings to `/callback`
//! and tells the user what came back.
//!
//! Only a response carrying the request's `state` is taken: anything else reaching the port
//! (another page's request, a stale tab) gets a page saying it is not the sign-in this
//! terminal waits for, and the wait goes on. The page of the response taken says whether the
//! server refused the sign-in; the code is exchanged after the page is shown, so the terminal
//! has the last word.

use std::{collections::HashMap, convert::Infallible, sync::Arc, time::Duration};

use anyhow::{Context as _, bail};
use bytes::Bytes;
use http::{Request, Response, StatusCode, header};
use http_body_util::Full;
use hyper::{body::Incoming, service::service_fn};
use hyper_util::rt::TokioIo;
use outpost_oauth::secret::Secret;
use tokio::{net::TcpListener, sync::mpsc};

const RECEIVED: &str = "<!doctype html><meta charset=utf-8><title>outpost connect</title>\
<p>Sign-in received. You may close this tab: the terminal goes on from here.</p>";
const REFUSED: &str = "<!doctype html><meta charset=utf-8><title>outpost connect</title>\
<p>The server did not sign you in. The terminal says why; you may close this tab.</p>";
const NOT_AWAITED: &str = "<!doctype html><meta charset=utf-8><title>outpost connect</title>\
<p>This is not the sign-in this terminal is waiting for.</p>";
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
        Ok(Self::on(listener, port))
    }

    /// Binds the port of `redirect_uri`, a redirect URI this listener gave before
    /// (`http://127.0.0.1:PORT/callback`); `None` when it is not one or the port is taken.
    pub async fn bind_again(redirect_uri: &str) -> Option<Self> {
        let port = redirect_uri
            .strip_prefix("http://127.0.0.1:")?
            .strip_suffix("/callback")?
            .parse::<u16>()
            .ok()
            .filter(|port| *port != 0)?;
        let listener = TcpListener::bind(("127.0.0.1", port)).await.ok()?;
        Some(Self::on(listener, port))
    }

    fn on(listener: TcpListener, port: u16) -> Self {
        Self {
            listener,
            redirect_uri: format!("http://127.0.0.1:{port}/callback"),
        }
    }

    /// `http://127.0.0.1:PORT/callback`.
    pub fn redirect_uri(&self) -> &str {
        &self.redirect_uri
    }

    /// Serves until a request carrying `state` reaches `/callback` (other paths get a 404, such
    /// as a browser's favicon request; another `state` a page saying so) and returns its
    /// query, or fails after `timeout`.
    pub async fn wait(
        self,
        timeout: Duration,
        state: &Secret,
    ) -> anyhow::Result<AuthorizationResponse> {
        let (sender, mut received) = mpsc::channel::<AuthorizationResponse>(1);
        let state = Arc::new(state.clone());
        let accept = async {
            loop {
                let (stream, _) = self.listener.accept().await?;
                let (sender, state) = (sender.clone(), state.clone());
                let service = service_fn(move |request: Request<Incoming>| {
                    let (sender, state) = (sender.clone(), state.clone());
                    async move { Ok::<_, Infallible>(answer(&request, &state, &sender).await) }
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
    state: &Secret,
    sender: &mpsc::Sender<AuthorizationResponse>,
) -> Response<Full<Bytes>> {
    if request.uri().path() != "/callback" {
        return page(StatusCode::NOT_FOUND, "text/plain", NOT_HERE);
    }
    let query = request.uri().query().unwrap_or_default();
    let params: AuthorizationResponse = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let awaited = params
        .get("state")
        .is_some_and(|returned| state.matches(returned));
    if !awaited {
        eprintln!(
            "A sign-in callback arrived that is not this sign-in's (its state differs): still \
             waiting for the one started here."
        );
        return page(StatusCode::BAD_REQUEST, HTML, NOT_AWAITED);
    }
    let shown = if params.contains_key("error") {
        REFUSED
    } else {
        RECEIVED
    };
    let _ = sender.send(params).await;
    page(StatusCode::OK, HTML, shown)
}

const HTML: &str = "text/html; charset=utf-8";

fn page(status: StatusCode, media_type: &str, body: &'static str) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from_static(body.as_bytes())));
    *response.status_mut() = status;
    if let Ok(value) = media_type.parse() {
        response.headers_mut().insert(header::CONTENT_TYPE, value);
    }
    response
}
