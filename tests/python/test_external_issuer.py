"""Outpost as a resource server only (`outpost serve --issuer`), against a real OpenID provider
(panva's oidc-provider, tests/oidc-provider): the Python SDK calls tools with the provider's JWT
access tokens on a 2025-11-25 session and a stateless 2026-07-28 client; tokens for another
audience, expired, forged and unsigned ones get 401; the provider rotates its keys mid-run and
Outpost follows without a restart; and opaque tokens through RFC 7662 introspection, revocation
honoured within seconds."""

from __future__ import annotations

import base64
import http.server
import json
import subprocess
import threading
import time
from collections.abc import Iterator
from typing import Any

import anyio
import httpx2
import pytest
from conftest import start_outpost
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from oauth_flow import INITIALIZE, MODERN, probe_mcp, whoami_over_sse, whoami_session
from oidc_provider import (
    INTROSPECTOR,
    SHORT_LIVED_CLIENT,
    access_token,
    issue_opaque_tokens_for,
    revoke,
    rotate_keys,
    running_provider,
)
from processes import REPO_ROOT, free_port, outpost_bin, stop

pytestmark = pytest.mark.anyio

TEST_TIMEOUT = 60
# Outpost refreshes the issuer's keys every 30 s; a dropped key must stop verifying within a minute.
DROPPED_KEY_DEADLINE_SECONDS = 65
# Introspection answers are reused for 5 s.
REVOCATION_DEADLINE_SECONDS = 10


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_provider(tmp_path_factory.mktemp("oidc-provider")) as url:
        yield url


