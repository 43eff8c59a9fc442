"""Child processes of the Python tests: the `outpost` binary under test, free loopback ports,
and stopping a process without waiting forever."""

from __future__ import annotations

import os
import socket
import subprocess
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
STOP_DEADLINE_SECONDS = 10.0


def outpost_bin() -> Path:
    """The binary under test: `OUTPOST_BIN` (relative to the repo root), default
    target/debug/outpost; ends the test session at once when it is missing."""
    path = Path(os.environ.get("OUTPOST_BIN", "target/debug/outpost"))
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.exit(
            f"outpost binary not found or not executable: {path} "
            "(build it with `cargo build -p outpost-cli` or set OUTPOST_BIN)",
            returncode=2,
        )
    return path


def example_bin(package: str) -> Path:
    """The binary of the example `package` (examples/), built beside the binary under test
    (`cargo build -p PACKAGE`); ends the test session at once when it is missing."""
    path = outpost_bin().parent / package
    if not path.is_file() or not os.access(path, os.X_OK):
        pytest.exit(f"example binary not found: {path} (build it with `cargo build -p {package}`)", returncode=2)
    return path


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (another process may take it before use)."""
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct loopback TCP ports that were free a moment ago (all held at once while
    they are picked, so none is handed out twice)."""
    socks = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in socks:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in socks]
    finally:
        for sock in socks:
            sock.close()


def stop(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within STOP_DEADLINE_SECONDS."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=STOP_DEADLINE_SECONDS)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=STOP_DEADLINE_SECONDS)
