"""`outpost serve --metrics-bind`: Prometheus text exposition on a listener of its own, parsed
by the official Python client's parser (`prometheus_client.parser`), growing with traffic."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest
from conftest import start_outpost
from processes import free_port, outpost_bin, stop
from prometheus_client.parser import text_string_to_metric_families

CALLS = 5


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


def scrape(url: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample at `url`, by name and labels."""
    with urllib.request.urlopen(url, timeout=5) as response:
        assert response.status == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return samples


def value(samples: dict, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def echo(base_url: str) -> int:
    meta = {
        "io.modelcontextprotocol/protocolVersion": "2026-07-28",
        "io.modelcontextprotocol/clientCapabilities": {},
        "io.modelcontextprotocol/clientInfo": {"name": "metrics-test", "version": "1.0.0"},
    }
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/call",
            "params": {"name": "echo", "arguments": {"message": "hi"}, "_meta": meta}}
    request = urllib.request.Request(
        f"{base_url}/mcp",
        data=json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            "accept": "application/json, text/event-stream",
            "mcp-protocol-version": "2026-07-28",
            "mcp-method": "tools/call",
            "mcp-name": "echo",
        },
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status


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
