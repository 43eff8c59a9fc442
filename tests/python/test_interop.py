"""Interop tests: the official Python MCP SDK (`mcp`, pinned in requirements.txt) against
`outpost serve --no-auth` serving the reference server.

Three eras, as a Python user would meet them:

* 2026-07-28, stateless Streamable HTTP, through the high-level `mcp.Client` (sampling and
  elicitation come back as `input_required` results that the SDK answers and retries);
* 2025-11-25, a Streamable HTTP session through `ClientSession` + `streamable_http_client`
  (sampling and elicitation are server-to-client requests, logs may come on the GET stream);
* 2024-11-05, the legacy HTTP+SSE transport through `sse_client` + `ClientSession`.

Every test runs under `anyio.fail_after`, so a hang fails the test instead of the run.
"""

from __future__ import annotations

import base64
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from mcp import Client, ClientSession
from mcp.client.session import ClientRequestContext
from mcp.client.sse import sse_client
from mcp.client.streamable_http import streamable_http_client
from sdk_helpers import LEGACY_SSE, initialize_2024_11_05, only_text

pytestmark = pytest.mark.anyio

TEST_TIMEOUT = 20.0
"""Upper bound on any one test (seconds)."""

MODERN = "2026-07-28"
SESSION_ERA = "2025-11-25"
SERVER_NAME = "outpost-reference"

EXPECTED_TOOLS = {
    "echo",
    "add",
    "longRunningOperation",
    "sampleLLM",
    "book_table",
    "emitLogMessages",
    "greeting_card",
    "getTinyImage",
    "roll_dice",
}
NUMBERED_PREFIX = "test://static/resource/"
PAGE_SIZE = 10
MAX_PAGES = 50
"""Bound on any cursor walk, so a server that never ends its listing fails instead of hanging."""

SAMPLED_TEXT = "Interop says hello from a fixed sampling callback"
BOOKING_NOTE = "A window seat, please"
ERROR_AND_ABOVE = ["error", "critical", "alert", "emergency"]


# --------------------------------------------------------------------------------------------
# Helpers


