"""`outpost serve --metrics-bind`: Prometheus text exposition on a listener of its own, parsed
by the official Python client's parser (`prometheus_client.parser`), growing with traffic:
requests, tool calls by outcome (`isError` results apart), open sessions and streams of each
transport, and — after a full OAuth flow on a SQLite store — the authorization server's
counters and the store's latency."""

from __future__ import annotations

import json
import re
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator

import anyio
import pytest
from conftest import start_outpost
from oauth_flow import CallbackListener, authorized_storage, post_form
from processes import free_port, outpost_bin, stop
from prometheus_client.parser import text_string_to_metric_families

CALLS = 5
GAUGE_DEADLINE = 10.0
"""How long a gauge may take to follow a stream or session that ended (seconds)."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`outpost serve --no-auth --metrics-bind …`: (base URL, metrics URL)."""
    metrics_port = free_port()
    proc, base_url = start_outpost(
        ["--no-auth", "--metrics-bind", f"127.0.0.1:{metrics_port}"],
        tmp_path_factory.mktemp("metrics"),
    )
    try:
        yield base_url, f"http://127.0.0.1:{metrics_port}/metrics"
    finally:
        stop(proc)


def exposition(url: str) -> str:
    """The text at `url`."""
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/plain")
        return response.read().decode()


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample at `url`, by name and labels."""
    text = exposition(url)
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def call_tool(base_url: str, tool: str, arguments: dict) -> dict:
    """A stateless 2026-07-28 `tools/call` (the fast path); returns the JSON-RPC answer."""
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "metrics-test", "version": "1.0.0"},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": tool, "arguments": arguments, "_meta": meta}}
    request = urllib.request.Request(
        f"{base_url}/mcp",
        data=json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": "tools/call",
            "mcp-name": tool,
        },
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        assert response.status == 200
        return json.load(response)


def echo(base_url: str) -> int:
    answer = call_tool(base_url, "echo", {"message": "hi"})
    assert "result" in answer, answer
    return 200


def eventually(metrics_url: str, check: Callable[[dict], bool], what: str) -> None:
    """Scrapes until `check` holds, for at most GAUGE_DEADLINE seconds."""
    deadline = time.monotonic() + GAUGE_DEADLINE
    while True:
        samples = scrape(metrics_url)
        if check(samples):
            return
        assert time.monotonic() < deadline, f"{what}: not seen within {GAUGE_DEADLINE}s"
        time.sleep(0.05)


def session_request(base_url: str, method: str, body: dict | None, session: str | None,
                    accept: str = "application/json, text/event-stream"):
    """One 2025-11-25 request to /mcp; the open response (the caller closes it)."""
    headers = {"accept": accept, "mcp-protocol-version": "2025-11-25"}
    if body is not None:
        headers["content-type"] = "application/json"
    if session is not None:
        headers["mcp-session-id"] = session
    request = urllib.request.Request(
        f"{base_url}/mcp", method=method, headers=headers,
        data=None if body is None else json.dumps(body).encode(),
    )
    return urllib.request.urlopen(request, timeout=5)


def open_session(base_url: str) -> str:
    """Initializes a 2025-11-25 session; its id."""
    initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
        "protocolVersion": "2025-11-25", "capabilities": {},
        "clientInfo": {"name": "metrics-test", "version": "1.0.0"}}}
    with session_request(base_url, "POST", initialize, None) as response:
        session = response.headers["mcp-session-id"]
        response.read()
    initialized = {"jsonrpc": "2.0", "method": "notifications/initialized"}
    with session_request(base_url, "POST", initialized, session) as response:
        assert response.status == 202
    return session


def test_metrics_grow_with_traffic(served: tuple[str, str]) -> None:
    base_url, metrics_url = served
    call = {"route": "/mcp", "mcp_method": "tools/call", "status": "200"}
    before = scrape(metrics_url)
    for _ in range(CALLS):
        assert echo(base_url) == 200
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{base_url}/no-such-page", timeout=5)
    assert missing.value.code == 404
    after = scrape(metrics_url)

    assert value(after, "outpost_requests_total", **call) - value(
        before, "outpost_requests_total", **call) == CALLS
    assert value(after, "outpost_tool_calls_total", tool="echo", outcome="ok") - value(
        before, "outpost_tool_calls_total", tool="echo", outcome="ok") == CALLS
    duration = {"route": "/mcp", "mcp_method": "tools/call"}
    assert value(after, "outpost_request_duration_seconds_count", **duration) - value(
        before, "outpost_request_duration_seconds_count", **duration) == CALLS
    assert value(after, "outpost_request_duration_seconds_bucket", le="+Inf", **duration) >= CALLS
    assert value(after, "outpost_requests_total", route="unmatched", mcp_method="none",
                 status="404") >= 1


def test_metrics_are_not_on_the_public_listener(served: tuple[str, str]) -> None:
    base_url, _ = served
    with pytest.raises(urllib.error.HTTPError) as answer:
        urllib.request.urlopen(f"{base_url}/metrics", timeout=5)
    assert answer.value.code == 404


def test_the_public_address_is_refused_for_metrics() -> None:
    port = free_port()
    result = subprocess.run(
        [str(outpost_bin()), "serve", "--no-auth", "--bind", f"127.0.0.1:{port}",
         "--metrics-bind", f"0.0.0.0:{port}"],
        capture_output=True, timeout=30, check=False,
    )
    assert result.returncode != 0
    assert b"refusing --metrics-bind" in result.stderr


def test_is_error_results_are_counted_apart(served: tuple[str, str]) -> None:
    base_url, metrics_url = served
    failing = {"tool": "getResourceReference", "outcome": "tool_error"}
    succeeding = {"tool": "getResourceReference", "outcome": "ok"}
    before = scrape(metrics_url)
    answer = call_tool(base_url, "getResourceReference", {"resourceId": 999})
    assert answer["result"].get("isError") is True, answer
    answer = call_tool(base_url, "getResourceReference", {"resourceId": 1})
    assert not answer["result"].get("isError"), answer
    after = scrape(metrics_url)
    for labels in (failing, succeeding):
        assert value(after, "outpost_tool_calls_total", **labels) - value(
            before, "outpost_tool_calls_total", **labels) == 1, labels


def test_a_streamed_tool_calls_outcome_is_counted(served: tuple[str, str]) -> None:
    """A session call asking for progress is answered on an SSE stream whose head leaves before
    the tool ends: its outcome is counted when the stream ends, not taken from the `200`."""
    base_url, metrics_url = served
    failing = {"tool": "getResourceReference", "outcome": "tool_error"}
    before = scrape(metrics_url)
    session = open_session(base_url)
    call = {"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {
        "name": "getResourceReference", "arguments": {"resourceId": 999},
        "_meta": {"progressToken": "p-1"}}}
    with session_request(base_url, "POST", call, session) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        body = response.read().decode()
    assert '"isError":true' in body, body
    eventually(metrics_url, lambda s: value(s, "outpost_tool_calls_total", **failing) - value(
        before, "outpost_tool_calls_total", **failing) == 1, "the streamed isError counted")


def test_sessions_and_get_streams_are_gauged(served: tuple[str, str]) -> None:
    """A parked session is counted on the instance while it has a request or its GET stream
    open there; between requests it is a record in the store, held by no instance."""
    base_url, metrics_url = served
    sessions = {"transport": "streamable_http"}
    streams = {"kind": "get"}
    before = scrape(metrics_url)
    session = open_session(base_url)
    idle = value(before, "outpost_open_sessions", **sessions)
    assert value(scrape(metrics_url), "outpost_open_sessions", **sessions) == idle, \
        "an idle parked session is held by no instance"

    stream = session_request(base_url, "GET", None, session, accept="text/event-stream")
    try:
        assert stream.headers["content-type"].startswith("text/event-stream")
        during = scrape(metrics_url)
        assert value(during, "outpost_open_streams", **streams) == value(
            before, "outpost_open_streams", **streams) + 1
        assert value(during, "outpost_open_sessions", **sessions) == idle + 1, \
            "a session with its GET stream open here is counted"
    finally:
        stream.close()
    eventually(metrics_url, lambda s: value(s, "outpost_open_streams", **streams) == value(
        before, "outpost_open_streams", **streams), "the closed GET stream uncounted")
    eventually(metrics_url, lambda s: value(s, "outpost_open_sessions", **sessions) == idle,
               "the session uncounted once its stream closed")

    with session_request(base_url, "DELETE", None, session) as response:
        assert response.status in (200, 204)


def test_session_requests_are_counted_by_method_and_tool(served: tuple[str, str]) -> None:
    """A 2025-11-25 session names its method and tool in the body only: both the request the
    fast path answers and the one it leaves to rmcp (a progress token) are counted under
    them."""
    base_url, metrics_url = served
    session = open_session(base_url)
    call = {"route": "/mcp", "mcp_method": "tools/call", "status": "200"}
    echoed = {"tool": "echo", "outcome": "ok"}
    before = scrape(metrics_url)
    for n, meta in enumerate([{}, {"progressToken": "p1"}]):
        body = {"jsonrpc": "2.0", "id": 2 + n, "method": "tools/call",
                "params": {"name": "echo", "arguments": {"message": "hi"}, "_meta": meta}}
        with session_request(base_url, "POST", body, session) as response:
            assert b"Echo: hi" in response.read()
    after = scrape(metrics_url)
    assert value(after, "outpost_requests_total", **call) - value(
        before, "outpost_requests_total", **call) == 2
    assert value(after, "outpost_tool_calls_total", **echoed) - value(
        before, "outpost_tool_calls_total", **echoed) == 2
    with session_request(base_url, "DELETE", None, session) as response:
        assert response.status in (200, 204)


def test_http_sse_sessions_and_streams_are_gauged(served: tuple[str, str]) -> None:
    base_url, metrics_url = served
    before = scrape(metrics_url)
    counts = {("outpost_open_sessions", "transport", "sse"), ("outpost_open_streams", "kind", "sse")}

    def each_is(samples: dict, more: int) -> bool:
        return all(value(samples, name, **{label: v}) == value(before, name, **{label: v}) + more
                   for name, label, v in counts)

    stream = urllib.request.urlopen(
        urllib.request.Request(f"{base_url}/sse", headers={"accept": "text/event-stream"}), timeout=5)
    try:
        assert stream.readline().startswith(b"event: endpoint")
        eventually(metrics_url, lambda s: each_is(s, 1), "the /sse session and stream counted")
    finally:
        stream.close()
    eventually(metrics_url, lambda s: each_is(s, 0), "the closed /sse session and stream uncounted")


def test_http_sse_messages_are_counted_by_method(served: tuple[str, str]) -> None:
    """A 2024-11-05 POST to /message names its method in the body only."""
    base_url, metrics_url = served
    counted = {"route": "/message", "mcp_method": "initialize", "status": "202"}
    before = scrape(metrics_url)
    stream = urllib.request.urlopen(
        urllib.request.Request(f"{base_url}/sse", headers={"accept": "text/event-stream"}), timeout=5)
    try:
        assert stream.readline().startswith(b"event: endpoint")
        endpoint = stream.readline().decode().removeprefix("data: ").strip()
        initialize = {"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
            "protocolVersion": "2024-11-05", "capabilities": {},
            "clientInfo": {"name": "metrics-test", "version": "1.0.0"}}}
        request = urllib.request.Request(
            f"{base_url}{endpoint}", data=json.dumps(initialize).encode(),
            headers={"content-type": "application/json"})
        with urllib.request.urlopen(request, timeout=5) as response:
            assert response.status == 202
    finally:
        stream.close()
    assert value(scrape(metrics_url), "outpost_requests_total", **counted) - value(
        before, "outpost_requests_total", **counted) == 1


def test_help_texts_and_gauges_read_well(served: tuple[str, str]) -> None:
    _, metrics_url = served
    text = exposition(metrics_url)
    helps = [line for line in text.splitlines() if line.startswith("# HELP outpost_")]
    assert helps, text
    assert not [line for line in helps if line.endswith("..")], helps
    gauges = [line for line in text.splitlines() if line.startswith("outpost_open_")]
    assert gauges, text
    assert all(re.fullmatch(r"\S+ -?\d+", line) for line in gauges), gauges


# --------------------------------------------------------------------------------------------
# With the authorization server on a SQLite store


@pytest.fixture(scope="module")
def served_with_auth(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`outpost serve --demo --store sqlite://… --metrics-bind …`: (base URL, metrics URL)."""
    work = tmp_path_factory.mktemp("metrics-auth")
    metrics_port = free_port()
    proc, base_url = start_outpost(
        ["--demo", "--store", f"sqlite://{work}/o-{{attempt}}.db",
         "--metrics-bind", f"127.0.0.1:{metrics_port}"],
        work,
    )
    try:
        yield base_url, f"http://127.0.0.1:{metrics_port}/metrics"
    finally:
        stop(proc)


