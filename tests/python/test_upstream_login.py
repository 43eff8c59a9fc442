"""Upstream OpenID login (`outpost serve --upstream-oidc`), against a real OpenID provider
(panva's oidc-provider, tests/oidc-provider): the Python SDK's OAuth client signs in through
Outpost, whose /authorize sends the browser to the provider (login and consent interactions
played by a robot), back to Outpost's callback and consent page, then to the client; `whoami`
names the provider's user, and the same user twice is one subject; a response naming another
issuer (RFC 9207) or carrying another sign-in's code is refused; allowed domains refuse other
accounts — each refusal sent to the client's redirect URI as an OAuth error; the provider
down is `temporarily_unavailable` for the client, and once it is back sign-in works without a
restart; an unreachable provider at start is an error naming the setting. The same flow in
headless Chromium across two sites: tests/auth-browser/upstream-login.test.mjs."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
import subprocess
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from conftest import start_outpost
from mcp.client.auth import AuthorizationCodeResult, OAuthClientProvider
from mcp.shared.auth import OAuthClientMetadata
from oauth_flow import CallbackListener, MemoryStorage, whoami_session
from oidc_provider import register_client, running_provider
from processes import free_port, outpost_bin, stop

pytestmark = pytest.mark.anyio

TEST_TIMEOUT = 60
UPSTREAM_CLIENT = ("outpost-upstream", "outpost-upstream-secret")
HIDDEN_INPUT = re.compile(r'<input type="hidden" name="([^"]+)" value="([^"]*)">')
FORM_ACTION = re.compile(r'<form method="post" action="([^"]*)">')


@dataclass
class Journey:
    """Where the robot browser went, and what it saw last."""

    visited: list[str] = field(default_factory=list)
    status: int = 0
    text: str = ""
    headers: dict[str, str] = field(default_factory=dict)


def browse(authorize_url: str, login: str, tamper: Callable[[str], str] | None = None) -> Journey:
    """Plays the browser from `authorize_url`: follows redirects across both origins, signs in
    as `login` at the provider's login interaction (its consent is granted by the provider's
    test server), approves Outpost's consent page, and stops at the first other page (the
    client's redirect URI answers 200 text). `tamper` rewrites the provider's redirect to
    Outpost's callback (an attacker's changed response)."""
    journey = Journey()
    with httpx2.Client(timeout=10, follow_redirects=False) as http:
        url = authorize_url
        response = http.get(url)
        for _ in range(20):
            journey.visited.append(url)
            if response.status_code in (302, 303):
                url = urllib.parse.urljoin(url, response.headers["location"])
                if tamper is not None and "/oauth/upstream/callback?" in url:
                    url = tamper(url)
                response = http.get(url)
            elif response.status_code == 200 and response.text == "login":
                url = f"{url}/login"
                response = http.post(url, data={"login": login})
            elif response.status_code == 200 and 'name="decision"' in response.text:
                fields = {name: html.unescape(value) for name, value in HIDDEN_INPUT.findall(response.text)}
                action = FORM_ACTION.search(response.text)
                assert action is not None, response.text
                url = urllib.parse.urljoin(url, html.unescape(action.group(1)))
                response = http.post(url, data={**fields, "decision": "approve"})
            else:
                break
        journey.status = response.status_code
        journey.text = response.text
        journey.headers = dict(response.headers)
    return journey


@dataclass
class UpstreamRobot:
    """The SDK's redirect and callback handlers, signing in as `login` at the provider."""

    listener: CallbackListener
    login: str = "alice"
    journeys: list[Journey] = field(default_factory=list)
    _state: str | None = None

    async def redirect_handler(self, authorization_url: str) -> None:
        self._state = urllib.parse.parse_qs(urllib.parse.urlsplit(authorization_url).query)["state"][0]
        self.journeys.append(await anyio.to_thread.run_sync(browse, authorization_url, self.login))

    async def callback_handler(self) -> AuthorizationCodeResult:
        assert self._state is not None
        received = self.listener.for_state(self._state) or {}
        return AuthorizationCodeResult(code=received.get("code"), state=received.get("state"), iss=received.get("iss"))


async def sign_in_with_sdk(base_url: str, listener: CallbackListener, login: str = "alice") -> tuple[dict[str, Any], UpstreamRobot]:
    """The SDK's full OAuth flow against Outpost (a new client, registered by DCR); returns
    whoami's answer on a session and the robot."""
    robot = UpstreamRobot(listener, login)
    metadata = OAuthClientMetadata(
        redirect_uris=[listener.redirect_uri],
        client_name="upstream login test",
        grant_types=["authorization_code", "refresh_token"],
        response_types=["code"],
        token_endpoint_auth_method="none",
    )
    provider = OAuthClientProvider(f"{base_url}/mcp", metadata, MemoryStorage(), robot.redirect_handler, robot.callback_handler)
    async with httpx2.AsyncClient(auth=provider, timeout=20) as http:
        whoami = await whoami_session(base_url, http)
    assert whoami is not None
    return whoami, robot


