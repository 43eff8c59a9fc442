//! The load generator: N keep-alive HTTP/1.1 connections on hyper, each sending the next
//! request as soon as the previous answer is read (closed loop), for a warm-up and then a
//! fixed measured window.
//!
//! It runs on one thread (a current-thread runtime) so that, pinned to the other core, it never
//! competes with the server for CPU. Every request has a deadline and the whole run has one, so
//! a hung server ends the run with errors instead of hanging it.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use anyhow::{Context, bail};
use bytes::Bytes;
use http::HeaderValue;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use serde::{Deserialize, Serialize};
use tokio::{net::TcpStream, task::JoinSet};

use crate::{
    targets::Target,
    wire::{self, RequestTemplate},
};

/// No single request may take longer than this.
const REQUEST_DEADLINE: Duration = Duration::from_secs(5);

/// How the load is applied.
#[derive(Debug, Clone)]
pub struct LoadPlan {
    /// The server under test.
    pub addr: SocketAddr,
    /// Which requests to send.
    pub target: Target,
    /// Concurrent connections, each with one request in flight.
    pub connections: usize,
    /// Unmeasured time before the window.
    pub warmup: Duration,
    /// The measured window.
    pub duration: Duration,
    /// The bearer token every request carries, for a target that requires one.
    pub token: Option<String>,
}

/// What one run measured.
#[derive(Debug, Serialize, Deserialize)]
pub struct LoadReport {
    /// Requests started inside the window that got a 200.
    pub requests: u64,
    /// Requests that failed (non-200, I/O error, deadline) at any time.
    pub errors: u64,
    /// Length of the measured window, in seconds.
    pub seconds: f64,
    /// Median latency in microseconds.
    pub p50_us: u32,
    /// 99th-percentile latency in microseconds.
    pub p99_us: u32,
}

impl LoadReport {
    /// Successful requests per second over the window.
    pub fn requests_per_second(&self) -> f64 {
        self.requests as f64 / self.seconds
    }
}

/// One connection's tally.
#[derive(Default)]
struct Tally {
    latencies_us: Vec<u32>,
    errors: u64,
}

/// Checks one request end to end, then applies the load and reports.
pub async fn run(plan: LoadPlan) -> anyhow::Result<LoadReport> {
    let authority = plan.addr.to_string();
    let mut probe = connect(plan.addr).await?;
    let template = template_for(&plan, &authority, &mut probe).await?;
    let (status, body) = send(&mut probe, &template).await?;
    wire::expect_echo(status, &body).context("the server does not answer the echo call")?;

    let start = Instant::now();
    let window_start = start + plan.warmup;
    let window_end = window_start + plan.duration;
    let mut connections = JoinSet::new();
    for _ in 0..plan.connections {
        let plan = plan.clone();
        let authority = authority.clone();
        connections.spawn(async move {
            let mut sender = connect(plan.addr).await?;
            let template = template_for(&plan, &authority, &mut sender).await?;
            Ok::<_, anyhow::Error>(drive(sender, template, window_start, window_end).await)
        });
    }

    let mut tally = Tally::default();
    let hard_stop = tokio::time::Instant::from_std(window_end + REQUEST_DEADLINE * 2);
    while let Some(joined) = tokio::time::timeout_at(hard_stop, connections.join_next())
        .await
        .unwrap_or_default()
    {
        let connection = joined.context("a connection task panicked")??;
        tally.latencies_us.extend(connection.latencies_us);
        tally.errors += connection.errors;
    }
    if !connections.is_empty() {
        connections.abort_all();
        bail!("connections still busy long after the window closed");
    }
    Ok(summarise(tally, plan.duration))
}

/// The request a connection sends: stateless, or on a session opened for it.
async fn template_for(
    plan: &LoadPlan,
    authority: &str,
    sender: &mut SendRequest<Full<Bytes>>,
) -> anyhow::Result<RequestTemplate> {
    if !plan.target.opens_session() {
        let template = RequestTemplate::stateless(authority)?;
        return match &plan.token {
            Some(token) => template.with_bearer(token),
            None => Ok(template),
        };
    }
    let session_id = open_session(sender, authority).await?;
    RequestTemplate::in_session(authority, &session_id)
}

/// `initialize` + `notifications/initialized`; returns the session id.
pub(crate) async fn open_session(
    sender: &mut SendRequest<Full<Bytes>>,
    authority: &str,
) -> anyhow::Result<HeaderValue> {
    let response = sender
        .send_request(wire::session_initialize(authority)?.build())
        .await?;
    let session_id = response
        .headers()
        .get("mcp-session-id")
        .cloned()
        .context("initialize answered without Mcp-Session-Id")?;
    response.into_body().collect().await?;
    let (status, body) = send(sender, &wire::session_initialized(authority, &session_id)?).await?;
    if !status.is_success() {
        bail!(
            "notifications/initialized refused ({status}): {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(session_id)
}

/// Sends requests back to back until the window closes.
async fn drive(
    mut sender: SendRequest<Full<Bytes>>,
    template: RequestTemplate,
    window_start: Instant,
    window_end: Instant,
) -> Tally {
    let mut tally = Tally::default();
    loop {
        let sent = Instant::now();
        if sent >= window_end {
            return tally;
        }
        let answer = tokio::time::timeout(REQUEST_DEADLINE, send(&mut sender, &template)).await;
        let ok = matches!(answer, Ok(Ok((status, _))) if status.is_success());
        if !ok {
            tally.errors += 1;
            if !matches!(answer, Ok(Ok(_))) {
                // The connection is in an unknown state: stop using it.
                return tally;
            }
        } else if sent >= window_start {
            let micros = sent.elapsed().as_micros();
            tally
                .latencies_us
                .push(u32::try_from(micros).unwrap_or(u32::MAX));
        }
    }
}

/// Opens one keep-alive connection with `TCP_NODELAY`.
pub(crate) async fn connect(addr: SocketAddr) -> anyhow::Result<SendRequest<Full<Bytes>>> {
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("cannot connect to {addr}"))?;
    stream.set_nodelay(true)?;
    let (sender, connection) = http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    Ok(sender)
}

/// Sends one request and reads the whole answer.
pub(crate) async fn send(
    sender: &mut SendRequest<Full<Bytes>>,
    template: &RequestTemplate,
) -> anyhow::Result<(http::StatusCode, Bytes)> {
    sender.ready().await?;
    let response = sender.send_request(template.build()).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

fn summarise(mut tally: Tally, window: Duration) -> LoadReport {
    tally.latencies_us.sort_unstable();
    let percentile = |p: f64| -> u32 {
        let last = tally.latencies_us.len().saturating_sub(1);
        let rank = ((last as f64) * p).round() as usize;
        tally.latencies_us.get(rank).copied().unwrap_or(0)
    };
    LoadReport {
        requests: tally.latencies_us.len() as u64,
        errors: tally.errors,
        seconds: window.as_secs_f64(),
        p50_us: percentile(0.50),
        p99_us: percentile(0.99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_come_from_the_sorted_latencies() {
        let tally = Tally {
            latencies_us: (1..=100).rev().collect(),
            errors: 2,
        };
        let report = summarise(tally, Duration::from_secs(2));
        assert_eq!(report.requests, 100);
        assert_eq!(report.errors, 2);
        assert_eq!(report.p50_us, 51);
        assert_eq!(report.p99_us, 99);
        assert!((report.requests_per_second() - 50.0).abs() < f64::EPSILON);
    }
}