@pytest.mark.anyio
async def test_an_oauth_flow_is_counted(served_with_auth: tuple[str, str], callback: CallbackListener) -> None:
    base_url, metrics_url = served_with_auth
    before = scrape(metrics_url)
    with anyio.fail_after(60):
        # A wrong password, then the right one; a code exchanged; a session that calls whoami.
        storage = await authorized_storage(base_url, callback)
        assert storage.tokens is not None and storage.tokens.refresh_token
        assert storage.client_info is not None
        client_id = storage.client_info.client_id
        refreshed = await post_form(f"{base_url}/token", {
            "grant_type": "refresh_token", "refresh_token": storage.tokens.refresh_token,
            "client_id": client_id})
        assert refreshed.status_code == 200, refreshed.text
        revoked = await post_form(f"{base_url}/revoke", {
            "token": refreshed.json()["refresh_token"], "token_type_hint": "refresh_token",
            "client_id": client_id})
        assert revoked.status_code == 200, revoked.text
        # Failed client authentication is limited per source and client: the limit answers 429.
        statuses = []
        for _ in range(12):
            refused = await post_form(f"{base_url}/token", {
                "grant_type": "refresh_token", "refresh_token": "not-a-refresh-token",
                "client_id": client_id, "client_secret": "not-the-secret"})
            statuses.append(refused.status_code)
        assert 429 in statuses and set(statuses) <= {401, 429}, statuses
    after = scrape(metrics_url)

    def grew(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("outpost_login_failures_total") == 1
    assert grew("outpost_tokens_issued_total") == 1
    assert grew("outpost_tokens_refreshed_total") == 1
    assert grew("outpost_tokens_revoked_total") == 1
    assert grew("outpost_throttled_attempts_total") >= 1
    for operation in ("codes.redeem", "grants.rotate", "grants.revoke_grant", "throttles.reserve"):
        assert grew("outpost_store_operation_duration_seconds_count", operation=operation) >= 1, operation
        assert value(after, "outpost_store_operation_duration_seconds_bucket", operation=operation,
                     le="+Inf") >= 1, operation
    assert not [key for key in after if key[0] == "outpost_store_errors_total" and after[key] > 0], \
        "a healthy store counted errors"
