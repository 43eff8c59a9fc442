"""Three `outpost serve --demo` instances (or with other `serve` flags) on one store behind
haproxy, as child processes on free loopback ports: the harness of test_multi_instance.py and
test_parked_sessions.py.

Switches (environment):
- `OUTPOST_MULTI_STORE`: `redis` (default: a `redis-server` started here; the instances get
  `--store redis://127.0.0.1:PORT`, `--store-prefix` and the password in
  `OUTPOST_STORE_PASSWORD`) or `sqlite` (the instances share one SQLite file, as on one host).
- `HAPROXY_BIN` (default /usr/sbin/haproxy), `REDIS_SERVER_BIN` (default redis-server on PATH).

haproxy balances round robin per request with no affinity, marks an instance down after two
failed checks 500 ms apart, and — when no instance is ready — still forwards to all of them
(backup lines without checks), so clients see Outpost's own answer rather than haproxy's 503.
Every response through it names the instance that served it in `X-Outpost-Backend`, and its
log (one `req SERVER STATUS METHOD PATH` line per request) names the instance of every request,
including the robot browser's. deploy/haproxy.cfg is the same configuration for a deployment.
"""

from __future__ import annotations

import csv
import os
import secrets
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from processes import REPO_ROOT, free_ports, outpost_bin

STORE_MODE = os.environ.get("OUTPOST_MULTI_STORE", "redis")
if STORE_MODE not in ("sqlite", "redis"):
    raise ValueError(f"OUTPOST_MULTI_STORE must be sqlite or redis, not {STORE_MODE!r}")
# What haproxy and the harness poll to call an instance ready.
READY_PATH = "/ready"
HAPROXY_BIN = os.environ.get("HAPROXY_BIN", "/usr/sbin/haproxy")
REDIS_SERVER_BIN = os.environ.get("REDIS_SERVER_BIN", "redis-server")

INSTANCES = 3
BACKEND_HEADER = "X-Outpost-Backend"
START_DEADLINE = 30.0
"""Upper bound on a process becoming ready (a debug build opening a fresh store)."""
STOP_DEADLINE = 10.0
CHECK_INTERVAL_MS = 500
"""haproxy's health-check interval: an instance is down after two failures, up after one success."""
LOG_TAIL_CHARS = 6000


class HarnessError(AssertionError):
    """A process of the harness did not start or stop as it should; the message has its log."""


def wait_until(condition: Callable[[], bool], deadline: float, what: str, log: Callable[[], str] = str) -> None:
    """Polls `condition` every 50 ms until it holds; raises HarnessError naming `what` (and
    appending `log()`) after `deadline` seconds."""
    end = time.monotonic() + deadline
    while not condition():
        if time.monotonic() > end:
            raise HarnessError(f"{what}: not within {deadline}s\n{log()}")
        time.sleep(0.05)


def http_get(url: str, timeout: float = 2.0) -> tuple[int, dict[str, str], bytes] | None:
    """GET `url`: status, headers (lower-case names) and body, whatever the status; None when
    nothing answered (refused, reset, timed out)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, {k.lower(): v for k, v in response.headers.items()}, response.read()
    except urllib.error.HTTPError as error:
        return error.code, {k.lower(): v for k, v in error.headers.items()}, error.read()
    except (urllib.error.URLError, OSError):
        return None


def _tail(path: Path) -> str:
    if not path.exists():
        return f"(no log at {path})"
    text = path.read_text(errors="replace")
    return text if len(text) <= LOG_TAIL_CHARS else "…" + text[-LOG_TAIL_CHARS:]


class _Process:
    """One child process with its own log file; every start appends to the log after a marker
    line, so the log tells each life of the process apart."""

    def __init__(self, name: str, log: Path) -> None:
        self.name = name
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._starts = 0

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self, argv: list[str], env: dict[str, str] | None = None) -> None:
        if self.running:
            raise HarnessError(f"{self.name} is already running")
        self._starts += 1
        with self.log.open("ab") as log:
            log.write(f"=== {self.name}: start {self._starts}: {' '.join(argv)}\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT, cwd=REPO_ROOT, env=env
            )

    def signal(self, signum: signal.Signals) -> None:
        """Sends `signum` and waits for the exit (SIGKILL after STOP_DEADLINE)."""
        if not self.running:
            return
        assert self.proc is not None
        self.proc.send_signal(signum)
        try:
            self.proc.wait(timeout=STOP_DEADLINE)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_DEADLINE)
            raise HarnessError(f"{self.name} ignored {signum.name} for {STOP_DEADLINE}s\n{self.log_tail()}")

    def check_alive(self) -> None:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise HarnessError(f"{self.name} exited (status {code})\n{self.log_tail()}")

    def log_tail(self) -> str:
        return f"--- {self.name} log ({self.log}):\n{_tail(self.log)}"


class Redis(_Process):
    """`redis-server` on a free loopback port, with a password, no RDB snapshots and an
    append-only file in its own directory: stopping it (SIGKILL) and starting it again on the
    same port and directory keeps what it acknowledged."""

    def __init__(self, work: Path, port: int) -> None:
        super().__init__("redis", work / "redis.log")
        self.port = port
        self.dir = work / "redis-data"
        self.dir.mkdir()
        self.password = secrets.token_hex(16)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.spawn(
            [
                REDIS_SERVER_BIN,
                "--port", str(self.port),
                "--bind", "127.0.0.1",
                "--dir", str(self.dir),
                "--save", "",
                "--appendonly", "yes",
                "--requirepass", self.password,
                "--daemonize", "no",
            ]
        )  # fmt: skip
        wait_until(self._answers, START_DEADLINE, "redis-server answering PING", self.log_tail)

    def stop(self) -> None:
        """Kills the server outright, as a crash would."""
        self.signal(signal.SIGKILL)

    def _answers(self) -> bool:
        self.check_alive()
        try:
            return self.command("PING") == "PONG"
        except OSError:
            return False

    def command(self, *args: str) -> str | int | None:
        """One command on a fresh authenticated connection; its reply (simple string, integer,
        bulk string or nil). An error reply raises HarnessError."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as sock:
            reader = sock.makefile("rb")
            for command in (("AUTH", self.password), args):
                encoded = [f"*{len(command)}\r\n".encode()]
                for arg in command:
                    raw = arg.encode()
                    encoded.append(b"$%d\r\n%s\r\n" % (len(raw), raw))
                sock.sendall(b"".join(encoded))
                reply = self._reply(reader)
            return reply

    @staticmethod
    def _reply(reader: BinaryIO) -> str | int | None:
        line = reader.readline().rstrip(b"\r\n").decode()
        kind, rest = line[:1], line[1:]
        if kind == "+":
            return rest
        if kind == ":":
            return int(rest)
        if kind == "$":
            return None if rest == "-1" else reader.read(int(rest) + 2)[:-2].decode()
        if kind == "-":
            raise HarnessError(f"redis error: {rest}")
        raise HarnessError(f"unexpected redis reply {line!r}")


