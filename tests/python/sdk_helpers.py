"""What several test modules do with the Python SDK's `ClientSession`: the 2024-11-05 handshake
asked for by version, and the text of a one-block tool result."""

from __future__ import annotations

import mcp_types as types
from mcp import ClientSession

LEGACY_SSE = "2024-11-05"
"""The HTTP+SSE transport's protocol version."""


async def initialize_2024_11_05(session: ClientSession, client_name: str) -> types.InitializeResult:
    """Handshakes at 2024-11-05 and adopts the result. `ClientSession.initialize()` always offers
    the newest version; to ask for 2024-11-05 itself, the request is sent by hand."""
    init = await session.send_request(
        types.InitializeRequest(
            params=types.InitializeRequestParams(
                protocol_version=LEGACY_SSE,
                capabilities=types.ClientCapabilities(),
                client_info=types.Implementation(name=client_name, version="0"),
            )
        ),
        types.InitializeResult,
    )
    assert init.protocol_version == LEGACY_SSE
    session.adopt(init)
    await session.send_notification(types.InitializedNotification())
    return init


def only_text(result: types.CallToolResult) -> str:
    """The text of a tool result that must be a single, successful text block."""
    assert not result.is_error, f"tool returned an error: {result.content}"
    assert len(result.content) == 1, result.content
    block = result.content[0]
    assert isinstance(block, types.TextContent), block
    return block.text