def start_upstream_outpost(issuer: str, log_dir: Path, *extra: str) -> tuple[subprocess.Popen[bytes], str]:
    """`outpost serve --upstream-oidc ISSUER` (the secret from the environment variable is the
    documented way; the flag is used here so the test shows both names), and the provider
    client for it with Outpost's callback."""
    proc, base_url = start_outpost(
        [
            "--upstream-oidc", issuer,
            "--upstream-client-id", UPSTREAM_CLIENT[0],
            "--upstream-client-secret", UPSTREAM_CLIENT[1],
            "--store", "memory://",
            *extra,
        ],
        log_dir,
    )
    register_outpost(issuer, base_url)
    return proc, base_url


def register_outpost(issuer: str, base_url: str) -> None:
    register_client(
        issuer,
        {
            "client_id": UPSTREAM_CLIENT[0],
            "client_secret": UPSTREAM_CLIENT[1],
            "token_endpoint_auth_method": "client_secret_basic",
            "redirect_uris": [f"{base_url}/oauth/upstream/callback"],
            "grant_types": ["authorization_code"],
            "response_types": ["code"],
        },
    )


def authorize_url(base_url: str, listener: CallbackListener) -> str:
    """A fresh DCR client's /authorize URL (PKCE S256), for the tests that stop before a token."""
    registered = httpx2.post(
        f"{base_url}/register",
        json={"redirect_uris": [listener.redirect_uri], "token_endpoint_auth_method": "none", "client_name": "robot"},
        timeout=10,
    )
    assert registered.status_code == 201, registered.text
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urllib.parse.urlencode(
        {
            "response_type": "code",
            "client_id": registered.json()["client_id"],
            "redirect_uri": listener.redirect_uri,
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            "state": secrets.token_urlsafe(8),
            "scope": "mcp",
        }
    )
    return f"{base_url}/authorize?{query}"


@pytest.fixture(scope="module")
def issuer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running_provider(tmp_path_factory.mktemp("oidc-provider")) as url:
        yield url


@pytest.fixture(scope="module")
def upstream_server(issuer: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    proc, base_url = start_upstream_outpost(issuer, tmp_path_factory.mktemp("outpost-upstream"))
    try:
        yield base_url
    finally:
        stop(proc)


async def test_the_browser_crosses_both_origins_and_whoami_names_the_provider_user(
    issuer: str, upstream_server: str, callback: CallbackListener
) -> None:
    with anyio.fail_after(TEST_TIMEOUT):
        whoami, robot = await sign_in_with_sdk(upstream_server, callback)
        assert whoami["username"] == "alice_example.com", whoami
        assert whoami["scopes"] == ["mcp"], whoami
        [journey] = robot.journeys
        assert journey.status == 200 and journey.visited[-1].startswith(callback.redirect_uri), journey
        paths = [urllib.parse.urlsplit(url)._replace(query="").geturl() for url in journey.visited]
        assert paths[0] == f"{upstream_server}/authorize", paths
        assert any(p.startswith(f"{issuer}/interaction/") for p in paths), paths
        callback_at = paths.index(f"{upstream_server}/oauth/upstream/callback")
        assert any(p.startswith(issuer) for p in paths[:callback_at]), paths
        assert f"{upstream_server}/consent" in paths[callback_at:], paths

        # The same provider user again, through another client: the same subject.
        again, _ = await sign_in_with_sdk(upstream_server, callback)
        assert again["subject"] == whoami["subject"], (whoami, again)
        assert again["client_id"] != whoami["client_id"], (whoami, again)
        # Another provider user: another subject.
        bob, _ = await sign_in_with_sdk(upstream_server, callback, login="bob")
        assert bob["username"] == "bob_example.com" and bob["subject"] != whoami["subject"], bob


async def test_no_password_page_in_upstream_mode(upstream_server: str) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await http.post(f"{upstream_server}/login", data={"username": "alice", "password": "x"})
        assert response.status_code in (404, 405), response.status_code


async def test_a_forged_callback_finds_no_sign_in(upstream_server: str) -> None:
    async with httpx2.AsyncClient(timeout=10) as http:
        response = await http.get(f"{upstream_server}/oauth/upstream/callback", params={"code": "x", "state": "y"})
        assert response.status_code == 400, response.status_code
        assert "Sign-in expired" in response.text


def refused_to_client(journey: Journey, listener: CallbackListener, error: str) -> str:
    """Asserts that `journey` ended at the client's redirect URI with `error` (RFC 6749
    §4.1.2.1); the `error_description`."""
    assert journey.status == 200 and journey.visited[-1].startswith(listener.redirect_uri), (journey.status, journey.visited)
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(journey.visited[-1]).query))
    assert query.get("error") == error and "state" in query and "iss" in query, query
    return query.get("error_description", "")


def with_query(url: str, **changes: str) -> str:
    parts = urllib.parse.urlsplit(url)
    query = dict(urllib.parse.parse_qsl(parts.query))
    return parts._replace(query=urllib.parse.urlencode({**query, **changes})).geturl()


