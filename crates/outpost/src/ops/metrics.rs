//! What Outpost counts per request, through the [`metrics`] facade: requests by route, MCP
//! method and status, their latency (`_seconds` histogram), tool calls by tool and outcome,
//! open streams by kind and open sessions by transport. Whatever recorder the application
//! installed receives them (`outpost serve` installs Prometheus' before serving:
//! [`super::prometheus`]); without one they cost a lookup.
//!
//! Labels are bounded: the route is one of the router's own patterns (an unknown path is
//! `unmatched`), the MCP method one of MCP's (else `other`; `none` when the body alone names
//! it), tools are the first `MAX_TOOLS` names seen (then `other`), since `Mcp-Name` is
//! whatever the client sends. Handles are resolved once per label set and kept, in a fixed
//! table indexed by the route and method labels: a request then costs a read lock on its
//! slot's few statuses and atomic increments, with no allocation (a tool call also looks its
//! tool's counters up by name).
//!
//! Streamable HTTP sessions are counted when the metrics are rendered ([`sample`]), from the
//! session manager's own tables: nothing is added to a request for them.

use std::{
    collections::HashMap,
    sync::{
        Arc, Mutex, OnceLock, RwLock, Weak,
        atomic::{AtomicU64, Ordering},
    },
    time::Duration,
};

use http::{Method, StatusCode};
use metrics::{Counter, Gauge, Histogram};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;

use super::request_facts::ToolOutcome;

/// Requests answered, by `route`, `mcp_method` and `status`.
pub const REQUESTS_TOTAL: &str = "outpost_requests_total";
/// Time to the answer's head, by `route` and `mcp_method`.
pub const REQUEST_DURATION_SECONDS: &str = "outpost_request_duration_seconds";
/// `tools/call` requests, by `tool` and `outcome`: `ok`, `tool_error` (a result with
/// `isError: true`) or `error` (a JSON-RPC error or a refused request). The fast path knows
/// each call's outcome; on rmcp's path a 2xx answer counts as `ok`, and only 2026-07-28
/// calls, whose headers name the tool, are counted.
pub const TOOL_CALLS_TOTAL: &str = "outpost_tool_calls_total";
/// SSE answers streaming now, by `kind`: `get` (a standalone `GET /mcp` stream), `sse` (a
/// 2024-11-05 `/sse` stream), `listen` (a 2026-07-28 `subscriptions/listen`) or `response` (a
/// POST answered as a stream).
pub const OPEN_STREAMS: &str = "outpost_open_streams";
/// MCP sessions open now, by `transport`: `streamable_http` (sessions of 2025-03-26 …
/// 2025-11-25 with a request or a GET stream open on this instance — a parked session is a
/// store record between requests, held by no instance; with in-memory sessions, those in
/// this process's memory) or `sse` (2024-11-05 sessions, one per `/sse` stream). Summed over
/// instances, parked sessions busy on two instances at once count twice.
pub const OPEN_SESSIONS: &str = "outpost_open_sessions";

/// Log lines dropped because the log destination fell behind (see
/// `outpost::log_writer`, feature `log-writer`).
pub const LOG_LINES_DROPPED_TOTAL: &str = "outpost_log_lines_dropped_total";

/// The most tool names given a label of their own.
const MAX_TOOLS: usize = 256;

/// The methods MCP defines (2024-11-05 … 2026-07-28), as label values, then `other` (another
/// method) and `none` (no method known from the headers).
const METHOD_LABELS: &[&str] = &[
    "initialize",
    "ping",
    "server/discover",
    "tools/list",
    "tools/call",
    "resources/list",
    "resources/read",
    "resources/templates/list",
    "resources/subscribe",
    "resources/unsubscribe",
    "prompts/list",
    "prompts/get",
    "completion/complete",
    "logging/setLevel",
    "subscriptions/listen",
    "tasks/get",
    "tasks/result",
    "tasks/list",
    "tasks/cancel",
    "notifications/initialized",
    "notifications/cancelled",
    "notifications/progress",
    "notifications/roots/list_changed",
    "other",
    "none",
];

/// Outpost's own route patterns, as label values, then `other` (a route the application added)
/// and `unmatched` (no route matched).
const ROUTE_LABELS: &[&str] = &[
    "/mcp",
    "/sse",
    "/message",
    "/",
    "/health",
    "/ready",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
    "/.well-known/oauth-protected-resource/sse",
    "/.well-known/oauth-authorization-server",
    "/.well-known/openid-configuration",
    "/jwks.json",
    "/register",
    "/token",
    "/revoke",
    "/introspect",
    "/authorize",
    "/login",
    "/consent",
    "other",
    "unmatched",
];

