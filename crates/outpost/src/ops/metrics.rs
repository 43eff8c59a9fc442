//! What Outpost counts per request, through the [`metrics`] facade: requests by route, MCP
//! method and status, their latency (`_seconds` histogram), tool calls by tool and outcome.
//! Whatever recorder the application installed receives them (`outpost serve` installs
//! Prometheus' before serving: [`super::prometheus`]); without one they cost a lookup.
//!
//! Labels are bounded: the route is one of the router's own patterns (an unknown path is
//! `unmatched`), the MCP method one of MCP's (else `other`; `none` when the body alone names
//! it), tools are the first `MAX_TOOLS` names seen (then `other`), since `Mcp-Name` is
//! whatever the client sends. Handles are resolved once per label set and kept: a request
//! then costs a read lock on a small map and atomic increments, with no allocation.

use std::{collections::HashMap, sync::RwLock, time::Duration};

use http::StatusCode;
use metrics::{Counter, Histogram};

/// Requests answered, by `route`, `mcp_method` and `status`.
pub const REQUESTS_TOTAL: &str = "outpost_requests_total";
/// Time to the answer's head, by `route` and `mcp_method`.
pub const REQUEST_DURATION_SECONDS: &str = "outpost_request_duration_seconds";
/// `tools/call` requests, by `tool` and `outcome` (`ok` for a 2xx answer, else `error`).
pub const TOOL_CALLS_TOTAL: &str = "outpost_tool_calls_total";
/// SSE answers streaming now.
pub const OPEN_STREAMS: &str = "outpost_open_streams";

/// The most tool names given a label of their own.
const MAX_TOOLS: usize = 256;

/// The methods MCP defines (2024-11-05 … 2026-07-28), as label values.
const MCP_METHODS: &[&str] = &[
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
];

/// Outpost's own route patterns, as label values.
const ROUTES: &[&str] = &[
    "/mcp",
    "/sse",
    "/message",
    "/",
    "/health",
    "/ready",
    "/.well-known/oauth-protected-resource",
    "/.well-known/oauth-protected-resource/mcp",
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
];

type RequestKey = (&'static str, &'static str, u16);
type DurationKey = (&'static str, &'static str);

/// The handles of every label set seen so far.
#[derive(Debug, Default)]
pub(crate) struct RequestMetrics {
    requests: HandleCache<RequestKey, Counter>,
    durations: HandleCache<DurationKey, Histogram>,
    tools: RwLock<HashMap<String, ToolCounters>>,
}

impl RequestMetrics {
    /// Counts one answered request.
    pub(crate) fn record(
        &self,
        route: Option<&str>,
        mcp_method: Option<&str>,
        tool: Option<&str>,
        status: StatusCode,
        latency: Duration,
    ) {
        let route = route_label(route);
        let method = method_label(mcp_method);
        self.requests
            .get_or_make(&(route, method, status.as_u16()), |&(route, method, _)| {
                metrics::counter!(REQUESTS_TOTAL, "route" => route, "mcp_method" => method,
                    "status" => status.as_str().to_owned())
            })
            .increment(1);
        self.durations
            .get_or_make(&(route, method), |&(route, method)| {
                metrics::histogram!(REQUEST_DURATION_SECONDS, "route" => route,
                    "mcp_method" => method)
            })
            .record(latency.as_secs_f64());
        if method == "tools/call" {
            let ok = status.is_success();
            self.tool_counter(tool.unwrap_or("other"), ok).increment(1);
        }
    }

    fn tool_counter(&self, tool: &str, ok: bool) -> Counter {
        let pick = |counters: &ToolCounters| {
            if ok {
                counters.ok.clone()
            } else {
                counters.error.clone()
            }
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

/// The two outcomes of one tool.
#[derive(Debug)]
struct ToolCounters {
    ok: Counter,
    error: Counter,
}

impl ToolCounters {
    fn new(tool: &str) -> Self {
        let counter = |outcome: &'static str| metrics::counter!(TOOL_CALLS_TOTAL, "tool" => tool.to_owned(), "outcome" => outcome);
        Self {
            ok: counter("ok"),
            error: counter("error"),
        }
    }
}

/// One SSE answer streaming, counted in [`OPEN_STREAMS`] until dropped.
#[derive(Debug)]
pub(crate) struct OpenStream(metrics::Gauge);

impl OpenStream {
    /// Counts a stream that starts now.
    pub(crate) fn opened() -> Self {
        let gauge = metrics::gauge!(OPEN_STREAMS);
        gauge.increment(1.0);
        Self(gauge)
    }
}

impl Drop for OpenStream {
    fn drop(&mut self) {
        self.0.decrement(1.0);
    }
}

fn route_label(route: Option<&str>) -> &'static str {
    match route {
        None => "unmatched",
        Some(route) => ROUTES
            .iter()
            .find(|known| **known == route)
            .copied()
            .unwrap_or("other"),
    }
}

fn method_label(method: Option<&str>) -> &'static str {
    match method {
        None => "none",
        Some(method) => MCP_METHODS
            .iter()
            .find(|known| **known == method)
            .copied()
            .unwrap_or("other"),
    }
}

/// Handles by label set, made once.
#[derive(Debug)]
struct HandleCache<K, V> {
    handles: RwLock<HashMap<K, V>>,
}

impl<K, V> Default for HandleCache<K, V> {
    fn default() -> Self {
        Self {
            handles: RwLock::new(HashMap::new()),
        }
    }
}

impl<K: std::hash::Hash + Eq + Clone, V: Clone> HandleCache<K, V> {
    fn get(&self, key: &K) -> Option<V> {
        let handles = self.handles.read().unwrap_or_else(|e| e.into_inner());
        handles.get(key).cloned()
    }

    fn get_or_make(&self, key: &K, make: impl FnOnce(&K) -> V) -> V {
        if let Some(handle) = self.get(key) {
            return handle;
        }
        let mut handles = self.handles.write().unwrap_or_else(|e| e.into_inner());
        handles
            .entry(key.clone())
            .or_insert_with(|| make(key))
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_bounded() {
        assert_eq!(route_label(Some("/mcp")), "/mcp");
        assert_eq!(route_label(Some("/custom")), "other");
        assert_eq!(route_label(None), "unmatched");
        assert_eq!(method_label(Some("tools/call")), "tools/call");
        assert_eq!(method_label(Some("x".repeat(50).as_str())), "other");
        assert_eq!(method_label(None), "none");
    }
}
