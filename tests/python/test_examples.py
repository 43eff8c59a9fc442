"""The library examples (examples/), built with `cargo build -p …` beside the binary under test,
against the official Python MCP SDK's OAuth client and the login robot.

- examples/authenticated, the minimal authenticated server: the SDK's whole flow (discovery,
  dynamic registration, a wrong then the right password of a demo user, consent, PKCE, token)
  and a tool call that sees the signed-in user.
- examples/custom-users, users in the example's own table (a `UserDirectory`): carol, who
  exists only there, signs in; a wrong password is refused; her tool sees her id.
- examples/authenticated on Redis (`OUTPOST_STORE=redis://…`, a `redis-server` started here):
  the same flow, with the users, client, grant and keys in Redis.
"""

from __future__ import annotations

from collections.abc import Iterator

import anyio
import httpx2
import pytest
from cluster import Redis
from conftest import start_example
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client
from oauth_flow import CallbackListener, make_provider
from processes import free_port, stop

pytestmark = pytest.mark.anyio

TEST_TIMEOUT = 30.0
"""Upper bound on any one test (seconds)."""

CAROL, CAROL_PASSWORD = "carol", "correct horse battery staple"
CAROL_ID = "3f8e5a52-6a3c-4c1e-9a4b-6d2f0c7e1b11"


@pytest.fixture(scope="module")
def minimal_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("example-authenticated")
    proc, base_url = start_example("outpost-example-authenticated", f"sqlite://{work}/o-{{attempt}}.db", work)
    try:
        yield base_url
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def redis_example(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Redis]]:
    """examples/authenticated with its store in a fresh redis-server; its URL and the Redis."""
    work = tmp_path_factory.mktemp("example-redis")
    redis = Redis(work, free_port())
    redis.start()
    try:
        store = f"redis://:{redis.password}@127.0.0.1:{redis.port}"
        proc, base_url = start_example("outpost-example-authenticated", store, work)
        try:
            yield base_url, redis
        finally:
            stop(proc)
    finally:
        redis.stop()


@pytest.fixture(scope="module")
def custom_users_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    work = tmp_path_factory.mktemp("example-custom-users")
    proc, base_url = start_example("outpost-example-custom-users", "memory://", work)
    try:
        yield base_url
    finally:
        stop(proc)


async def call_tool_text(base_url: str, http: httpx2.AsyncClient, tool: str) -> str:
    """Calls `tool` in a session over `http` (which signs in on the first 401); its text."""
    async with streamable_http_client(f"{base_url}/mcp", http_client=http) as (read, write):
        async with ClientSession(read, write) as session:
            await session.initialize()
            result = await session.call_tool(tool, {})
            assert not result.is_error, result.content
            return result.content[0].text


async def test_minimal_example_passes_the_sdk_oauth_flow(minimal_url: str, callback: CallbackListener) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        provider, storage, browser = make_provider(minimal_url, callback)
        async with httpx2.AsyncClient(auth=provider, timeout=20) as http:
            assert await call_tool_text(minimal_url, http, "whoami") == "alice (mcp)"
        browser.assert_wrong_then_right(minimal_url)
        assert storage.tokens is not None and storage.tokens.scope == "mcp"


async def test_minimal_example_runs_on_redis(
    redis_example: tuple[str, Redis], callback: CallbackListener
) -> None:
    base_url, redis = redis_example
    with anyio.fail_after(TEST_TIMEOUT):
        provider, storage, browser = make_provider(base_url, callback)
        async with httpx2.AsyncClient(auth=provider, timeout=20) as http:
            assert await call_tool_text(base_url, http, "whoami") == "alice (mcp)"
        browser.assert_wrong_then_right(base_url)
    keys = redis.command("DBSIZE")
    assert isinstance(keys, int) and keys > 0, "the example's store is the Redis"


async def test_custom_users_example_signs_in_a_user_of_its_own_table(
    custom_users_url: str, callback: CallbackListener
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        passwords = ("not-carols-password", CAROL_PASSWORD)
        provider, _, browser = make_provider(custom_users_url, callback, passwords, user=CAROL)
        async with httpx2.AsyncClient(auth=provider, timeout=20) as http:
            who = await call_tool_text(custom_users_url, http, "whoami")
        assert who == f"{CAROL} ({CAROL_ID}), scopes: mcp", who
        browser.assert_wrong_then_right(custom_users_url)
        wrong = browser.attempts[0]
        assert "Wrong username or password" in wrong.output or "401" in wrong.output, wrong.output


async def test_custom_users_example_grants_the_scopes_its_table_allows(
    custom_users_url: str, callback: CallbackListener
) -> None:
    """monthly_report requires `reports`, which carol's row allows: the SDK steps up, and the
    call goes through with the scope granted."""
    with anyio.fail_after(TEST_TIMEOUT):
        provider, storage, browser = make_provider(custom_users_url, callback, (CAROL_PASSWORD,), user=CAROL)
        async with httpx2.AsyncClient(auth=provider, timeout=20) as http:
            report = await call_tool_text(custom_users_url, http, "monthly_report")
        assert report == f"Report for {CAROL}: 42 widgets sold."
        assert len(browser.authorize_urls) == 2, "a first authorization for mcp, then a step-up"
        assert storage.tokens is not None and set((storage.tokens.scope or "").split()) == {"mcp", "reports"}