/// The handles of every label set seen so far.
#[derive(Debug)]
pub(crate) struct RequestMetrics {
    /// One slot per route and MCP method label: `ROUTE_LABELS.len() × METHOD_LABELS.len()`.
    slots: Box<[LabelSlot]>,
    tools: RwLock<HashMap<String, ToolCounters>>,
    streams: OnceLock<StreamGauges>,
}

/// The handles of one route and MCP method: made when first used, then only read.
#[derive(Debug, Default)]
struct LabelSlot {
    duration: OnceLock<Histogram>,
    /// By status; a handful of statuses per route and method.
    requests: RwLock<Vec<(u16, Counter)>>,
}

impl Default for RequestMetrics {
    fn default() -> Self {
        Self {
            slots: (0..ROUTE_LABELS.len() * METHOD_LABELS.len())
                .map(|_| LabelSlot::default())
                .collect(),
            tools: RwLock::default(),
            streams: OnceLock::new(),
        }
    }
}

impl RequestMetrics {
    /// Counts one answered request (its tool call, if any, is [`Self::count_tool_call`]'s).
    pub(crate) fn record(
        &self,
        route: Option<&str>,
        mcp_method: Option<&str>,
        status: StatusCode,
        latency: Duration,
    ) {
        let route = label_index(ROUTE_LABELS, route);
        let method = label_index(METHOD_LABELS, mcp_method);
        let slot = &self.slots[route * METHOD_LABELS.len() + method];
        let (route, method) = (ROUTE_LABELS[route], METHOD_LABELS[method]);
        slot.requests_counter(status, || {
            metrics::counter!(REQUESTS_TOTAL, "route" => route, "mcp_method" => method,
                "status" => status.as_str().to_owned())
        })
        .increment(1);
        slot.duration
            .get_or_init(|| {
                metrics::histogram!(REQUEST_DURATION_SECONDS, "route" => route,
                    "mcp_method" => method)
            })
            .record(latency.as_secs_f64());
    }

    /// Counts one `tools/call` of `tool` (`other` when unknown) that ended as `outcome`.
    pub(crate) fn count_tool_call(&self, tool: Option<&str>, outcome: ToolOutcome) {
        self.tool_counter(tool.unwrap_or("other"), outcome)
            .increment(1);
    }

    /// Counts a stream that starts now, answering a `method` request to `route` (a matched
    /// pattern) for the MCP `mcp_method`, until the returned guard is dropped.
    pub(crate) fn stream_opened(
        &self,
        method: &Method,
        route: Option<&str>,
        mcp_method: Option<&str>,
    ) -> Open {
        let gauges = self.streams.get_or_init(StreamGauges::new);
        let gauge = if route == Some("/sse") {
            &gauges.sse
        } else if method == Method::GET {
            &gauges.get
        } else if mcp_method == Some("subscriptions/listen") {
            &gauges.listen
        } else {
            &gauges.response
        };
        Open::counted(gauge.clone())
    }

    fn tool_counter(&self, tool: &str, outcome: ToolOutcome) -> Counter {
        let pick = |counters: &ToolCounters| match outcome {
            ToolOutcome::Ok => counters.ok.clone(),
            ToolOutcome::ToolError => counters.tool_error.clone(),
            ToolOutcome::Error => counters.error.clone(),
        };
        {
            let tools = self.tools.read().unwrap_or_else(|e| e.into_inner());
            if let Some(counters) = tools.get(tool) {
                return pick(counters);
            }
        }
        let mut tools = self.tools.write().unwrap_or_else(|e| e.into_inner());
        let name = if tools.len() < MAX_TOOLS || tools.contains_key(tool) {
            tool
        } else {
            "other"
        };
        let counters = tools
            .entry(name.to_owned())
            .or_insert_with(|| ToolCounters::new(name));
        pick(counters)
    }
}

/// The outcomes of one tool.
#[derive(Debug)]
struct ToolCounters {
    ok: Counter,
    tool_error: Counter,
    error: Counter,
}

impl ToolCounters {
    fn new(tool: &str) -> Self {
        let counter = |outcome: ToolOutcome| {
            metrics::counter!(TOOL_CALLS_TOTAL, "tool" => tool.to_owned(),
                "outcome" => outcome.label())
        };
        Self {
            ok: counter(ToolOutcome::Ok),
            tool_error: counter(ToolOutcome::ToolError),
            error: counter(ToolOutcome::Error),
        }
    }
}

/// The [`OPEN_STREAMS`] gauge of each kind.
#[derive(Debug)]
struct StreamGauges {
    get: Gauge,
    sse: Gauge,
    listen: Gauge,
    response: Gauge,
}