@pytest.fixture(scope="module")
def jwt_server(issuer: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`outpost serve --issuer` verifying the provider's JWTs (1 s clock leeway, so that the
    expiry test is short)."""
    proc, base_url = start_outpost(
        ["--issuer", issuer, "--require-at-jwt", "--clock-leeway", "1s", "--store", "memory://"],
        tmp_path_factory.mktemp("outpost-jwt"),
    )
    try:
        yield base_url
    finally:
        stop(proc)


def assert_provider_user(whoami: dict[str, Any] | None) -> None:
    assert whoami is not None
    assert whoami["subject"] == "sub-alice", whoami
    assert whoami["username"] == "alice", whoami
    assert whoami["client_id"] == "mcp-test", whoami
    assert whoami["scopes"] == ["mcp"], whoami


def bearer(token: str) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=20)


async def assert_refused(base_url: str, token: str, because: str) -> None:
    response = await probe_mcp(base_url, token)
    assert response.status_code == 401, (response.status_code, response.text)
    challenge = response.headers["www-authenticate"]
    assert 'error="invalid_token"' in challenge, challenge
    assert because in response.json()["error_description"], response.json()


async def status_of(base_url: str, token: str) -> int:
    return (await probe_mcp(base_url, token)).status_code


async def test_the_metadata_names_the_provider(issuer: str, jwt_server: str) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        metadata = (await http.get(f"{jwt_server}/.well-known/oauth-protected-resource/mcp")).json()
        assert metadata["authorization_servers"] == [issuer]
        assert metadata["resource"] == f"{jwt_server}/mcp"
        # No embedded authorization server.
        assert (await http.get(f"{jwt_server}/.well-known/oauth-authorization-server")).status_code != 200


async def test_tools_see_the_providers_user_on_both_eras(issuer: str, jwt_server: str) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        token = access_token(issuer, f"{jwt_server}/mcp")
        async with bearer(token) as http:
            assert_provider_user(await whoami_session(jwt_server, http))
            async with Client(streamable_http_client(f"{jwt_server}/mcp", http_client=http), mode=MODERN) as client:
                assert client.protocol_version == MODERN
                result = await client.call_tool("whoami", {})
                assert not result.is_error, result.content
                assert_provider_user(result.structured_content)


async def test_a_token_for_the_sse_url_serves_the_2024_11_05_transport(issuer: str, jwt_server: str) -> None:
    """A client of `/sse` reads that URL's metadata and asks the provider for a token for it
    (RFC 8707); the provider binds the token to it (`aud`), and Outpost takes it as its own."""
    with anyio.fail_after(TEST_TIMEOUT):
        async with httpx2.AsyncClient(timeout=10) as http:
            metadata = (await http.get(f"{jwt_server}/.well-known/oauth-protected-resource/sse")).json()
        assert metadata["resource"] == f"{jwt_server}/sse"
        assert metadata["authorization_servers"] == [issuer]
        token = access_token(issuer, f"{jwt_server}/sse")
        headers = {"Authorization": f"Bearer {token}"}
        assert_provider_user(await whoami_over_sse(jwt_server, headers=headers))
        # The same token on /mcp: one resource, two URLs.
        assert await status_of(jwt_server, token) == 200


async def test_foreign_expired_forged_and_unsigned_tokens_are_refused(issuer: str, jwt_server: str) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        other = access_token(issuer, "https://other.example/mcp")
        await assert_refused(jwt_server, other, "not for this resource")

        short = access_token(issuer, f"{jwt_server}/mcp", client_id=SHORT_LIVED_CLIENT)
        assert await status_of(jwt_server, short) == 200
        time.sleep(4)  # lifetime 2 s, leeway 1 s
        await assert_refused(jwt_server, short, "expired")

        good = access_token(issuer, f"{jwt_server}/mcp")
        header, payload, signature = good.split(".")
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        claims["sub"] = "sub-admin"
        forged_payload = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
        await assert_refused(jwt_server, f"{header}.{forged_payload}.{signature}", "signature is invalid")
        unsigned_header = base64.urlsafe_b64encode(b'{"alg":"none","typ":"at+jwt"}').rstrip(b"=").decode()
        await assert_refused(jwt_server, f"{unsigned_header}.{payload}.", "algorithm")
        assert await status_of(jwt_server, good) == 200


async def test_key_rotation_is_followed_without_a_restart(issuer: str, jwt_server: str) -> None:
    with anyio.fail_after(DROPPED_KEY_DEADLINE_SECONDS + 30):
        old = access_token(issuer, f"{jwt_server}/mcp")
        assert await status_of(jwt_server, old) == 200
        rotate_keys(issuer)
        # The background refresh drops the old key within a minute.
        started = time.monotonic()
        while await status_of(jwt_server, old) == 200:
            assert time.monotonic() - started < DROPPED_KEY_DEADLINE_SECONDS, "the dropped key still verifies"
            await anyio.sleep(1)
        await assert_refused(jwt_server, old, "kid")
        # A token of the new key works (its kid is fetched on first sight, or already known).
        new = access_token(issuer, f"{jwt_server}/mcp")
        async with bearer(new) as http:
            assert_provider_user(await whoami_session(jwt_server, http))


def introspecting(issuer: str, secret: str, *more: str) -> list[str]:
    """`outpost serve` arguments: opaque tokens of `issuer`, introspected as the provider's
    introspecting client with `secret`, the store in memory, and `more`."""
    client_id, _ = INTROSPECTOR
    return [
        "--issuer", issuer,
        "--introspection-endpoint", f"{issuer}/token/introspection",
        "--introspection-client-id", client_id,
        "--introspection-client-secret", secret,
        "--store", "memory://",
        *more,
    ]  # fmt: skip


@pytest.fixture(scope="module")
def introspecting_server(issuer: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """`outpost serve --issuer --introspection-endpoint`: opaque tokens."""
    _, secret = INTROSPECTOR
    proc, base_url = start_outpost(
        introspecting(issuer, secret), tmp_path_factory.mktemp("outpost-introspection")
    )
    try:
        yield base_url
    finally:
        stop(proc)


async def test_opaque_tokens_are_introspected_and_revocation_is_honoured(
    issuer: str, introspecting_server: str
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        resource = f"{introspecting_server}/mcp"
        issue_opaque_tokens_for(issuer, resource)
        token = access_token(issuer, resource)
        assert token.count(".") != 2, "expected an opaque token"
        async with bearer(token) as http:
            assert_provider_user(await whoami_session(introspecting_server, http))
        issue_opaque_tokens_for(issuer, "https://other.example/opaque")
        foreign = access_token(issuer, "https://other.example/opaque")
        await assert_refused(introspecting_server, foreign, "not for this resource")
        # oidc-provider answers 400 unsupported_token_type for a JWT it did not issue as an
        # opaque token: the token is refused (401), the issuer is not down (503).
        await assert_refused(
            introspecting_server, "eyJhbGciOiJub25lIn0.e30.x", "refused the access token (unsupported_token_type)"
        )

        revoke(issuer, token)
        started = time.monotonic()
        while await status_of(introspecting_server, token) == 200:
            assert time.monotonic() - started < REVOCATION_DEADLINE_SECONDS, "the revoked token still works"
            await anyio.sleep(0.5)
        await assert_refused(introspecting_server, token, "not active")


async def test_an_introspection_endpoint_that_refuses_outpost_is_a_503_not_a_401(
    issuer: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Wrong introspection credentials are the server's trouble, not the caller's: 503, retry."""
    proc, base_url = start_outpost(
        introspecting(issuer, "wrong-secret"), tmp_path_factory.mktemp("outpost-bad-introspection")
    )
    try:
        with anyio.fail_after(TEST_TIMEOUT):
            resource = f"{base_url}/mcp"
            issue_opaque_tokens_for(issuer, resource)
            response = await probe_mcp(base_url, access_token(issuer, resource))
            assert response.status_code == 503, (response.status_code, response.text)
            assert response.headers["retry-after"] == "5"
            assert response.json()["error"]["data"]["reason"] == "issuer_unavailable"
    finally:
        stop(proc)