class Recorder:
    """Sampling / elicitation callbacks that answer fixed values and record what they were asked."""

    def __init__(self) -> None:
        self.sampling: list[tuple[ClientRequestContext, types.CreateMessageRequestParams]] = []
        self.elicitation: list[tuple[ClientRequestContext, types.ElicitRequestParams]] = []

    async def sample(
        self, context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        self.sampling.append((context, params))
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=SAMPLED_TEXT),
            model="interop-fixed-model",
            stop_reason="endTurn",
        )

    async def elicit(self, context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        self.elicitation.append((context, params))
        return types.ElicitResult(action="accept", content={"confirm": True, "notes": BOOKING_NOTE})


async def check_sampling(call_tool: Any, recorder: Recorder) -> None:
    """`sampleLLM` asks the client's sampling callback and returns what it answered."""
    prompt = "Say hello to the interop suite"
    result = await call_tool("sampleLLM", {"prompt": prompt, "maxTokens": 42})
    assert only_text(result) == f"LLM sampling result: {SAMPLED_TEXT}"
    assert len(recorder.sampling) == 1, "the sampling callback must be asked exactly once"
    _, params = recorder.sampling[0]
    assert params.max_tokens == 42
    assert len(params.messages) == 1
    message = params.messages[0]
    assert message.role == "user"
    assert isinstance(message.content, types.TextContent)
    assert message.content.text == prompt


async def check_elicitation(call_tool: Any, recorder: Recorder) -> None:
    """`book_table` asks the user to confirm through a form and books when confirmed."""
    result = await call_tool("book_table", {"date": "2026-12-24", "partySize": 4})
    assert only_text(result) == f"Booked a table for 4 on 2026-12-24. Notes: {BOOKING_NOTE}"
    assert len(recorder.elicitation) == 1, "the elicitation callback must be asked exactly once"
    _, params = recorder.elicitation[0]
    assert isinstance(params, types.ElicitRequestFormParams), params
    assert "Book a table for 4 on 2026-12-24?" in params.message
    schema = params.requested_schema
    assert schema["type"] == "object"
    assert schema["properties"]["confirm"]["type"] == "boolean"
    assert schema["properties"]["notes"]["type"] == "string"
    assert schema.get("required") == ["confirm"]


async def all_tool_names(list_page: Any) -> set[str]:
    """Walk `tools/list` across pages; `list_page(cursor)` returns one page."""
    names: list[str] = []
    cursor: str | None = None
    for _ in range(MAX_PAGES):
        page = await list_page(cursor)
        names.extend(tool.name for tool in page.tools)
        cursor = page.next_cursor
        if cursor is None:
            break
    else:
        pytest.fail(f"tools/list did not end within {MAX_PAGES} pages")
    assert len(names) == len(set(names)), f"duplicate tools across pages: {names}"
    return set(names)


async def wait_until(predicate: Any, *, timeout: float, interval: float = 0.05) -> bool:
    """Poll `predicate()` until it is true or `timeout` passes; returns its last value."""
    with anyio.move_on_after(timeout):
        while not predicate():
            await anyio.sleep(interval)
    return bool(predicate())


@asynccontextmanager
async def modern_client(base_url: str, **kwargs: Any) -> AsyncIterator[Client]:
    """A `mcp.Client` pinned to 2026-07-28 (`mode=` a modern version adopts it without a probe)."""
    async with Client(f"{base_url}/mcp", mode=MODERN, **kwargs) as client:
        assert client.protocol_version == MODERN
        yield client


@asynccontextmanager
async def session_2025(
    base_url: str, http_client: httpx2.AsyncClient | None = None, **kwargs: Any
) -> AsyncIterator[tuple[ClientSession, types.InitializeResult]]:
    """An initialized 2025-11-25 `ClientSession` over Streamable HTTP."""
    async with streamable_http_client(f"{base_url}/mcp", http_client=http_client) as (read, write):
        async with ClientSession(read, write, **kwargs) as session:
            init = await session.initialize()
            yield session, init


# --------------------------------------------------------------------------------------------
# 2026-07-28: stateless, through mcp.Client


async def test_2026_auto_mode_discovers_modern_protocol(outpost_url: str) -> None:
    """Default `mode='auto'` probes server/discover and settles on 2026-07-28 with server info."""
    with anyio.fail_after(TEST_TIMEOUT):
        async with Client(f"{outpost_url}/mcp") as client:
            assert client.protocol_version == MODERN
            assert client.session.discover_result is not None
            assert client.session.initialize_result is None, "a modern server must not need initialize"
            assert client.server_info is not None
            assert client.server_info.name == SERVER_NAME
            assert client.server_capabilities.tools is not None


async def test_2026_tools_echo_and_add(outpost_url: str) -> None:
    """Listing shows the reference tools; echo answers text, add answers structured content."""
    with anyio.fail_after(TEST_TIMEOUT):
        async with modern_client(outpost_url) as client:
            names = await all_tool_names(lambda cursor: client.list_tools(cursor=cursor))
            assert EXPECTED_TOOLS <= names, f"missing tools: {EXPECTED_TOOLS - names}"

            echo = await client.call_tool("echo", {"message": "hello from Python"})
            assert only_text(echo) == "Echo: hello from Python"

            added = await client.call_tool("add", {"a": 2, "b": 3.5})
            assert not added.is_error
            assert added.structured_content == {"sum": 5.5}


async def test_2026_resources_paginate_and_read(outpost_url: str) -> None:
    """All 100 numbered resources across pages of 10; even ids read as text, odd as blobs."""
    with anyio.fail_after(TEST_TIMEOUT):
        async with modern_client(outpost_url) as client:
            uris: list[str] = []
            pages = 0
            cursor: str | None = None
            for _ in range(MAX_PAGES):
                page = await client.list_resources(cursor=cursor)
                pages += 1
                assert 0 < len(page.resources) <= PAGE_SIZE
                uris.extend(str(resource.uri) for resource in page.resources)
                cursor = page.next_cursor
                if cursor is None:
                    break
            else:
                pytest.fail(f"resources/list did not end within {MAX_PAGES} pages")
            assert len(uris) == len(set(uris)), "a resource was listed twice across pages"
            numbered = {int(uri.removeprefix(NUMBERED_PREFIX)) for uri in uris if uri.startswith(NUMBERED_PREFIX)}
            assert numbered == set(range(1, 101))
            assert pages >= 10

            even = await client.read_resource(f"{NUMBERED_PREFIX}2")
            assert len(even.contents) == 1
            text = even.contents[0]
            assert isinstance(text, types.TextResourceContents), text
            assert str(text.uri) == f"{NUMBERED_PREFIX}2"
            assert text.mime_type == "text/plain"
            assert text.text == "Resource 2: This is a plaintext resource"

            odd = await client.read_resource(f"{NUMBERED_PREFIX}3")
            assert len(odd.contents) == 1
            blob = odd.contents[0]
            assert isinstance(blob, types.BlobResourceContents), blob
            assert blob.mime_type == "application/octet-stream"
            assert base64.b64decode(blob.blob) == b"Resource 3: This is a base64 blob"


async def test_2026_complex_prompt_and_style_completion(outpost_url: str) -> None:
    """complex_prompt renders its arguments; `style` completes by prefix."""
    with anyio.fail_after(TEST_TIMEOUT):
        async with modern_client(outpost_url) as client:
            prompt = await client.get_prompt("complex_prompt", {"temperature": "0.7", "style": "formal"})
            first = prompt.messages[0]
            assert first.role == "user"
            assert isinstance(first.content, types.TextContent)
            assert first.content.text == "This is a complex prompt with arguments: temperature=0.7, style=formal"
            kinds = [type(message.content) for message in prompt.messages]
            assert types.ImageContent in kinds, "complex_prompt carries an image"
            assert types.EmbeddedResource in kinds, "complex_prompt carries an embedded resource"

            ref = types.PromptReference(type="ref/prompt", name="complex_prompt")
            completed = await client.complete(ref, {"name": "style", "value": "f"})
            assert completed.completion.values == ["formal", "friendly"]
            everything = await client.complete(ref, {"name": "style", "value": ""})
            assert set(everything.completion.values) == {"casual", "formal", "technical", "friendly"}


async def test_2026_sampling_via_input_required(outpost_url: str) -> None:
    """sampleLLM on a stateless connection: the SDK answers the input_required round itself."""
    recorder = Recorder()
    with anyio.fail_after(TEST_TIMEOUT):
        async with modern_client(outpost_url, sampling_callback=recorder.sample) as client:
            await check_sampling(client.call_tool, recorder)
    # On 2026-07-28 the callback is fed from the result's inputRequests map: the "request id"
    # the SDK hands it is that map's key, not a JSON-RPC id (there is no server->client request).
    context, _ = recorder.sampling[0]
    assert context.request_id == "sample"


async def test_2026_elicitation_via_input_required(outpost_url: str) -> None:
    """book_table on a stateless connection: the form is answered through input_required."""
    recorder = Recorder()
    with anyio.fail_after(TEST_TIMEOUT):
        async with modern_client(outpost_url, elicitation_callback=recorder.elicit) as client:
            await check_elicitation(client.call_tool, recorder)
    context, _ = recorder.elicitation[0]
    assert context.request_id == "confirm_booking"


async def test_2026_log_level_opt_in(outpost_url: str) -> None:
    """A request that opts in with log_level='error' gets exactly the error-and-above messages."""
    received: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        received.append(params)

    with anyio.fail_after(TEST_TIMEOUT):
        async with modern_client(outpost_url, logging_callback=on_log, log_level="error") as client:
            result = await client.call_tool("emitLogMessages", {})
            assert only_text(result) == "Sent a log message at every level"
            # Stateless: the notifications travel on the call's own response stream, ahead of
            # the result; the SDK may still be running the callbacks, so poll with a deadline.
            await wait_until(lambda: len(received) >= len(ERROR_AND_ABOVE), timeout=5.0)
            assert [message.level for message in received] == ERROR_AND_ABOVE
            assert all(message.logger == SERVER_NAME for message in received)


# --------------------------------------------------------------------------------------------
# 2025-11-25: a session, through ClientSession + streamable_http_client


async def test_2025_initialize_and_echo(outpost_url: str) -> None:
    """initialize negotiates 2025-11-25 with the reference server; tools work in the session."""
    with anyio.fail_after(TEST_TIMEOUT):
        async with session_2025(outpost_url) as (session, init):
            assert init.protocol_version == SESSION_ERA
            assert session.protocol_version == SESSION_ERA
            assert init.server_info.name == SERVER_NAME
            assert init.capabilities.tools is not None
            assert init.capabilities.logging is not None

            names = await all_tool_names(
                lambda cursor: session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
            )
            assert EXPECTED_TOOLS <= names, f"missing tools: {EXPECTED_TOOLS - names}"

            echo = await session.call_tool("echo", {"message": "hello over a session"})
            assert only_text(echo) == "Echo: hello over a session"


async def test_2025_progress_notifications(outpost_url: str) -> None:
    """longRunningOperation reports one progress update per step to call_tool's progress callback."""
    updates: list[tuple[float, float | None, str | None]] = []

    async def on_progress(progress: float, total: float | None, message: str | None) -> None:
        updates.append((progress, total, message))

    with anyio.fail_after(TEST_TIMEOUT):
        async with session_2025(outpost_url) as (session, _):
            result = await session.call_tool(
                "longRunningOperation", {"duration": 0.5, "steps": 3}, progress_callback=on_progress
            )
            assert only_text(result) == "Long running operation completed. Duration: 0.5 seconds, Steps: 3."
            # Progress rides on the call's own response stream, ahead of the result; the SDK
            # may still be running the callbacks, so poll with a deadline.
            await wait_until(lambda: len(updates) >= 3, timeout=5.0)
            assert updates == [
                (1.0, 3.0, "step 1 of 3"),
                (2.0, 3.0, "step 2 of 3"),
                (3.0, 3.0, "step 3 of 3"),
            ]


async def test_2025_sampling_server_request(outpost_url: str) -> None:
    """sampleLLM sends sampling/createMessage to the client and returns its answer."""
    recorder = Recorder()
    with anyio.fail_after(TEST_TIMEOUT):
        async with session_2025(outpost_url, sampling_callback=recorder.sample) as (session, _):
            await check_sampling(session.call_tool, recorder)
    # A real server->client JSON-RPC request, not an input_required key.
    context, _ = recorder.sampling[0]
    assert context.request_id != "sample"


async def test_2025_elicitation_server_request(outpost_url: str) -> None:
    """book_table sends elicitation/create to the client and books on accept + confirm."""
    recorder = Recorder()
    with anyio.fail_after(TEST_TIMEOUT):
        async with session_2025(outpost_url, elicitation_callback=recorder.elicit) as (session, _):
            await check_elicitation(session.call_tool, recorder)
    context, _ = recorder.elicitation[0]
    assert context.request_id != "confirm_booking"


@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_2025_logging_level_filters_messages(outpost_url: str) -> None:
    """After logging/setLevel error, emitLogMessages delivers exactly error..emergency."""
    received: list[types.LoggingMessageNotificationParams] = []

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        received.append(params)

    with anyio.fail_after(TEST_TIMEOUT):
        async with session_2025(outpost_url, logging_callback=on_log) as (session, _):
            await session.set_logging_level("error")
            result = await session.call_tool("emitLogMessages", {})
            assert only_text(result) == "Sent a log message at every level"
            # Session-scoped log messages may travel on the standalone GET stream, so they can
            # arrive after the call's result: poll for them, with a deadline.
            await wait_until(lambda: len(received) >= len(ERROR_AND_ABOVE), timeout=5.0)
            # Give a stray lower-level message (which would be a bug) a moment to show up too.
            await wait_until(lambda: len(received) > len(ERROR_AND_ABOVE), timeout=0.3)
            assert sorted(message.level for message in received) == sorted(ERROR_AND_ABOVE)
            assert all(message.logger == SERVER_NAME for message in received)
            assert {message.data for message in received} == {
                f"a {level} message from emitlogmessages" for level in ERROR_AND_ABOVE
            }


async def test_2025_clean_close_terminates_session(outpost_url: str, caplog: pytest.LogCaptureFixture) -> None:
    """Leaving the client sends DELETE for the session; the server then forgets the session."""
    responses: list[tuple[str, int, str | None]] = []

    async def on_response(response: httpx2.Response) -> None:
        responses.append((response.request.method, response.status_code, response.headers.get("mcp-session-id")))

    caplog.set_level(logging.WARNING, logger="mcp.client.streamable_http")
    with anyio.fail_after(TEST_TIMEOUT):
        async with httpx2.AsyncClient(
            timeout=httpx2.Timeout(10.0, read=60.0), event_hooks={"response": [on_response]}
        ) as http:
            async with session_2025(outpost_url, http_client=http) as (session, init):
                assert init.protocol_version == SESSION_ERA
                assert only_text(await session.call_tool("echo", {"message": "bye"})) == "Echo: bye"
            session_ids = {sid for _, _, sid in responses if sid}
            assert len(session_ids) == 1, f"expected one session id, saw {session_ids}"
            (session_id,) = session_ids
            deletes = [status for method, status, _ in responses if method == "DELETE"]
            assert len(deletes) == 1, f"the SDK should send one DELETE on close, saw {responses}"
            assert 200 <= deletes[0] < 300, f"DELETE answered {deletes[0]}"

            # The terminated session is gone: the spec says the server MUST answer 404.
            after = await http.post(
                f"{outpost_url}/mcp",
                json={"jsonrpc": "2.0", "id": 99, "method": "ping"},
                headers={
                    "Accept": "application/json, text/event-stream",
                    "Mcp-Session-Id": session_id,
                    "MCP-Protocol-Version": SESSION_ERA,
                },
            )
            assert after.status_code == 404

    # mcp 2.3.0 treats only 200/204 as a successful DELETE and logs "Session termination
    # failed: 202" for the server's 202 Accepted. That is SDK strictness (the spec names no
    # success code), so it is reported rather than failed on.
    termination_warnings = [r.getMessage() for r in caplog.records if "Session termination failed" in r.getMessage()]
    if termination_warnings:
        print(f"note: SDK warned on close: {termination_warnings}")


# --------------------------------------------------------------------------------------------
# 2024-11-05: legacy HTTP+SSE


async def test_2024_legacy_sse(outpost_url: str) -> None:
    """The HTTP+SSE transport: handshake at 2024-11-05, list tools, echo, read a resource."""
    with anyio.fail_after(TEST_TIMEOUT):
        async with sse_client(f"{outpost_url}/sse") as (read, write):
            async with ClientSession(read, write) as session:
                init = await initialize_2024_11_05(session, "outpost-python-interop")
                assert init.server_info.name == SERVER_NAME
                assert session.protocol_version == LEGACY_SSE

                names = await all_tool_names(
                    lambda cursor: session.list_tools(params=types.PaginatedRequestParams(cursor=cursor))
                )
                assert EXPECTED_TOOLS <= names, f"missing tools: {EXPECTED_TOOLS - names}"

                echo = await session.call_tool("echo", {"message": "hello over SSE"})
                assert only_text(echo) == "Echo: hello over SSE"

                read_result = await session.read_resource(f"{NUMBERED_PREFIX}4")
                assert len(read_result.contents) == 1
                contents = read_result.contents[0]
                assert isinstance(contents, types.TextResourceContents), contents
                assert contents.text == "Resource 4: This is a plaintext resource"
