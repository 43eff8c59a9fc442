"""Split roles from one binary: `outpost serve --role auth` (the authorization server alone)
and `outpost serve --role mcp --issuer AUTH_URL` (the MCP endpoint alone), as two processes.

The official Python SDK's `OAuthClientProvider` runs the whole flow against the MCP role: its
401 names the MCP role's protected resource metadata, which names the auth role; discovery,
registration, login (the robot browser) and the token all happen at the auth role, and the
MCP role accepts the token. Revocation at the auth role (RFC 7009 `/revoke`) is refused at
the MCP role within seconds, both ways the MCP role can learn of it:

- **shared store**: the MCP role is given the auth role's SQLite store and checks each JWT's
  grant (`gid`) there;
- **introspection**: the MCP role has no store of the auth role's; it introspects every token
  (the auth role's JWTs, RFC 7662) as a pre-registered client marked `"resource_server": true`.

Every async test runs under `anyio.fail_after`, and every subprocess has a timeout.
"""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import anyio
import httpx2
import pytest
from conftest import _wait_healthy
from oauth_flow import (
    PASSWORD,
    USER,
    CallbackListener,
    MemoryStorage,
    make_provider,
    post_form,
    probe_mcp,
    whoami_session,
)
from processes import free_ports, outpost_bin, stop

pytestmark = pytest.mark.anyio

TEST_TIMEOUT = 40.0
"""Upper bound on any one test (seconds)."""
REVOCATION_DEADLINE = 12.0
"""Both ways cache a revocation answer for at most 5 s; this leaves ample slack."""
RESOURCE_SERVER_ID = "mcp-role"
RESOURCE_SERVER_SECRET = "a-long-random-secret-of-the-mcp-role"


@dataclass
class SplitRoles:
    """The two processes' base URLs."""

    auth_url: str
    mcp_url: str