async def test_a_response_from_another_issuer_or_a_replayed_code_is_refused(
    issuer: str, upstream_server: str, callback: CallbackListener
) -> None:
    mixed_up = await anyio.to_thread.run_sync(
        lambda: browse(authorize_url(upstream_server, callback), "alice", lambda url: with_query(url, iss="https://evil.example"))
    )
    assert "names another provider" in refused_to_client(mixed_up, callback, "server_error")

    # A code the provider issued for another sign-in (another browser's, already redeemed)
    # injected into this browser's callback: this request's PKCE verifier does not match it,
    # and the provider refuses it.
    seen: list[str] = []

    def remember(url: str) -> str:
        seen.append(url)
        return url

    first = await anyio.to_thread.run_sync(lambda: browse(authorize_url(upstream_server, callback), "alice", remember))
    assert first.status == 200 and first.visited[-1].startswith(callback.redirect_uri), first
    code = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(seen[0]).query))["code"]
    swapped = await anyio.to_thread.run_sync(
        lambda: browse(authorize_url(upstream_server, callback), "alice", lambda url: with_query(url, code=code))
    )
    assert "did not confirm the sign-in" in refused_to_client(swapped, callback, "server_error")


async def test_the_callback_loaded_again_redeems_no_code_twice(upstream_server: str, callback: CallbackListener) -> None:
    def reload_at_consent() -> tuple[int, str]:
        with httpx2.Client(timeout=10, follow_redirects=False) as http:
            url = authorize_url(upstream_server, callback)
            response = http.get(url)
            callback_url = None
            for _ in range(20):
                if response.status_code in (302, 303):
                    url = urllib.parse.urljoin(url, response.headers["location"])
                    if "/oauth/upstream/callback?" in url:
                        callback_url = url
                    response = http.get(url)
                elif response.status_code == 200 and response.text == "login":
                    url = f"{url}/login"
                    response = http.post(url, data={"login": "alice"})
                else:
                    break
            assert callback_url is not None and 'name="decision"' in response.text, response.text
            again = http.get(callback_url)
            return again.status_code, again.text

    status, text = await anyio.to_thread.run_sync(reload_at_consent)
    assert status == 400 and "used already" in text, (status, text)


async def test_allowed_domains_refuse_other_accounts(
    issuer: str, callback: CallbackListener, tmp_path: Path
) -> None:
    proc, base_url = start_upstream_outpost(issuer, tmp_path, "--upstream-allowed-domains", "example.com")
    try:
        refused = await anyio.to_thread.run_sync(browse, authorize_url(base_url, callback), "mallory@other.example")
        description = refused_to_client(refused, callback, "access_denied")
        assert "accounts of the domain other.example may not sign in" in description, description
        assert refused.visited[-2].startswith(f"{base_url}/oauth/upstream/callback"), refused.visited

        unverified = await anyio.to_thread.run_sync(browse, authorize_url(base_url, callback), "unverified-carol")
        assert "verified email" in refused_to_client(unverified, callback, "access_denied")

        allowed = await anyio.to_thread.run_sync(browse, authorize_url(base_url, callback), "dave")
        assert allowed.status == 200 and allowed.visited[-1].startswith(callback.redirect_uri), allowed
        assert "code=" in allowed.visited[-1], allowed.visited
    finally:
        stop(proc)


async def test_provider_down_is_temporarily_unavailable_and_its_return_needs_no_restart(
    callback: CallbackListener, tmp_path: Path
) -> None:
    port = free_port()
    with running_provider(tmp_path, port) as issuer:
        proc, base_url = start_upstream_outpost(issuer, tmp_path)
    try:
        down = await anyio.to_thread.run_sync(browse, authorize_url(base_url, callback), "alice")
        # The application hears of it at once (RFC 6749 §4.1.2.1), and may try again.
        assert "cannot be reached" in refused_to_client(down, callback, "temporarily_unavailable")
        assert len(down.visited) == 2 and down.visited[0].startswith(f"{base_url}/authorize"), down.visited

        with running_provider(tmp_path, port):
            # A new process: new signing keys, and Outpost's client registered again.
            register_outpost(issuer, base_url)
            with anyio.fail_after(TEST_TIMEOUT):
                whoami, _ = await sign_in_with_sdk(base_url, callback)
            assert whoami["username"] == "alice_example.com", whoami
    finally:
        stop(proc)


def test_an_unreachable_provider_at_start_names_the_setting(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    done = subprocess.run(
        [
            str(outpost_bin()), "serve",
            "--bind", f"127.0.0.1:{free_port()}",
            "--store", "memory://",
            "--upstream-oidc", dead,
            "--upstream-client-id", "x",
        ],
        env={"OUTPOST_UPSTREAM_CLIENT_SECRET": "s", "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode != 0
    assert "--upstream-oidc" in done.stderr and dead in done.stderr, done.stderr
    assert "cannot be reached" in done.stderr, done.stderr
