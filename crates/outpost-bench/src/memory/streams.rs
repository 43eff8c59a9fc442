//! The 2026-07-28 `subscriptions/listen` streams of `memory`: each on a connection of its own,
//! held open (its acknowledgement read) until dropped, which closes the connection and so
//! cancels the stream on the server.

use std::{net::SocketAddr, time::Duration};

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{body::Incoming, client::conn::http1::SendRequest};
use tokio::task::JoinSet;

use crate::{load::connect, wire};

/// Streams being opened at once.
const OPENING_AT_ONCE: usize = 200;

/// How long a stream may take to be acknowledged.
const ACKNOWLEDGEMENT_DEADLINE: Duration = Duration::from_secs(20);

/// One open stream: dropping it closes its connection.
pub struct HeldStream {
    _sender: SendRequest<Full<Bytes>>,
    _body: Incoming,
}

/// Opens `count` streams on the server at `addr`, [`OPENING_AT_ONCE`] at a time, each
/// acknowledged by the server before the next wave starts.
pub async fn open(addr: SocketAddr, count: usize) -> anyhow::Result<Vec<HeldStream>> {
    let authority = addr.to_string();
    let mut held = Vec::with_capacity(count);
    while held.len() < count {
        let mut wave = JoinSet::new();
        for _ in 0..OPENING_AT_ONCE.min(count - held.len()) {
            let authority = authority.clone();
            wave.spawn(async move { open_one(addr, &authority).await });
        }
        while let Some(joined) = wave.join_next().await {
            let stream = joined
                .context("a stream opener panicked")?
                .with_context(|| format!("opening stream {}", held.len() + 1))?;
            held.push(stream);
        }
    }
    Ok(held)
}

/// One `subscriptions/listen` on a fresh connection, read up to its acknowledgement.
async fn open_one(addr: SocketAddr, authority: &str) -> anyhow::Result<HeldStream> {
    let mut sender = connect(addr).await?;
    sender.ready().await?;
    let response = sender
        .send_request(wire::listen(authority)?.build())
        .await?;
    let status = response.status();
    let mut body = response.into_body();
    let mut seen = Vec::new();
    let acknowledged = tokio::time::timeout(ACKNOWLEDGEMENT_DEADLINE, async {
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                seen.extend_from_slice(&data);
                if contains(&seen, wire::LISTEN_ACKNOWLEDGED.as_bytes()) {
                    return Ok(true);
                }
            }
        }
        Ok::<_, hyper::Error>(false)
    })
    .await;
    match acknowledged {
        Ok(Ok(true)) if status.is_success() => Ok(HeldStream {
            _sender: sender,
            _body: body,
        }),
        Ok(Ok(_)) => bail!(
            "the listen stream ended unacknowledged ({status}): {}",
            String::from_utf8_lossy(&seen)
        ),
        Ok(Err(error)) => Err(error).context("reading the listen stream"),
        Err(_) => bail!("no acknowledgement within {ACKNOWLEDGEMENT_DEADLINE:?} ({status})"),
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack
        .windows(needle.len())
        .any(|window| window == needle)
}