class Instance(_Process):
    """One `outpost serve` on its own loopback port; `url` reaches it directly, bypassing the
    balancer."""

    def __init__(self, name: str, work: Path, port: int) -> None:
        super().__init__(name, work / f"{name}.log")
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"

    def ready(self) -> bool:
        """Whether READY_PATH answers 200 (raises HarnessError if the process has exited)."""
        self.check_alive()
        answer = http_get(self.url + READY_PATH, timeout=1)
        return answer is not None and answer[0] == 200


@dataclass(frozen=True)
class LoggedRequest:
    """One request as haproxy logged it: the server that answered (`<NOSRV>` for none)."""

    server: str
    status: int
    method: str
    path: str


class Balancer(_Process):
    """haproxy in front of `instances` (see the module docstring), checking `check_path`."""

    def __init__(self, work: Path, port: int, instances: list[Instance], check_path: str = READY_PATH) -> None:
        super().__init__("haproxy", work / "haproxy.log")
        self.instances = instances
        self.check_path = check_path
        self.port = port
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = work / "haproxy.cfg"
        self.stats_socket = work / "haproxy.sock"

    def config_text(self) -> str:
        primaries = "\n".join(f"    server {i.name} 127.0.0.1:{i.port} check" for i in self.instances)
        fallbacks = "\n".join(f"    server {i.name}-fallback 127.0.0.1:{i.port} backup" for i in self.instances)
        return f"""\
# Generated by tests/python/cluster.py; deploy/haproxy.cfg is the commented deployment version.
global
    log stdout format raw local0
    stats socket {self.stats_socket} mode 600 level admin

defaults
    mode http
    log global
    option forwardfor
    timeout connect 2s
    timeout client 1h
    timeout server 1h
    timeout http-request 10s
    timeout http-keep-alive 10s
    timeout check 1s
    retries 2
    option redispatch 1

frontend mcp
    bind 127.0.0.1:{self.port}
    log-format "req %s %ST %HM %HPO"
    default_backend outpost

backend outpost
    balance roundrobin
    option httpchk
    http-check send meth GET uri {self.check_path} ver HTTP/1.1 hdr Host localhost
    http-check expect status 200
    option allbackups
    http-response set-header {BACKEND_HEADER} %s
    default-server inter {CHECK_INTERVAL_MS}ms fall 2 rise 1
{primaries}
{fallbacks}
"""

    def start(self) -> None:
        self.config.write_text(self.config_text())
        self.spawn([HAPROXY_BIN, "-f", str(self.config), "-db"])
        wait_until(self._answers, START_DEADLINE, "haproxy answering on its stats socket", self.log_tail)

    def stop(self) -> None:
        self.signal(signal.SIGTERM)

    def _answers(self) -> bool:
        self.check_alive()
        try:
            return bool(self.server_states())
        except OSError:
            return False

    def server_states(self) -> dict[str, str]:
        """Each server line's state as haproxy sees it: `UP`, `DOWN`, `UP 1/2`, `no check`…"""
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(2)
            sock.connect(str(self.stats_socket))
            sock.sendall(b"show stat\n")
            chunks = []
            while chunk := sock.recv(65536):
                chunks.append(chunk)
        lines = b"".join(chunks).decode().lstrip("# ").splitlines()
        return {
            row["svname"]: row["status"]
            for row in csv.DictReader(line for line in lines if line)
            if row["pxname"] == "outpost" and row["svname"] not in ("FRONTEND", "BACKEND")
        }

    def wait_for(self, names: list[str], status: str, deadline: float = 10.0) -> None:
        """Waits until every server in `names` is in `status` (`UP` or `DOWN`) for haproxy."""
        wait_until(
            lambda: all(self.server_states().get(name) == status for name in names),
            deadline,
            f"haproxy seeing {', '.join(names)} {status} (now {self.server_states()})",
        )

    def requests(self) -> list[LoggedRequest]:
        """Every request logged so far, in order (haproxy logs a request when it ends)."""
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            parts = line.split(" ", 4)
            if len(parts) == 5 and parts[0] == "req" and parts[2].isdigit():
                found.append(LoggedRequest(parts[1], int(parts[2]), parts[3], parts[4]))
        return found


