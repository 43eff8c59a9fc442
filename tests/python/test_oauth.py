"""OAuth interop tests: the official Python MCP SDK's `OAuthClientProvider` against
`outpost serve --demo` WITH its embedded authorization server.

The provider runs the whole dance itself (401 → protected resource metadata → authorization
server metadata → dynamic client registration → authorization code + PKCE → token); the
"browser" is the stdlib robot `login-driver.py` (path from `OUTPOST_LOGIN_DRIVER`, default
the shared/ folder beside the repository: ../shared/tools/login-driver.py), and the redirect URI is a tiny loopback HTTP listener that
records the authorization responses it receives.

Every async test runs under `anyio.fail_after`, and every subprocess has a timeout.
"""

from __future__ import annotations

import http.server
import json
import os
import subprocess
import sys
import threading
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from conftest import _stop, start_outpost
from mcp import Client, ClientSession
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.auth import OAuthClientInformationFull, OAuthClientMetadata, OAuthToken

pytestmark = pytest.mark.anyio

TEST_TIMEOUT = 30.0
"""Upper bound on any one test (seconds)."""
DRIVER_TIMEOUT = 15.0
"""Upper bound on one run of the login robot (seconds)."""
REVOCATION_DEADLINE = 12.0
"""The resource server caches revocation checks for at most 5 s; this leaves ample slack."""
START_ATTEMPTS = 3

SESSION_ERA = "2025-11-25"
MODERN = "2026-07-28"
USER, PASSWORD, WRONG_PASSWORD = "alice", "password123", "not-alices-password"
LOGIN_DRIVER = Path(
    os.environ.get(
        "OUTPOST_LOGIN_DRIVER",
        Path(__file__).resolve().parents[2].parent / "shared" / "tools" / "login-driver.py",
    )
)


# --------------------------------------------------------------------------------------------
# Fixtures: the server with auth, and the redirect-URI listener


