"""`outpost connect` against servers that misbehave, written here on the standard library: one
that accepts connections and never answers (the client gives up after `--timeout`), one whose
error text carries terminal escape sequences (shown escaped, never raw), one that answers
`initialize` with a protocol version nobody speaks (the client disconnects), and one whose
metadata names an authorization server over plain http elsewhere (refused before any request
goes there)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from processes import outpost_bin

RUN_TIMEOUT_SECONDS = 60.0
ESCAPES = "bad \x1b[31mred\x1b[0m\x1b]0;title\x07 msg"


class HostileHandler(BaseHTTPRequestHandler):
    """A 2025-11-25 server (JSON answers, no `server/discover`) whose misbehaviour is the
    server's `behaviour`: "escapes", "version" or "plain-http-issuer"."""

    server: HostileServer

    def log_message(self, *args: object) -> None:
        pass

    def answer(self, status: int, body: object | None = None, headers: dict[str, str] | None = None) -> None:
        data = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        if body is not None:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if self.path.startswith("/.well-known/oauth-protected-resource"):
            self.answer(200, {"resource": f"{base}/mcp", "authorization_servers": ["http://192.0.2.2:9"]})
        else:
            self.answer(405)

    def do_DELETE(self) -> None:
        self.answer(200)

    def do_POST(self) -> None:
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        message = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
        behaviour = self.server.behaviour
        if behaviour == "plain-http-issuer":
            metadata = f"{base}/.well-known/oauth-protected-resource/mcp"
            self.answer(401, {"error": "unauthorized"}, {"WWW-Authenticate": f'Bearer resource_metadata="{metadata}"'})
            return
        method, request_id = message.get("method"), message.get("id")
        if request_id is None:
            self.answer(202)
        elif method == "initialize":
            version = "1999-01-01" if behaviour == "version" else "2025-11-25"
            result = {
                "protocolVersion": version,
                "capabilities": {"tools": {}},
                "serverInfo": {"name": "hostile\x1b[31m", "version": "1"},
            }
            self.answer(200, {"jsonrpc": "2.0", "id": request_id, "result": result}, {"Mcp-Session-Id": "s1"})
        elif method == "tools/list" and behaviour == "escapes":
            error = {"code": -32000, "message": ESCAPES}
            self.answer(200, {"jsonrpc": "2.0", "id": request_id, "error": error})
        elif method == "tools/list":
            self.answer(200, {"jsonrpc": "2.0", "id": request_id, "result": {"tools": []}})
        else:
            error = {"code": -32601, "message": f"Method not found: {method}"}
            self.answer(200, {"jsonrpc": "2.0", "id": request_id, "error": error})


class HostileServer(ThreadingHTTPServer):
    def __init__(self, behaviour: str) -> None:
        super().__init__(("127.0.0.1", 0), HostileHandler)
        self.behaviour = behaviour


@pytest.fixture
def hostile(request: pytest.FixtureRequest) -> Iterator[str]:
    server = HostileServer(request.param)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/mcp"
    finally:
        server.shutdown()
        server.server_close()


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home), "TMPDIR": str(home)}
    return subprocess.run(
        [str(outpost_bin()), "connect", "--no-browser", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_SECONDS,
    )


def test_a_server_that_never_answers_is_given_up_after_the_timeout(tmp_path: Path) -> None:
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # connections are accepted by the kernel, never answered
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/mcp"
        started = time.monotonic()
        result = run(tmp_path, url, "tools", "--timeout", "2")
        elapsed = time.monotonic() - started
    assert result.returncode == 2, result
    assert result.stderr.startswith(f"error: connection failed: {url}: the server sent nothing for 2 s"), result.stderr
    assert elapsed < 20, elapsed


@pytest.mark.parametrize("hostile", ["escapes"], indirect=True)
def test_escape_sequences_in_a_servers_error_never_reach_the_terminal(hostile: str, tmp_path: Path) -> None:
    result = run(tmp_path, hostile, "tools")
    assert result.returncode == 2, result
    assert "\x1b" not in result.stderr and "\x07" not in result.stderr, repr(result.stderr)
    assert result.stderr == (
        "error: the server refused the request: bad \\u{1b}[31mred\\u{1b}[0m\\u{1b}]0;title\\u{7} msg\n"
    ), repr(result.stderr)


@pytest.mark.parametrize("hostile", ["version"], indirect=True)
def test_a_protocol_version_the_client_does_not_speak_ends_the_connection(hostile: str, tmp_path: Path) -> None:
    result = run(tmp_path, hostile, "tools")
    assert result.returncode == 2, result
    assert "the server chose MCP protocol version 1999-01-01, which this client does not speak" in result.stderr


@pytest.mark.parametrize("hostile", ["plain-http-issuer"], indirect=True)
def test_an_authorization_server_over_plain_http_elsewhere_is_refused(hostile: str, tmp_path: Path) -> None:
    result = run(tmp_path, hostile, "tools")
    assert result.returncode == 2, result
    assert result.stderr.startswith("error: authorization failed: "), result.stderr
    assert "http://192.0.2.2:9 is not https" in result.stderr, result.stderr