impl StreamGauges {
    fn new() -> Self {
        let gauge = |kind: &'static str| metrics::gauge!(OPEN_STREAMS, "kind" => kind);
        Self {
            get: gauge("get"),
            sse: gauge("sse"),
            listen: gauge("listen"),
            response: gauge("response"),
        }
    }
}

/// One thing counted in a gauge (a stream, a session) for as long as this lives.
#[derive(Debug)]
pub(crate) struct Open(Gauge);

impl Open {
    fn counted(gauge: Gauge) -> Self {
        gauge.increment(1.0);
        Self(gauge)
    }

    /// Counts a 2024-11-05 session that starts now.
    pub(crate) fn http_sse_session() -> Self {
        static GAUGE: OnceLock<Gauge> = OnceLock::new();
        let gauge = GAUGE.get_or_init(|| metrics::gauge!(OPEN_SESSIONS, "transport" => "sse"));
        Self::counted(gauge.clone())
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

/// A session manager whose open sessions [`sample`] counts.
pub(crate) trait CountedSessions: Send + Sync {
    /// How many sessions are open now; `None` when that cannot be read without waiting (the
    /// last count then stands).
    fn open_sessions(&self) -> Option<u64>;
}

impl CountedSessions for LocalSessionManager {
    fn open_sessions(&self) -> Option<u64> {
        // A table being written now keeps its last count until the next sample.
        Some(self.sessions.try_read().ok()?.len() as u64)
    }
}

/// The session managers whose sessions [`sample`] counts, with the last count read from each.
type Counted = (Weak<dyn CountedSessions>, AtomicU64);
static SESSION_MANAGERS: Mutex<Vec<Counted>> = Mutex::new(Vec::new());

/// Counts `sessions`' open sessions in [`OPEN_SESSIONS`] whenever metrics are sampled, for as
/// long as it lives.
pub(crate) fn count_sessions_of<S: CountedSessions + 'static>(sessions: Arc<S>) {
    let sessions: Arc<dyn CountedSessions> = sessions;
    let mut managers = SESSION_MANAGERS.lock().unwrap_or_else(|e| e.into_inner());
    managers.retain(|(manager, _)| manager.strong_count() > 0);
    managers.push((Arc::downgrade(&sessions), AtomicU64::new(0)));
}

/// Brings the gauges that are read rather than kept up to date ([`OPEN_SESSIONS`] of
/// Streamable HTTP) to their current values: an exporter calls it before rendering.
pub fn sample() {
    let mut managers = SESSION_MANAGERS.lock().unwrap_or_else(|e| e.into_inner());
    managers.retain(|(manager, _)| manager.strong_count() > 0);
    let mut open = 0;
    for (manager, last) in managers.iter() {
        if let Some(count) = manager
            .upgrade()
            .and_then(|manager| manager.open_sessions())
        {
            last.store(count, Ordering::Relaxed);
        }
        open += last.load(Ordering::Relaxed);
    }
    metrics::gauge!(OPEN_SESSIONS, "transport" => "streamable_http").set(open as f64);
}

impl LabelSlot {
    /// The counter of `status`, made by `make` the first time.
    fn requests_counter(&self, status: StatusCode, make: impl FnOnce() -> Counter) -> Counter {
        let status = status.as_u16();
        let find = |counters: &[(u16, Counter)]| {
            counters
                .iter()
                .find(|(known, _)| *known == status)
                .map(|(_, counter)| counter.clone())
        };
        if let Some(counter) = find(&self.requests.read().unwrap_or_else(|e| e.into_inner())) {
            return counter;
        }
        let mut counters = self.requests.write().unwrap_or_else(|e| e.into_inner());
        if let Some(counter) = find(&counters) {
            return counter;
        }
        let counter = make();
        counters.push((status, counter.clone()));
        counter
    }
}

/// The index of `value`'s label in `labels`: the known values, then the label of another
/// value, then the label of none.
fn label_index(labels: &[&str], value: Option<&str>) -> usize {
    let known = labels.len() - 2;
    match value {
        None => known + 1,
        Some(value) => labels[..known]
            .iter()
            .position(|label| *label == value)
            .unwrap_or(known),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        let route = |route: Option<&str>| ROUTE_LABELS[label_index(ROUTE_LABELS, route)];
        let method = |method: Option<&str>| METHOD_LABELS[label_index(METHOD_LABELS, method)];
        assert_eq!(route(Some("/mcp")), "/mcp");
        assert_eq!(route(Some("/custom")), "other");
        assert_eq!(route(Some("other")), "other");
        assert_eq!(route(Some("unmatched")), "other");
        assert_eq!(route(None), "unmatched");
        assert_eq!(method(Some("tools/call")), "tools/call");
        assert_eq!(method(Some("x".repeat(50).as_str())), "other");
        assert_eq!(method(Some("none")), "other");
        assert_eq!(method(None), "none");
    }
}