def start_on(port: int, serve_args: list[str], log_path: Path) -> subprocess.Popen[bytes]:
    """`outpost serve SERVE_ARGS --bind 127.0.0.1:PORT`, once /health answers."""
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [str(outpost_bin()), "serve", *serve_args, "--bind", f"127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        healthy = _wait_healthy(proc, f"http://127.0.0.1:{port}")
    except BaseException:
        stop(proc)
        raise
    if not healthy:
        tail = log_path.read_text(errors="replace")[-4000:]
        pytest.fail(f"outpost {' '.join(serve_args)} exited before becoming healthy:\n{tail}")
    return proc


def resource_server_clients_file(work: Path) -> Path:
    """A clients file with the MCP role as a confidential client marked as a resource server."""
    hashed = subprocess.run(
        [str(outpost_bin()), "clients", "hash-secret"],
        input=f"{RESOURCE_SERVER_SECRET}\n",
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout.strip()
    path = work / "clients.json"
    clients = {
        "clients": [
            {
                "client_id": RESOURCE_SERVER_ID,
                "client_name": "The MCP role",
                "resource_server": True,
                "redirect_uris": ["https://mcp-role.invalid/unused"],
                "client_secret_hash": hashed,
            }
        ]
    }
    path.write_text(json.dumps(clients))
    return path


def split_roles(work: Path, mcp_args: Callable[[str], list[str]], share_store: bool) -> Iterator[SplitRoles]:
    """The auth role (demo users, its SQLite store, the resource-server client) and an MCP role
    trusting it with `mcp_args(auth_url)`, given the auth role's store when `share_store`."""
    auth_port, mcp_port = free_ports(2)
    auth_url, mcp_url = f"http://127.0.0.1:{auth_port}", f"http://127.0.0.1:{mcp_port}"
    store = f"sqlite://{work}/auth.db"
    auth = start_on(
        auth_port,
        ["--role", "auth", "--demo", "--store", store, "--resource", f"{mcp_url}/mcp",
         "--clients", str(resource_server_clients_file(work))],
        work / "auth.log",
    )
    try:
        shared = ["--store", store] if share_store else []
        mcp = start_on(
            mcp_port, ["--role", "mcp", "--issuer", auth_url, *shared, *mcp_args(auth_url)], work / "mcp.log"
        )
        try:
            yield SplitRoles(auth_url, mcp_url)
        finally:
            stop(mcp)
    finally:
        stop(auth)


@pytest.fixture(scope="module")
def store_roles(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitRoles]:
    """The MCP role on the auth role's store: revocation through the store."""
    yield from split_roles(tmp_path_factory.mktemp("roles-store"), lambda _: [], share_store=True)


@pytest.fixture(scope="module")
def introspecting(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SplitRoles]:
    """The MCP role without the auth role's store, introspecting every token at the auth role
    as its resource-server client: revocation through introspection."""
    yield from split_roles(
        tmp_path_factory.mktemp("roles-introspection"),
        lambda auth_url: [
            "--introspection-endpoint", f"{auth_url}/introspect",
            "--introspection-client-id", RESOURCE_SERVER_ID,
            "--introspection-client-secret", RESOURCE_SERVER_SECRET,
        ],
        share_store=False,
    )


async def signed_in(roles: SplitRoles, listener: CallbackListener) -> MemoryStorage:
    """The SDK's full flow against the MCP role; asserts it went through the auth role."""
    provider, storage, browser = make_provider(roles.mcp_url, listener, passwords=(PASSWORD,))
    async with httpx2.AsyncClient(auth=provider, timeout=20) as http:
        whoami = await whoami_session(roles.mcp_url, http)
    assert whoami is not None and whoami.get("username") == USER, whoami
    assert len(browser.authorize_urls) == 1, browser.authorize_urls
    assert browser.authorize_urls[0].startswith(f"{roles.auth_url}/authorize?"), browser.authorize_urls
    (attempt,) = browser.attempts
    assert attempt.returncode == 0, attempt.output
    assert attempt.callback is not None and attempt.callback.get("iss") == roles.auth_url, attempt.callback
    assert storage.tokens is not None and storage.tokens.refresh_token and storage.client_info is not None
    return storage


async def assert_revocation_reaches_the_mcp_role(roles: SplitRoles, storage: MemoryStorage) -> None:
    """`/revoke` at the auth role, then the MCP role refuses the access token within seconds."""
    assert storage.tokens is not None and storage.tokens.refresh_token and storage.client_info is not None
    access = storage.tokens.access_token
    assert (await probe_mcp(roles.mcp_url, access)).status_code == 200
    revoked = await post_form(
        f"{roles.auth_url}/revoke",
        {
            "token": storage.tokens.refresh_token,
            "token_type_hint": "refresh_token",
            "client_id": storage.client_info.client_id,
        },
    )
    assert revoked.status_code == 200, revoked.text
    started = time.monotonic()
    while (response := await probe_mcp(roles.mcp_url, access)).status_code == 200:
        assert time.monotonic() - started < REVOCATION_DEADLINE, "the revoked token still works at the MCP role"
        await anyio.sleep(0.25)
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers.get("www-authenticate", ""), response.headers


async def test_the_sdk_signs_in_at_the_auth_role_and_calls_the_mcp_role(
    store_roles: SplitRoles, callback: CallbackListener
) -> None:
    """401 → the MCP role's metadata → the auth role → login → token → tools at the MCP role."""
    with anyio.fail_after(TEST_TIMEOUT):
        async with httpx2.AsyncClient(timeout=10) as http:
            prm = (await http.get(f"{store_roles.mcp_url}/.well-known/oauth-protected-resource/mcp")).json()
            assert prm["resource"] == f"{store_roles.mcp_url}/mcp", prm
            assert prm["authorization_servers"] == [store_roles.auth_url], prm
            # The auth role serves no MCP and no resource metadata of its own.
            assert (await http.post(f"{store_roles.auth_url}/mcp", json={})).status_code == 404
            assert (
                await http.get(f"{store_roles.auth_url}/.well-known/oauth-protected-resource/mcp")
            ).status_code == 404
            metadata = (await http.get(f"{store_roles.auth_url}/.well-known/oauth-authorization-server")).json()
            assert metadata["issuer"] == store_roles.auth_url, metadata
        await signed_in(store_roles, callback)


async def test_revocation_reaches_the_mcp_role_through_the_shared_store(
    store_roles: SplitRoles, callback: CallbackListener
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        storage = await signed_in(store_roles, callback)
        await assert_revocation_reaches_the_mcp_role(store_roles, storage)


async def test_revocation_reaches_the_mcp_role_through_introspection(
    introspecting: SplitRoles, callback: CallbackListener
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        storage = await signed_in(introspecting, callback)
        await assert_revocation_reaches_the_mcp_role(introspecting, storage)
