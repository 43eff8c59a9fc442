//! The idle 2025-11-25 sessions of `memory`: opened (`initialize` + `notifications/initialized`,
//! no GET stream) and ended (`DELETE`) over a few keep-alive connections that close once the
//! work is done, so that what the server holds afterwards is the sessions, not connections.

use std::net::SocketAddr;

use anyhow::{Context, bail};
use http::HeaderValue;
use http_body_util::BodyExt;
use tokio::task::JoinSet;

use crate::{
    load::{connect, open_session},
    wire,
};

/// Connections the sessions are opened and deleted over, each doing its share in turn.
const CONNECTIONS: usize = 16;

/// Opens `count` sessions on the server at `addr` and returns their ids.
pub async fn open(addr: SocketAddr, count: usize) -> anyhow::Result<Vec<HeaderValue>> {
    let authority = addr.to_string();
    let mut connections = JoinSet::new();
    for share in shares(count) {
        let authority = authority.clone();
        connections.spawn(async move {
            let mut sender = connect(addr).await?;
            let mut ids = Vec::with_capacity(share);
            for _ in 0..share {
                ids.push(open_session(&mut sender, &authority).await?);
            }
            Ok::<_, anyhow::Error>(ids)
        });
    }
    let mut ids = Vec::with_capacity(count);
    while let Some(joined) = connections.join_next().await {
        ids.extend(joined.context("a session opener panicked")??);
    }
    Ok(ids)
}

/// Ends every session in `ids` with `DELETE /mcp`; fails on any answer but a success.
pub async fn delete(addr: SocketAddr, ids: Vec<HeaderValue>) -> anyhow::Result<()> {
    let authority = addr.to_string();
    let mut remaining = ids.into_iter();
    let mut connections = JoinSet::new();
    for share in shares(remaining.len()) {
        let batch: Vec<HeaderValue> = remaining.by_ref().take(share).collect();
        let authority = authority.clone();
        connections.spawn(async move {
            let mut sender = connect(addr).await?;
            for id in &batch {
                sender.ready().await?;
                let response = sender
                    .send_request(wire::session_delete(&authority, id)?)
                    .await?;
                let status = response.status();
                let body = response.into_body().collect().await?.to_bytes();
                if !status.is_success() {
                    bail!(
                        "DELETE refused ({status}): {}",
                        String::from_utf8_lossy(&body)
                    );
                }
            }
            Ok::<_, anyhow::Error>(())
        });
    }
    while let Some(joined) = connections.join_next().await {
        joined.context("a session deleter panicked")??;
    }
    Ok(())
}

/// `count` split over at most [`CONNECTIONS`] connections, none empty.
fn shares(count: usize) -> impl Iterator<Item = usize> {
    let connections = CONNECTIONS.min(count);
    (0..connections).map(move |i| count / connections + usize::from(i < count % connections))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_session_is_in_exactly_one_share() {
        for count in [0, 1, 15, 16, 17, 2000] {
            let shares: Vec<usize> = shares(count).collect();
            assert_eq!(shares.iter().sum::<usize>(), count, "{count}");
            assert!(shares.iter().all(|&share| share > 0), "{count}: {shares:?}");
            assert!(shares.len() <= CONNECTIONS);
        }
    }
}