# Outpost's budget of refused introspections per source: 300 per 5 minutes.
REFUSALS_PER_SOURCE = 300
# The last refusals left in the budget, spent by one concurrent burst.
BURST_LEFT = 10


async def test_a_source_sending_unknown_tokens_gets_429_past_its_budget_and_others_are_served(
    issuer: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Random tokens must not make the issuer introspect without end: past 300 refused
    introspections a source's unknown tokens get 429 without a call, a concurrent burst having
    no more than the budget introspected; another source, and a token already known, are still
    served. Sources are told apart through a trusted proxy's X-Forwarded-For, as behind a load
    balancer."""
    _, secret = INTROSPECTOR
    proc, base_url = start_outpost(
        introspecting(issuer, secret, "--trusted-proxy", "127.0.0.1"),
        tmp_path_factory.mktemp("outpost-introspection-budget"),
    )
    attacker, neighbour = "203.0.113.7", "198.51.100.9"

    async def probe(token: str, source: str) -> httpx2.Response:
        headers = {
            "Accept": "application/json, text/event-stream",
            "Content-Type": "application/json",
            "Authorization": f"Bearer {token}",
            "X-Forwarded-For": source,
        }
        async with httpx2.AsyncClient(timeout=20) as http:
            return await http.post(f"{base_url}/mcp", content=json.dumps(INITIALIZE), headers=headers)

    try:
        with anyio.fail_after(TEST_TIMEOUT):
            resource = f"{base_url}/mcp"
            issue_opaque_tokens_for(issuer, resource)
            good = access_token(issuer, resource)
            answers: list[httpx2.Response] = []

            async def guess(n: int) -> None:
                answers.append(await probe(f"guessed-token-{n}-{time.monotonic_ns()}", attacker))

            # Random tokens, 20 at a time, until the budget is nearly spent: each is
            # introspected and refused (401).
            for first in range(0, REFUSALS_PER_SOURCE - BURST_LEFT, 20):
                async with anyio.create_task_group() as tasks:
                    for n in range(first, min(first + 20, REFUSALS_PER_SOURCE - BURST_LEFT)):
                        tasks.start_soon(guess, n)
            assert {answer.status_code for answer in answers} == {401}
            # Then a burst at once: only what is left of the budget is introspected.
            answers.clear()
            async with anyio.create_task_group() as tasks:
                for n in range(2 * BURST_LEFT):
                    tasks.start_soon(guess, REFUSALS_PER_SOURCE + n)
            statuses = sorted(answer.status_code for answer in answers)
            assert statuses.count(401) == BURST_LEFT, statuses
            assert statuses.count(429) == BURST_LEFT, statuses
            throttled = next(answer for answer in answers if answer.status_code == 429)
            assert int(throttled.headers["retry-after"]) >= 1, throttled.headers
            error = throttled.json()["error"]
            assert error["data"]["reason"] == "refused_tokens", error
            # Past the budget even a good token, not known yet, waits at that source...
            assert (await probe(good, attacker)).status_code == 429
            # ...while another source is served, and the token is then known everywhere.
            assert (await probe(good, neighbour)).status_code == 200
            assert (await probe(good, attacker)).status_code == 200
    finally:
        stop(proc)


def failed_start(args: list[str]) -> str:
    """Runs `outpost serve ARGS`, which must fail at once; returns its stderr."""
    result = subprocess.run(
        [str(outpost_bin()), "serve", "--bind", "127.0.0.1:0", "--store", "memory://", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=REPO_ROOT,
    )
    assert result.returncode != 0, result.stderr
    return result.stderr


def test_a_bad_issuer_stops_the_start_naming_the_setting_and_the_cause(issuer: str) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}"
    error = failed_start(["--issuer", unreachable])
    assert "--issuer" in error and "cannot reach it" in error, error

    # The issuer identifier is exact: a trailing slash names another issuer.
    error = failed_start(["--issuer", f"{issuer}/"])
    assert f'names the issuer "{issuer}", not "{issuer}/"' in error, error

    error = failed_start(["--issuer", "http://idp.example"])
    assert "must be an https URL" in error, error


def test_a_discovery_document_without_jwks_uri_stops_the_start() -> None:
    port = free_port()
    issuer = f"http://127.0.0.1:{port}"

    class Discovery(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            body = json.dumps({"issuer": issuer, "token_endpoint": f"{issuer}/token"}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Discovery)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        error = failed_start(["--issuer", issuer])
        assert "has no jwks_uri" in error and "--introspection-endpoint" in error, error
    finally:
        server.shutdown()
        server.server_close()