@pytest.fixture(scope="module")
def auth_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a running `outpost serve --demo` with its authorization server (sqlite store)."""
    work = tmp_path_factory.mktemp("outpost-auth")
    store = f"sqlite://{work}/o-{{attempt}}.db"
    proc, base_url = start_outpost(["--demo", "--store", store], work)
    try:
        yield base_url
    finally:
        _stop(proc)


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


@pytest.fixture(scope="module")
def callback() -> Iterator[CallbackListener]:
    if not LOGIN_DRIVER.is_file():
        pytest.fail(f"login robot not found: {LOGIN_DRIVER} (set OUTPOST_LOGIN_DRIVER)")
    listener = CallbackListener()
    try:
        yield listener
    finally:
        listener.close()


# --------------------------------------------------------------------------------------------
# The SDK's provider, with in-memory storage and a robot browser


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


def run_login_driver(url: str, password: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(LOGIN_DRIVER), url, USER, password],
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
    authorize_urls: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)
    _state: str | None = None

    async def redirect_handler(self, authorization_url: str) -> None:
        self.authorize_urls.append(authorization_url)
        query = urllib.parse.parse_qs(urllib.parse.urlsplit(authorization_url).query)
        self._state = query["state"][0]
        for password in self.passwords:
            done = await anyio.to_thread.run_sync(run_login_driver, authorization_url, password)
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
        assert [a.password for a in self.attempts] == [WRONG_PASSWORD, PASSWORD]
        wrong, right = self.attempts
        assert wrong.returncode != 0, f"login with the wrong password succeeded: {wrong.output}"
        assert "401" in wrong.output, wrong.output
        assert wrong.callback is None, f"a code was issued for the wrong password: {wrong.callback}"
        assert right.returncode == 0, right.output
        assert right.output.strip().startswith(self.listener.redirect_uri + "?"), right.output
        assert right.callback is not None and right.callback.get("code"), right.callback
        assert right.callback.get("iss") == base_url, right.callback


def make_provider(
    base_url: str, listener: CallbackListener, passwords: tuple[str, ...] = (WRONG_PASSWORD, PASSWORD)
) -> tuple[OAuthClientProvider, MemoryStorage, RobotBrowser]:
    storage = MemoryStorage()
    browser = RobotBrowser(listener, passwords)
    metadata = OAuthClientMetadata(
        redirect_uris=[listener.redirect_uri],
        client_name="outpost python interop",
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    provider = OAuthClientProvider(
        f"{base_url}/mcp", metadata, storage, browser.redirect_handler, browser.callback_handler
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


# --------------------------------------------------------------------------------------------
# Tests


async def test_full_flow_session_era(auth_url: str, callback: CallbackListener) -> None:
    """Discovery → DCR → wrong then right password → consent → token → whoami, 2025-11-25 session."""
    with anyio.fail_after(TEST_TIMEOUT):
        storage = await authorized_storage(auth_url, callback)
        assert storage.tokens is not None
        assert storage.tokens.token_type.lower() == "bearer"
        assert storage.tokens.scope == "mcp"


async def test_full_flow_modern_stateless(auth_url: str, callback: CallbackListener) -> None:
    """The same flow for a stateless 2026-07-28 `mcp.Client`, given an authenticated transport."""
    with anyio.fail_after(TEST_TIMEOUT):
        provider, storage, browser = make_provider(auth_url, callback)
        async with httpx2.AsyncClient(auth=provider, timeout=20) as http:
            transport = streamable_http_client(f"{auth_url}/mcp", http_client=http)
            async with Client(transport, mode=MODERN) as client:
                assert client.protocol_version == MODERN
                result = await client.call_tool("whoami", {})
                assert not result.is_error, result.content
                assert_whoami(result.structured_content)
        browser.assert_wrong_then_right(auth_url)
        assert storage.tokens is not None and storage.tokens.scope == "mcp"


async def test_step_up_for_a_tool_that_needs_more_scope(auth_url: str, callback: CallbackListener) -> None:
    """`serverStatus` declares the mcp:admin scope: the first call answers 403 insufficient_scope,
    the SDK authorizes again for mcp + mcp:admin, and its retried call succeeds."""
    with anyio.fail_after(TEST_TIMEOUT):
        # Right password only: the wrong-password attempts of the other tests stay under the
        # per-account lockout.
        provider, storage, browser = make_provider(auth_url, callback, passwords=(PASSWORD,))
        async with httpx2.AsyncClient(auth=provider, timeout=20) as http:
            transport = streamable_http_client(f"{auth_url}/mcp", http_client=http)
            async with Client(transport, mode=MODERN) as client:
                before = await client.call_tool("whoami", {})
                assert_whoami(before.structured_content)
                status = await client.call_tool("serverStatus", {})
                assert not status.is_error, status.content
                assert status.structured_content is not None
                assert status.structured_content.get("caller") == USER, status.structured_content
                after = await client.call_tool("whoami", {})
                assert after.structured_content is not None
                assert after.structured_content.get("scopes") == ["mcp", "mcp:admin"], after.structured_content
        assert len(browser.authorize_urls) == 2, browser.authorize_urls
        first, step_up = (
            set(urllib.parse.parse_qs(urllib.parse.urlsplit(url).query)["scope"][0].split())
            for url in browser.authorize_urls
        )
        assert first == {"mcp"}, "the first authorization asks for the 401's scope only"
        assert step_up == {"mcp", "mcp:admin"}
        assert storage.tokens is not None and set((storage.tokens.scope or "").split()) == step_up


async def test_refresh_rotates_and_old_refresh_token_fails(auth_url: str, callback: CallbackListener) -> None:
    """The provider refreshes an expired token by itself; the new one works, the old refresh token is dead."""
    with anyio.fail_after(TEST_TIMEOUT):
        provider, storage, browser = make_provider(auth_url, callback)
        async with httpx2.AsyncClient(auth=provider, timeout=20) as http:
            assert_whoami(await whoami_session(auth_url, http))
            browser.assert_wrong_then_right(auth_url)
            first = storage.tokens
            assert first is not None and first.refresh_token
            # Mark the access token expired: the provider's next request refreshes first.
            provider.context.token_expiry_time = time.time() - 1
            assert_whoami(await whoami_session(auth_url, http))
        # No second login: the refresh grant renewed the tokens.
        assert len(browser.authorize_urls) == 1
        second = storage.tokens
        assert second is not None and second is not first
        assert second.access_token != first.access_token
        assert second.refresh_token and second.refresh_token != first.refresh_token, "refresh token not rotated"

        assert (await probe_mcp(auth_url, second.access_token)).status_code == 200

        assert storage.client_info is not None
        stale = await post_form(
            f"{auth_url}/token",
            {
                "grant_type": "refresh_token",
                "refresh_token": first.refresh_token,
                "client_id": storage.client_info.client_id,
            },
        )
        assert stale.status_code == 400, stale.text
        assert stale.json().get("error") == "invalid_grant", stale.text


async def test_revoked_refresh_token_cuts_access(auth_url: str, callback: CallbackListener) -> None:
    """Revoking the refresh token (public client) makes the access token fail within the cache window."""
    with anyio.fail_after(TEST_TIMEOUT):
        storage = await authorized_storage(auth_url, callback)
        assert storage.tokens is not None and storage.tokens.refresh_token and storage.client_info is not None
        access = storage.tokens.access_token
        assert (await probe_mcp(auth_url, access)).status_code == 200

        revoked = await post_form(
            f"{auth_url}/revoke",
            {
                "token": storage.tokens.refresh_token,
                "token_type_hint": "refresh_token",
                "client_id": storage.client_info.client_id,
            },
        )
        assert revoked.status_code == 200, revoked.text

        started = time.monotonic()
        status = None
        while time.monotonic() - started < REVOCATION_DEADLINE:
            status = (await probe_mcp(auth_url, access)).status_code
            if status == 401:
                break
            await anyio.sleep(0.25)
        assert status == 401, f"access token still accepted {REVOCATION_DEADLINE}s after revocation"

        reuse = await post_form(
            f"{auth_url}/token",
            {
                "grant_type": "refresh_token",
                "refresh_token": storage.tokens.refresh_token,
                "client_id": storage.client_info.client_id,
            },
        )
        assert reuse.status_code == 400 and reuse.json().get("error") == "invalid_grant", reuse.text


async def test_no_token_is_401_with_resource_metadata(auth_url: str) -> None:
    """Without a token /mcp answers 401 pointing at its protected resource metadata."""
    with anyio.fail_after(TEST_TIMEOUT):
        response = await probe_mcp(auth_url, None)
        assert response.status_code == 401
        challenge = response.headers.get("www-authenticate", "")
        assert challenge.lower().startswith("bearer"), challenge
        assert "resource_metadata=" in challenge, challenge
        metadata_url = challenge.split('resource_metadata="', 1)[1].split('"', 1)[0]
        assert metadata_url.startswith(auth_url + "/.well-known/oauth-protected-resource"), metadata_url
        async with httpx2.AsyncClient(timeout=10) as http:
            prm = await http.get(metadata_url)
        assert prm.status_code == 200, prm.text
        body = prm.json()
        assert body["resource"] == f"{auth_url}/mcp", body
        assert auth_url in [s.rstrip("/") for s in body["authorization_servers"]], body
