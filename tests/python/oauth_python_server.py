"""An MCP server that is not Outpost, with OAuth: the official Python SDK's `MCPServer` with the
SDK's own authorization-server routes (metadata, registration, authorize, token, revoke, RFC 9728
protected-resource metadata) over an in-memory provider that approves every authorization at
once (it has no login page: the "browser" only follows the redirect back to the client).
`outpost connect` is tested against it in test_connect.py.

    python oauth_python_server.py PORT [streamable-http|sse]

With `sse`, the server speaks only the 2024-11-05 HTTP+SSE transport (`/sse`, `/messages/`), so
its `/mcp` answers 404.
"""

from __future__ import annotations

import secrets
import sys
import time

from mcp.server.auth.provider import (
    AccessToken,
    AuthorizationCode,
    AuthorizationParams,
    RefreshToken,
    construct_redirect_uri,
)
from mcp.server.auth.settings import AuthSettings, ClientRegistrationOptions, RevocationOptions
from mcp.server.mcpserver import MCPServer
from mcp.shared.auth import OAuthClientInformationFull, OAuthToken

ACCESS_TOKEN_SECONDS = 3600


class ApprovingProvider:
    """Clients, codes and tokens in dictionaries; every authorization request is approved."""

    def __init__(self) -> None:
        self.clients: dict[str, OAuthClientInformationFull] = {}
        self.codes: dict[str, AuthorizationCode] = {}
        self.access: dict[str, AccessToken] = {}
        self.refresh: dict[str, RefreshToken] = {}

    async def get_client(self, client_id: str) -> OAuthClientInformationFull | None:
        return self.clients.get(client_id)

    async def register_client(self, client_info: OAuthClientInformationFull) -> None:
        self.clients[client_info.client_id] = client_info

    async def authorize(self, client: OAuthClientInformationFull, params: AuthorizationParams) -> str:
        code = secrets.token_urlsafe(32)
        self.codes[code] = AuthorizationCode(
            code=code,
            scopes=params.scopes or ["mcp"],
            expires_at=time.time() + 300,
            client_id=client.client_id,
            code_challenge=params.code_challenge,
            redirect_uri=params.redirect_uri,
            redirect_uri_provided_explicitly=params.redirect_uri_provided_explicitly,
            resource=params.resource,
            subject="python-user",
        )
        return construct_redirect_uri(str(params.redirect_uri), code=code, state=params.state)

    async def load_authorization_code(self, client: OAuthClientInformationFull, code: str) -> AuthorizationCode | None:
        found = self.codes.get(code)
        return found if found and found.client_id == client.client_id else None

    async def exchange_authorization_code(
        self, client: OAuthClientInformationFull, code: AuthorizationCode
    ) -> OAuthToken:
        del self.codes[code.code]
        return self._issue(client.client_id, code.scopes, code.resource)

    async def load_refresh_token(self, client: OAuthClientInformationFull, token: str) -> RefreshToken | None:
        found = self.refresh.get(token)
        return found if found and found.client_id == client.client_id else None

    async def exchange_refresh_token(
        self, client: OAuthClientInformationFull, refresh_token: RefreshToken, scopes: list[str]
    ) -> OAuthToken:
        del self.refresh[refresh_token.token]
        return self._issue(client.client_id, scopes or refresh_token.scopes, refresh_token.resource)

    async def load_access_token(self, token: str) -> AccessToken | None:
        found = self.access.get(token)
        if found and found.expires_at and found.expires_at < time.time():
            return None
        return found

    async def revoke_token(self, token: AccessToken | RefreshToken) -> None:
        # Revoking either ends the client's whole grant, as Outpost does.
        client_id = token.client_id
        self.access = {k: v for k, v in self.access.items() if v.client_id != client_id}
        self.refresh = {k: v for k, v in self.refresh.items() if v.client_id != client_id}

    def _issue(self, client_id: str, scopes: list[str], resource: str | None) -> OAuthToken:
        access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        expires_at = int(time.time()) + ACCESS_TOKEN_SECONDS
        self.access[access] = AccessToken(
            token=access, client_id=client_id, scopes=scopes, expires_at=expires_at,
            resource=resource, subject="python-user",
        )
        self.refresh[refresh] = RefreshToken(token=refresh, client_id=client_id, scopes=scopes, resource=resource)
        return OAuthToken(
            access_token=access, token_type="Bearer", expires_in=ACCESS_TOKEN_SECONDS,
            refresh_token=refresh, scope=" ".join(scopes),
        )


def main() -> None:
    port = int(sys.argv[1])
    transport = sys.argv[2] if len(sys.argv) > 2 else "streamable-http"
    base = f"http://127.0.0.1:{port}"
    server = MCPServer(
        name="python-oauth-server",
        version="1.0.0",
        auth_server_provider=ApprovingProvider(),
        auth=AuthSettings(
            issuer_url=base,
            resource_server_url=f"{base}/mcp",
            validate_token_resource=True,
            required_scopes=["mcp"],
            client_registration_options=ClientRegistrationOptions(
                enabled=True, valid_scopes=["mcp"], default_scopes=["mcp"]
            ),
            revocation_options=RevocationOptions(enabled=True),
        ),
    )

    @server.tool()
    def multiply(a: int, b: int) -> int:
        """Multiplies two integers."""
        return a * b

    @server.resource("ui://python/card", mime_type="text/html;profile=mcp-app")
    def card() -> str:
        """The UI of the `card` tool."""
        return "<!doctype html><html><body><h1>A card from Python</h1></body></html>"

    @server.tool(meta={"ui": {"resourceUri": "ui://python/card"}})
    def card_tool(name: str) -> str:
        """An MCP App: shows a card (its UI is the ui://python/card resource)."""
        return f"A card for {name}"

    @server.tool()
    def fail() -> str:
        """Always fails."""
        raise ValueError("this tool always fails")

    server.run(transport=transport, host="127.0.0.1", port=port)


if __name__ == "__main__":
    main()
