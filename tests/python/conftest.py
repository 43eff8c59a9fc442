"""Fixtures for the Python SDK interop tests: one `outpost serve --no-auth` for the session.

The binary is not built here: the caller builds it (`cargo build -p outpost-cli`) and may point
`OUTPOST_BIN` at it; the default is `target/debug/outpost` relative to the repo root.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from oauth_flow import LOGIN_DRIVER, CallbackListener
from processes import REPO_ROOT, example_bin, free_port, outpost_bin, stop

STARTUP_DEADLINE_SECONDS = 30.0
START_ATTEMPTS = 3


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "multi_instance: three instances behind haproxy (scripts/test.sh runs them as a stage of their own)",
    )


@pytest.fixture
def anyio_backend() -> str:
    """Run the async tests on asyncio, as the SDK's own test suite does."""
    return "asyncio"


def _wait_healthy(proc: subprocess.Popen[bytes], base_url: str) -> bool:
    """Poll GET /health until it answers 200 with status ok; False if the server exited."""
    deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=2) as response:
                if response.status == 200 and json.load(response).get("status") == "ok":
                    return True
        except (urllib.error.URLError, ConnectionError, TimeoutError, ValueError):
            pass
        time.sleep(0.1)
    raise TimeoutError(f"outpost did not answer {base_url}/health within {STARTUP_DEADLINE_SECONDS}s")


def start_outpost(serve_args: list[str], log_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Starts `outpost serve SERVE_ARGS --bind 127.0.0.1:PORT` on a free port and waits until
    /health answers; returns the process and its base URL (no trailing slash). `{attempt}` in an
    argument is replaced by the attempt number (for per-attempt store files)."""
    binary = outpost_bin()
    for attempt in range(1, START_ATTEMPTS + 1):
        # The port is probed free, then handed to the server: another process can take it in
        # between, in which case the server exits at once and we try another port.
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        log_path = log_dir / f"outpost-{attempt}.log"
        args = [arg.replace("{attempt}", str(attempt)) for arg in serve_args]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                [str(binary), "serve", *args, "--bind", f"127.0.0.1:{port}"],
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO_ROOT,
            )
        try:
            healthy = _wait_healthy(proc, base_url)
        except BaseException:
            stop(proc)
            raise
        if healthy:
            return proc, base_url
        stop(proc)
        if attempt == START_ATTEMPTS:
            tail = log_path.read_text(errors="replace")[-4000:]
            pytest.fail(f"outpost {' '.join(args)} exited before becoming healthy (exit {proc.returncode}):\n{tail}")
    raise AssertionError("unreachable: START_ATTEMPTS >= 1")


def start_example(package: str, store: str, log_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    """Starts the example `package` (examples/) on a free port with the store URL `store`
    (OUTPOST_BIND, OUTPOST_STORE: the builder's `settings_from_env`) and waits until /health
    answers; returns the process and its base URL."""
    binary = example_bin(package)
    for attempt in range(1, START_ATTEMPTS + 1):
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        log_path = log_dir / f"{package}-{attempt}.log"
        env = {**os.environ, "OUTPOST_BIND": f"127.0.0.1:{port}", "OUTPOST_STORE": store.replace("{attempt}", str(attempt))}
        env.pop("OUTPOST_PUBLIC_URL", None)
        with log_path.open("wb") as log:
            proc = subprocess.Popen([str(binary)], stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=log_dir, env=env)
        try:
            healthy = _wait_healthy(proc, base_url)
        except BaseException:
            stop(proc)
            raise
        if healthy:
            return proc, base_url
        stop(proc)
        if attempt == START_ATTEMPTS:
            tail = log_path.read_text(errors="replace")[-4000:]
            pytest.fail(f"{package} exited before becoming healthy (exit {proc.returncode}):\n{tail}")
    raise AssertionError("unreachable: START_ATTEMPTS >= 1")


@pytest.fixture(scope="session")
def outpost_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL (http://127.0.0.1:PORT, no trailing slash) of a running `outpost serve --no-auth`."""
    proc, base_url = start_outpost(["--no-auth"], tmp_path_factory.mktemp("outpost"))
    try:
        yield base_url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def callback() -> Iterator[CallbackListener]:
    """The OAuth client's redirect URI (a loopback listener), for the tests that log in."""
    if not LOGIN_DRIVER.is_file():
        pytest.fail(f"login robot not found: {LOGIN_DRIVER} (set OUTPOST_LOGIN_DRIVER)")
    listener = CallbackListener()
    try:
        yield listener
    finally:
        listener.close()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that used a multi-instance cluster (any fixture value with `log_sections`)
    gets the log of each of its processes (the instances, haproxy, Redis) in its report."""
    outcome = yield
    report = outcome.get_result()
    if not report.failed:
        return
    for value in getattr(item, "funcargs", {}).values():
        if hasattr(value, "log_sections"):
            report.sections.extend(value.log_sections())