class Cluster:
    """Redis (in redis mode), INSTANCES instances of `outpost serve SERVE_ARGS` (default `--demo`)
    on one store with the balancer's URL as `--public-url`, and the balancer. `close()` stops
    whatever runs."""

    def __init__(self, work: Path, check_path: str = READY_PATH, serve_args: tuple[str, ...] = ("--demo",)) -> None:
        self.work = work
        self.serve_args = serve_args
        balancer_port, redis_port, *instance_ports = free_ports(2 + INSTANCES)
        self.redis = Redis(work, redis_port) if STORE_MODE == "redis" else None
        self.instances = [Instance(f"outpost{n}", work, port) for n, port in enumerate(instance_ports, 1)]
        self.balancer = Balancer(work, balancer_port, self.instances, check_path)
        self.url = self.balancer.url
        self._store_generation = 1

    def start(self) -> None:
        """Starts Redis, every instance at the same moment, then the balancer; returns once
        haproxy sees every instance up (or, with a check path that fails, once it is running)."""
        if self.redis is not None:
            self.redis.start()
        self.start_instances(*self.instances)
        self.balancer.start()
        if self.balancer.check_path == READY_PATH:
            self.balancer.wait_for([i.name for i in self.instances], "UP")

    def store_args(self) -> list[str]:
        """The `--store` flags of the current store (see `fresh_store`)."""
        if self.redis is None:
            return ["--store", f"sqlite://{self.work}/store-{self._store_generation}.db"]
        return ["--store", self.redis.url, "--store-prefix", f"outpost-test-{self._store_generation}:"]

    def env(self) -> dict[str, str]:
        """The environment of the instances (and of CLI commands on their store)."""
        env = dict(os.environ)
        if self.redis is not None:
            env["OUTPOST_STORE_PASSWORD"] = self.redis.password
        return env

    def fresh_store(self) -> None:
        """Instances started from now on get a new, empty store (a new file, or a new prefix)."""
        self._store_generation += 1

    def start_instances(self, *instances: Instance) -> None:
        """Starts `instances` together (all spawned before any is waited for) and waits until
        each is ready, directly and (once the balancer runs) for haproxy."""
        argv = [str(outpost_bin()), "serve", *self.serve_args, *self.store_args(), "--public-url", self.url]
        for instance in instances:
            instance.spawn([*argv, "--bind", f"127.0.0.1:{instance.port}"], self.env())
        for instance in instances:
            wait_until(instance.ready, START_DEADLINE, f"{instance.name} ready at {READY_PATH}", instance.log_tail)
        if self.balancer.running and self.balancer.check_path == READY_PATH:
            self.balancer.wait_for([i.name for i in instances], "UP")

    def sigkill(self, *instances: Instance) -> None:
        for instance in instances:
            instance.signal(signal.SIGKILL)

    def sigterm(self, *instances: Instance) -> None:
        for instance in instances:
            instance.signal(signal.SIGTERM)

    def restart(self, *instances: Instance) -> None:
        """SIGTERM `instances` (default: all), then start them again together on the same ports."""
        instances = instances or tuple(self.instances)
        self.sigterm(*instances)
        self.start_instances(*instances)

    def close(self) -> None:
        """Stops the balancer, every instance and Redis, whatever state they are in; a process
        that would not stop is reported after the others are stopped."""
        processes: list[_Process] = [self.balancer, *self.instances]
        if self.redis is not None:
            processes.append(self.redis)
        errors = []
        for process in processes:
            try:
                process.signal(signal.SIGTERM if process is self.balancer else signal.SIGKILL)
            except HarnessError as error:
                errors.append(str(error))
        if errors:
            raise HarnessError("\n".join(errors))

    def log_sections(self) -> list[tuple[str, str]]:
        """(title, log tail) of every process, for a failed test's report."""
        processes: list[_Process] = [*self.instances, self.balancer]
        if self.redis is not None:
            processes.append(self.redis)
        return [(f"{p.name} log ({p.log})", _tail(p.log)) for p in processes]
