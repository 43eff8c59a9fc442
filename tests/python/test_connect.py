"""`outpost connect` against an MCP server that is not Outpost: the official Python SDK's server
with its own OAuth authorization server (oauth_python_server.py). Sign in with `--no-browser`,
the printed URL driven by tests/tools/login-driver.py; list and call tools; refresh an expired
token; logout; each exit status."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from processes import REPO_ROOT, free_port, outpost_bin, stop

SERVER = Path(__file__).with_name("oauth_python_server.py")
LOGIN_DRIVER = REPO_ROOT / "tests" / "tools" / "login-driver.py"
STARTUP_DEADLINE_SECONDS = 30.0
RUN_TIMEOUT_SECONDS = 60.0


@dataclass
class PythonServer:
    url: str


def start_python_server(transport: str) -> Iterator[PythonServer]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, str(SERVER), str(port), transport],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{base}/.well-known/oauth-protected-resource/mcp", timeout=2):
                    break
            except (urllib.error.URLError, ConnectionError):
                assert proc.poll() is None, "the Python server exited"
                assert time.monotonic() < deadline, "the Python server did not start"
                time.sleep(0.1)
        yield PythonServer(url=f"{base}/mcp")
    finally:
        stop(proc)


@pytest.fixture
def python_server() -> Iterator[PythonServer]:
    yield from start_python_server("streamable-http")


@pytest.fixture
def python_sse_server() -> Iterator[PythonServer]:
    """The same server speaking only the 2024-11-05 HTTP+SSE transport: its /mcp answers 404."""
    yield from start_python_server("sse")


def connect(home: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "XDG_CONFIG_HOME": str(home), "TMPDIR": str(home)}
    return subprocess.Popen(
        [str(outpost_bin()), "connect", "--no-browser", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A command that must not ask for a sign-in."""
    proc = connect(home, *args)
    out, err = proc.communicate(timeout=RUN_TIMEOUT_SECONDS)
    assert "/authorize?" not in err, f"asked for a sign-in: {err}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def run_signing_in(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """A command that signs in: the URL is read from stderr and played by the login driver."""
    proc = connect(home, *args)
    assert proc.stderr is not None
    url = ""
    while "/authorize?" not in url:
        url = proc.stderr.readline()
        assert url, "stderr ended without an authorization URL"
    rest: list[str] = []
    reader = threading.Thread(target=lambda: rest.append(proc.stderr.read()))  # type: ignore[union-attr]
    reader.start()
    driver = subprocess.run(
        [sys.executable, str(LOGIN_DRIVER), url.strip(), "anyone", "anything"],
        capture_output=True, text=True, timeout=RUN_TIMEOUT_SECONDS,
    )
    assert driver.returncode == 0, driver.stderr
    out, _ = proc.communicate(timeout=RUN_TIMEOUT_SECONDS)
    reader.join()
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, "".join(rest))


def stored(home: Path, url: str) -> dict | None:
    path = home / "outpost" / "credentials.json"
    return json.loads(path.read_text())["servers"].get(url)


def test_connect_signs_in_calls_refreshes_and_logs_out(python_server: PythonServer, tmp_path: Path) -> None:
    url = python_server.url

    signed_in = run_signing_in(tmp_path, url)
    assert signed_in.returncode == 0, signed_in.stderr
    assert signed_in.stdout.startswith("python-oauth-server 1.0.0 (MCP "), signed_in.stdout
    assert "multiply  Multiplies two integers." in signed_in.stdout
    credentials = tmp_path / "outpost" / "credentials.json"
    assert credentials.stat().st_mode & 0o777 == 0o600

    called = run(tmp_path, url, "call", "multiply", "a=6", "b=7")
    assert called.returncode == 0, called.stderr
    assert called.stdout.splitlines()[0] == "42"

    # An MCP App's UI resource is read and saved where a browser can open it.
    app = run(tmp_path, url, "call", "card_tool", "name=Ada")
    assert app.returncode == 0, app.stderr
    assert app.stdout.startswith("A card for Ada\n"), app.stdout
    saved = app.stdout.split("saved to ")[1].split("]")[0]
    assert saved.endswith(".html")
    assert "A card from Python" in Path(saved).read_text()

    failed = run(tmp_path, url, "call", "fail")
    assert failed.returncode == 1, failed.stderr
    assert "fail" in failed.stdout

    usage = run(tmp_path, url, "call", "multiply", "a=six", "b=7")
    assert usage.returncode == 2
    assert usage.stderr == "error: usage: a=six: the tool's schema wants an integer\n"

    # An expired access token is refreshed without a sign-in.
    before = stored(tmp_path, url)
    assert before is not None
    data = json.loads(credentials.read_text())
    data["servers"][url]["expires_at"] = 0
    credentials.write_text(json.dumps(data))
    refreshed = run(tmp_path, url, "call", "multiply", "a=2", "b=3")
    assert refreshed.returncode == 0, refreshed.stderr
    after = stored(tmp_path, url)
    assert after is not None and after["access_token"] != before["access_token"]

    logged_out = run(tmp_path, url, "logout")
    assert logged_out.returncode == 0, logged_out.stderr
    assert logged_out.stdout.startswith(f"Signed out of {url}")
    assert stored(tmp_path, url) is None


def test_connect_falls_back_to_2024_11_05_sse_and_signs_in_there(
    python_sse_server: PythonServer, tmp_path: Path
) -> None:
    url = python_sse_server.url
    signed_in = run_signing_in(tmp_path, url, "call", "multiply", "a=3", "b=4")
    assert signed_in.returncode == 0, signed_in.stderr
    assert signed_in.stdout.splitlines()[0] == "12"
    summary = run(tmp_path, url)
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.startswith("python-oauth-server 1.0.0 (MCP 2024-11-05)"), summary.stdout


def test_connect_exit_status_for_a_server_that_is_not_there(tmp_path: Path) -> None:
    url = f"http://127.0.0.1:{free_port()}/mcp"
    result = run(tmp_path, url, "tools")
    assert result.returncode == 2
    assert result.stderr.startswith(f"error: connection failed: {url}: ")


def test_connect_speaks_to_a_python_sdk_1_server(tmp_path: Path) -> None:
    """The Python SDK 1.x refuses `server/discover` without a session (`400`, its error under
    the id "server-error"): connect opens a 2025-11-25 session instead."""
    interpreter = os.environ.get("OUTPOST_MCP1_PYTHON")
    if not interpreter:
        pytest.fail("OUTPOST_MCP1_PYTHON is not set: run the tests with scripts/python-test.sh")
    port = free_port()
    proc = subprocess.Popen(
        [interpreter, str(Path(__file__).with_name("mcp1_server.py")), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}/mcp"
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        while True:
            summary = run(tmp_path, url)
            if summary.returncode == 0 or time.monotonic() > deadline or proc.poll() is not None:
                break
            time.sleep(0.2)
        assert summary.returncode == 0, summary.stderr
        assert summary.stdout.startswith("sdk-1-server "), summary.stdout
        assert "(MCP 2025-11-25)" in summary.stdout.splitlines()[0], summary.stdout
        called = run(tmp_path, url, "call", "add", "a=2", "b=3")
        assert called.returncode == 0, called.stderr
        assert called.stdout.splitlines()[0] == "5", called.stdout
    finally:
        stop(proc)
