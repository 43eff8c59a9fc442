"""The OAuth client side of the Python SDK tests, shared by the test modules: the SDK's
`OAuthClientProvider` with in-memory storage, a robot browser (the stdlib `login-driver.py`,
path from `OUTPOST_LOGIN_DRIVER`, default tests/tools/login-driver.py in the repository)
and the redirect-URI listener that records the authorization responses it receives, plus bare
HTTP probes of /mcp and the OAuth form endpoints."""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
from mcp import ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

DRIVER_TIMEOUT = 15.0
"""Upper bound on one run of the login robot (seconds)."""

SESSION_ERA = "2025-11-25"
MODERN = "2026-07-28"
USER, PASSWORD, WRONG_PASSWORD = "alice", "password123", "not-alices-password"
LOGIN_DRIVER = Path(
    os.environ.get(
        "OUTPOST_LOGIN_DRIVER",
        Path(__file__).resolve().parents[2] / "tests" / "tools" / "login-driver.py",
    )
)



class CallbackListener:
    """The client's redirect URI: records the query of every request it receives."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._received: list[dict[str, str]] = []
        listener = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(self.path).query)
                with listener._lock:
                    listener._received.append({k: v[0] for k, v in query.items()})
                body = b"You may close this window."
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass

        self._server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.redirect_uri = f"http://127.0.0.1:{self._server.server_address[1]}/callback"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()

    def for_state(self, state: str) -> dict[str, str] | None:
        with self._lock:
            return next((q for q in self._received if q.get("state") == state), None)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)



class MemoryStorage:
    """The SDK's `TokenStorage` protocol, in memory."""

    def __init__(self) -> None:
        self.tokens: OAuthToken | None = None
        self.client_info: OAuthClientInformationFull | None = None
        self.token_history: list[OAuthToken] = []

    async def get_tokens(self) -> OAuthToken | None:
        return self.tokens

    async def set_tokens(self, tokens: OAuthToken) -> None:
        self.tokens = tokens
        self.token_history.append(tokens)

    async def get_client_info(self) -> OAuthClientInformationFull | None:
        return self.client_info

    async def set_client_info(self, client_info: OAuthClientInformationFull) -> None:
        self.client_info = client_info


def run_login_driver(url: str, password: str, user: str = USER) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LOGIN_DRIVER), url, user, password],
        capture_output=True,
        text=True,
        timeout=DRIVER_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )


@dataclass
class Attempt:
    password: str
    returncode: int
    output: str
    callback: dict[str, str] | None


@dataclass
class RobotBrowser:
    """Redirect + callback handlers: log in with each of `passwords` in turn (by default the
    wrong password first, then the right one).

    Nothing is asserted inside the handlers (an exception there surfaces wrapped by the HTTP
    stack); the attempts are recorded and the tests assert on them afterwards.
    """

    listener: CallbackListener
    passwords: tuple[str, ...] = (WRONG_PASSWORD, PASSWORD)
    user: str = USER
    authorize_urls: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    _state: str | None = None

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorize_urls.append(authorization_url)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(authorization_url).query)
        self._state = query["state"][0]
        for password in self.passwords:
            done = await anyio.to_thread.run_sync(run_login_driver, authorization_url, password, self.user)
            self.attempts.append(
                Attempt(password, done.returncode, done.stdout + done.stderr, self.listener.for_state(self._state))
            )

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self._state is not None
        received = self.listener.for_state(self._state) or {}
        # RFC 9207: the server advertises authorization_response_iss_parameter_supported, so the
        # SDK requires the iss of the authorization response to be passed through.
        return AuthorizationCodeResult(code=received.get("code"), state=received.get("state"), iss=received.get("iss"))

    def assert_wrong_then_right(self, base_url: str) -> None:
        assert len(self.authorize_urls) == 1, self.authorize_urls
        assert [a.password for a in self.attempts] == list(self.passwords)
        assert len(self.attempts) == 2, self.attempts
        wrong, right = self.attempts
        assert wrong.returncode != 0, f"login with the wrong password succeeded: {wrong.output}"
        assert "401" in wrong.output, wrong.output
        assert wrong.callback is None, f"a code was issued for the wrong password: {wrong.callback}"
        assert right.returncode == 0, right.output
        assert right.output.strip().startswith(self.listener.redirect_uri + "?"), right.output
        assert right.callback is not None and right.callback.get("code"), right.callback
        assert right.callback.get("iss") == base_url, right.callback


def make_provider(
    base_url: str,
    listener: CallbackListener,
    passwords: tuple[str, ...] = (WRONG_PASSWORD, PASSWORD),
    user: str = USER,
    endpoint: str = "/mcp",
) -> tuple[OAuthClientProvider, MemoryStorage, RobotBrowser]:
    """The SDK's provider for the MCP endpoint at `endpoint` (`/sse`: the 2024-11-05 transport)."""
    storage = MemoryStorage()
    browser = RobotBrowser(listener, passwords, user)
    metadata = OAuthClientMetadata(
        redirect_uris=[listener.redirect_uri],
        client_name="outpost python interop",
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    provider = OAuthClientProvider(
        f"{base_url}{endpoint}", metadata, storage, browser.redirect_handler, browser.callback_handler
    )
    return provider, storage, browser


def assert_whoami(structured: dict[str, Any] | None) -> None:
    assert structured is not None
    assert structured.get("username") == USER, structured
    assert structured.get("scopes") == ["mcp"], structured


async def whoami_session(base_url: str, http: httpx2.AsyncClient) -> dict[str, Any] | None:
    """A 2025-11-25 session over `http`; returns whoami's structured content."""
    async with streamable_http_client(f"{base_url}/mcp", http_client=http) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            assert init.protocol_version == SESSION_ERA
            result = await session.call_tool("whoami", {})
            assert not result.is_error, result.content
            return result.structured_content


async def whoami_over_sse(base_url: str, **transport: Any) -> dict[str, Any] | None:
    """A 2024-11-05 session at `/sse` (`transport`: `sse_client`'s `auth` or `headers`);
    returns whoami's structured content."""
    async with sse_client(f"{base_url}/sse", **transport) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool("whoami", {})
            assert not result.is_error, result.content
            return result.structured_content


async def authorized_storage(base_url: str, listener: CallbackListener) -> MemoryStorage:
    """Run the SDK's full flow once; return the storage holding client info and tokens."""
    provider, storage, browser = make_provider(base_url, listener)
    async with httpx2.AsyncClient(auth=provider, timeout=20) as http:
        assert_whoami(await whoami_session(base_url, http))
    browser.assert_wrong_then_right(base_url)
    assert storage.tokens is not None and storage.tokens.refresh_token
    assert storage.client_info is not None
    return storage


INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": SESSION_ERA,
        "capabilities": {},
        "clientInfo": {"name": "raw-probe", "version": "0"},
    },
}


async def probe_mcp(base_url: str, access_token: str | None) -> httpx2.Response:
    """One bare POST /mcp (initialize) with the given bearer token, or none."""
    headers = {"Accept": "application/json, text/event-stream", "Content-Type": "application/json"}
    if access_token is not None:
        headers["Authorization"] = f"Bearer {access_token}"
    async with httpx2.AsyncClient(timeout=10) as http:
        return await http.post(f"{base_url}/mcp", content=json.dumps(INITIALIZE), headers=headers)


async def post_form(url: str, form: dict[str, str]) -> httpx2.Response:
    async with httpx2.AsyncClient(timeout=10) as http:
        return await http.post(url, data=form)
