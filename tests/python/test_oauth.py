"""OAuth interop tests: the official Python MCP SDK's `OAuthClientProvider` against
`outpost serve --demo` WITH its embedded authorization server.

The provider runs the whole dance itself (401 → protected resource metadata → authorization
server metadata → dynamic client registration → authorization code + PKCE → token); the
"browser" is the stdlib robot `login-driver.py` and the redirect URI a tiny loopback HTTP
listener (both in oauth_flow.py).

Every async test runs under `anyio.fail_after`, and every subprocess has a timeout.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Iterator

import anyio
import httpx2
import pytest
from conftest import start_outpost
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from oauth_flow import (
    MODERN,
    PASSWORD,
    USER,
    CallbackListener,
    assert_whoami,
    authorized_storage,
    make_provider,
    post_form,
    probe_mcp,
    whoami_over_sse,
    whoami_session,
)
from processes import stop

pytestmark = pytest.mark.anyio

TEST_TIMEOUT = 30.0
"""Upper bound on any one test (seconds)."""
REVOCATION_DEADLINE = 12.0
"""The resource server caches revocation checks for at most 5 s; this leaves ample slack."""

# --------------------------------------------------------------------------------------------
# The server with auth (the redirect-URI listener `callback` is in conftest)


@pytest.fixture(scope="module")
def auth_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a running `outpost serve --demo` with its authorization server (sqlite store)."""
    work = tmp_path_factory.mktemp("outpost-auth")
    store = f"sqlite://{work}/o-{{attempt}}.db"
    proc, base_url = start_outpost(["--demo", "--store", store], work)
    try:
        yield base_url
    finally:
        stop(proc)


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


async def test_full_flow_http_sse(auth_url: str, callback: CallbackListener) -> None:
    """The same flow for the 2024-11-05 HTTP+SSE transport: the SDK checks that the metadata the
    401 at `/sse` names is for `/sse` (RFC 9728 §3.3), then names it as its resource."""
    with anyio.fail_after(TEST_TIMEOUT):
        # The right password only: each wrong one counts against alice's lockout budget
        # (5 per source in 15 minutes), which this module's other flows spend.
        provider, storage, browser = make_provider(auth_url, callback, passwords=(PASSWORD,), endpoint="/sse")
        assert_whoami(await whoami_over_sse(auth_url, auth=provider))
        assert [attempt.returncode for attempt in browser.attempts] == [0]
        assert storage.tokens is not None and storage.tokens.scope == "mcp"
        authorize = urllib.parse.parse_qs(urllib.parse.urlsplit(browser.authorize_urls[0]).query)
        assert authorize["resource"] == [f"{auth_url}/sse"]


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
