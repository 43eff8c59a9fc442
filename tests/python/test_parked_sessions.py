"""2025-11-25 sessions on three instances: `outpost serve --no-auth` (parked sessions, the default) on one
Redis behind haproxy (round robin per request, no affinity; cluster.py), so a session's POSTs,
its GET stream and its DELETE land on different instances.

- The Python SDK's session: tools, progress, sampling and elicitation round trips (the client's
  answer POSTed to another instance than the tool's), a log level set on one instance and obeyed
  on another, a resource subscription whose updates arrive on the GET stream.
- The SDK's GET stream resumes on another instance with `Last-Event-ID` when its instance is
  SIGKILLed.
- The kill test: a session calling tools in a loop while each instance in turn is SIGKILLed and
  started again; its GET stream resumes on another instance with `Last-Event-ID`.
- The official conformance server suites (../shared/tools/conformance.sh) through the balancer.

The instances report a subscribed resource as updated every UPDATE_INTERVAL (the reference
server's cadence, `--resource-update-interval`), so the GET stream carries events within
seconds. One cluster serves the whole module; a test that leaves an instance stopped has it
started again before the next test. Every test runs under `anyio.fail_after` (or a subprocess
timeout) and every wait has a deadline.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import mcp_types as types
import pytest
from cluster import BACKEND_HEADER, STORE_MODE, Cluster, Instance
from mcp import ClientSession
from sdk_helpers import only_text
from mcp.client.session import ClientRequestContext
from mcp.client.streamable_http import streamable_http_client
from processes import REPO_ROOT

pytestmark = [
    pytest.mark.multi_instance,
    pytest.mark.skipif(
        STORE_MODE != "redis",
        reason="needs OUTPOST_MULTI_STORE=redis: instances on one SQLite file see each other's "
        "events only at the GET stream's 10 s re-read",
    ),
]

SESSION_ERA = "2025-11-25"
UPDATE_INTERVAL = 1.0
"""Seconds between two `notifications/resources/updated` of a subscribed resource."""
TEST_TIMEOUT = 60.0
"""Upper bound on any one session test (seconds)."""
KILL_NOTICED = 0.1
"""How long after a killed instance is gone haproxy may still hand it a request (seconds)."""
CONFORMANCE_SUITE = REPO_ROOT.parent / "shared" / "tools" / "conformance.sh"
CONFORMANCE_TIMEOUT = 300.0
SUBSCRIBED = ["test://static/resource/1", "test://static/resource/2"]
SAMPLED_TEXT = "sampled on the client"
BOOKING_NOTE = "by the window"
ERROR_AND_ABOVE = ["error", "critical", "alert", "emergency"]


@pytest.fixture(scope="module")
def parked_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three `--no-auth` instances on Redis behind haproxy, for the module."""
    started = Cluster(
        tmp_path_factory.mktemp("parked"),
        serve_args=(
            "--no-auth",
            "--resource-update-interval",
            f"{int(UPDATE_INTERVAL * 1000)}ms",
        ),
    )
    try:
        started.start()
        yield started
    finally:
        started.close()


@pytest.fixture
def cluster(parked_cluster: Cluster) -> Cluster:
    """The module's cluster with every instance running (a test before may have killed one)."""
    stopped = [instance for instance in parked_cluster.instances if not instance.running]
    if stopped:
        parked_cluster.start_instances(*stopped)
    return parked_cluster


def names(cluster: Cluster) -> set[str]:
    return {instance.name for instance in cluster.instances}


async def wait_for(predicate: Any, timeout: float, what: str) -> None:
    """Polls `predicate()` every 50 ms; fails naming `what` after `timeout` seconds."""
    with anyio.move_on_after(timeout):
        while not predicate():
            await anyio.sleep(0.05)
    assert predicate(), f"{what}: not within {timeout}s"


# --------------------------------------------------------------------------------------------
# The Python SDK's session, spread over the instances


@dataclass
class Exchange:
    """One HTTP exchange of the SDK, as the balancer answered it."""

    method: str
    backend: str
    status: int
    session_id: str | None
    message: dict[str, Any] | None
    """The JSON-RPC message the SDK POSTed, if any."""

    @property
    def rpc(self) -> str:
        """What a POST carried: a method name, or `answer` for a response to the server."""
        if self.message is None:
            return ""
        if "method" in self.message:
            return str(self.message["method"])
        return "answer" if "result" in self.message or "error" in self.message else ""


class Exchanges(list[Exchange]):
    """The SDK's exchanges in the order their answers began (an httpx response hook)."""

    async def record(self, response: httpx2.Response) -> None:
        request = response.request
        message = None
        if request.method == "POST":
            try:
                message = json.loads(request.content)
            except ValueError:
                message = None
        self.append(
            Exchange(
                request.method,
                response.headers.get(BACKEND_HEADER, ""),
                response.status_code,
                response.headers.get("mcp-session-id"),
                message,
            )
        )

    def backend_of(self, rpc: str) -> str:
        """The instance that took the last POST of `rpc`."""
        return [e for e in self if e.rpc == rpc][-1].backend

    @property
    def get_backend(self) -> str:
        backends = {e.backend for e in self if e.method == "GET"}
        assert len(backends) == 1, f"the GET stream was opened on {backends}"
        return backends.pop()


async def next_request_avoids(session: ClientSession, exchanges: Exchanges, instance: str) -> None:
    """Pings until a ping lands on `instance`: round robin then sends the session's next
    request to another one. Nothing else goes through the balancer meanwhile."""
    for _ in range(6):
        await session.send_ping()
        if exchanges[-1].backend == instance:
            return
    raise AssertionError(f"no ping reached {instance}: {[e.backend for e in exchanges]}")


async def post_ping(base_url: str, session_id: str) -> httpx2.Response:
    """A bare 2025-11-25 `ping` in session `session_id`."""
    async with httpx2.AsyncClient(timeout=10) as http:
        return await http.post(
            f"{base_url}/mcp",
            json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
            headers={
                "Accept": "application/json, text/event-stream",
                "Mcp-Session-Id": session_id,
                "MCP-Protocol-Version": SESSION_ERA,
            },
        )


async def assert_ended_everywhere(cluster: Cluster, session_id: str) -> None:
    """Every instance answers 404 for `session_id` at once, though each has served it a moment
    ago (MCP: a terminated session's id MUST get 404)."""
    statuses = {i.name: (await post_ping(i.url, session_id)).status_code for i in cluster.instances}
    assert set(statuses.values()) == {404}, f"the ended session still answers: {statuses}"


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_sdk_session_spread_over_instances(cluster: Cluster) -> None:
    """The SDK's 2025-11-25 session through the balancer, its POSTs on every instance: tools,
    progress, sampling and elicitation (each answer POSTed to another instance than the waiting
    tool's and relayed to it), `logging/setLevel` on one instance obeyed by a tool on another,
    and a resource subscription whose updates keep coming on the GET stream, held by another
    instance than the `resources/subscribe` and the `initialize`. The DELETE, on another
    instance than the GET stream, ends the session on every instance."""
    exchanges = Exchanges()
    sampled: list[types.CreateMessageRequestParams] = []
    elicited: list[types.ElicitRequestParams] = []
    logs: list[types.LoggingMessageNotificationParams] = []
    updated: list[str] = []
    progress: list[tuple[float, float | None, str | None]] = []

    async def sample(
        context: ClientRequestContext, params: types.CreateMessageRequestParams
    ) -> types.CreateMessageResult:
        sampled.append(params)
        return types.CreateMessageResult(
            role="assistant",
            content=types.TextContent(type="text", text=SAMPLED_TEXT),
            model="fixed",
            stop_reason="endTurn",
        )

    async def elicit(context: ClientRequestContext, params: types.ElicitRequestParams) -> types.ElicitResult:
        elicited.append(params)
        return types.ElicitResult(action="accept", content={"confirm": True, "notes": BOOKING_NOTE})

    async def on_log(params: types.LoggingMessageNotificationParams) -> None:
        logs.append(params)

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(str(message.params.uri))

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    with anyio.fail_after(TEST_TIMEOUT):
        async with httpx2.AsyncClient(
            timeout=httpx2.Timeout(10.0, read=60.0), event_hooks={"response": [exchanges.record]}
        ) as http:
            async with streamable_http_client(f"{cluster.url}/mcp", http_client=http) as (read, write):
                async with ClientSession(
                    read,
                    write,
                    sampling_callback=sample,
                    elicitation_callback=elicit,
                    logging_callback=on_log,
                    message_handler=on_message,
                ) as session:
                    init = await session.initialize()
                    assert init.protocol_version == SESSION_ERA
                    await wait_for(lambda: any(e.method == "GET" for e in exchanges), 5.0, "the SDK's GET stream")

                    echo = await session.call_tool("echo", {"message": "across instances"})
                    assert only_text(echo) == "Echo: across instances"

                    result = await session.call_tool(
                        "longRunningOperation", {"duration": 0.3, "steps": 3}, progress_callback=on_progress
                    )
                    assert only_text(result) == "Long running operation completed. Duration: 0.3 seconds, Steps: 3."
                    await wait_for(lambda: len(progress) >= 3, 5.0, "three progress notifications")
                    assert progress == [(1.0, 3.0, "step 1 of 3"), (2.0, 3.0, "step 2 of 3"), (3.0, 3.0, "step 3 of 3")]

                    result = await session.call_tool("sampleLLM", {"prompt": "hello", "maxTokens": 12})
                    assert only_text(result) == f"LLM sampling result: {SAMPLED_TEXT}"
                    assert len(sampled) == 1, sampled

                    result = await session.call_tool("book_table", {"date": "2026-12-24", "partySize": 2})
                    assert only_text(result) == f"Booked a table for 2 on 2026-12-24. Notes: {BOOKING_NOTE}"
                    assert len(elicited) == 1, elicited

                    # The level is kept in the session's record: the next request, on another
                    # instance, obeys it.
                    await session.set_logging_level("error")
                    logs.clear()
                    result = await session.call_tool("emitLogMessages", {})
                    assert only_text(result) == "Sent a log message at every level"
                    await wait_for(lambda: len(logs) >= len(ERROR_AND_ABOVE), 5.0, "the error-and-above logs")
                    assert [message.level for message in logs] == ERROR_AND_ABOVE

                    await next_request_avoids(session, exchanges, exchanges.get_backend)
                    await session.subscribe_resource(SUBSCRIBED[0])
                    # The first update rides the subscribe request's own stream; the ones after
                    # it can only come on the GET stream, one per interval.
                    await wait_for(lambda: len(updated) >= 3, 4 * UPDATE_INTERVAL + 3, "three resource updates")
                    assert set(updated) == {SUBSCRIBED[0]}, updated
                    await next_request_avoids(session, exchanges, exchanges.get_backend)
            # Leaving the client sent the DELETE.

        session_ids = {e.session_id for e in exchanges if e.session_id}
        assert len(session_ids) == 1, session_ids
        (session_id,) = session_ids
        await assert_ended_everywhere(cluster, session_id)

    posts = [e for e in exchanges if e.method == "POST"]
    assert all(e.status in (200, 202) for e in posts), [(e.rpc, e.backend, e.status) for e in posts]
    assert {e.backend for e in posts} == names(cluster), [(e.rpc, e.backend) for e in posts]
    # Each server→client request rode its tool's stream; the client's answer went to another
    # instance (the next request through the round robin) and was relayed to the tool.
    answers = [n for n, e in enumerate(posts) if e.rpc == "answer"]
    assert len(answers) == 2, [(e.rpc, e.backend) for e in posts]
    for n in answers:
        asked = [e for e in posts[:n] if e.rpc == "tools/call"][-1]
        assert posts[n].backend != asked.backend, f"an answer went to the tool's own instance {asked.backend}"
    get_backend = exchanges.get_backend
    assert get_backend != exchanges.backend_of("initialize"), "the GET stream on the instance that made the session"
    assert get_backend != exchanges.backend_of("resources/subscribe"), "the subscription on the GET's instance"
    deletes = [e for e in exchanges if e.method == "DELETE"]
    assert len(deletes) == 1 and deletes[0].status in (200, 204), deletes
    assert deletes[0].backend != get_backend, "the DELETE on the GET stream's instance"


# --------------------------------------------------------------------------------------------
# The kill test: a session outlives each of its instances


@dataclass
class SseEvent:
    """One event of the GET stream, with the instance that sent it."""

    id: str
    message: dict[str, Any]
    backend: str

    @property
    def order(self) -> tuple[int, int]:
        """The id as the store orders it (`{ms}-{seq}` on Redis)."""
        ms, _, seq = self.id.partition("-")
        return int(ms), int(seq or 0)


@dataclass
class Opened:
    """One GET of the stream: where it went and the `Last-Event-ID` it carried."""

    at: float
    backend: str
    status: int
    last_event_id: str | None


@dataclass
class Call:
    started: float
    ended: float
    backend: str = ""
    error: str | None = None


class RawSession:
    """A 2025-11-25 session driven over plain HTTP, to see what the SDK hides: each POST's
    instance and answer, and the GET stream's reconnections with `Last-Event-ID` (what the
    SDK's own GET does, without its limit of two failed reconnections)."""

    def __init__(self, http: httpx2.AsyncClient, url: str) -> None:
        self.http = http
        self.url = url
        self.session_id = ""
        self.events: list[SseEvent] = []
        self.last_event_id: str | None = None
        """The id of the last event of any kind, data or not (an SSE client's last event ID)."""
        self.opened: list[Opened] = []
        self.initializes = 0

    def headers(self, accept: str) -> dict[str, str]:
        headers = {"Accept": accept, "MCP-Protocol-Version": SESSION_ERA}
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        return headers

    async def post(self, message: dict[str, Any]) -> tuple[httpx2.Response, dict[str, Any] | None]:
        """POSTs `message`; the response and, for a request, its JSON-RPC answer (from a JSON
        body or the SSE stream)."""
        response = await self.http.post(
            f"{self.url}/mcp", json=message, headers=self.headers("application/json, text/event-stream")
        )
        if "id" not in message or response.status_code != 200:
            return response, None
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            for chunk in response.text.replace("\r\n", "\n").split("\n\n"):
                data = "\n".join(line[5:].lstrip() for line in chunk.split("\n") if line.startswith("data:"))
                if data and json.loads(data).get("id") == message["id"]:
                    return response, json.loads(data)
            return response, None
        return response, response.json()

    async def initialize(self) -> None:
        self.initializes += 1
        response, answer = await self.post(
            {
                "jsonrpc": "2.0",
                "id": 0,
                "method": "initialize",
                "params": {
                    "protocolVersion": SESSION_ERA,
                    "capabilities": {},
                    "clientInfo": {"name": "outpost kill test", "version": "0"},
                },
            }
        )
        assert answer is not None and "result" in answer, f"HTTP {response.status_code}: {response.text}"
        self.session_id = response.headers["mcp-session-id"]
        response, _ = await self.post({"jsonrpc": "2.0", "method": "notifications/initialized"})
        assert response.status_code == 202, response.text

    async def request(self, call_id: int, method: str, params: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The instance that answered and the result; AssertionError for anything else."""
        response, answer = await self.post({"jsonrpc": "2.0", "id": call_id, "method": method, "params": params})
        backend = response.headers.get(BACKEND_HEADER, "")
        assert answer is not None and "result" in answer, f"HTTP {response.status_code} from {backend}: {response.text}"
        return backend, answer["result"]

    async def follow(self) -> None:
        """Holds the GET stream until cancelled, opening it again (with `Last-Event-ID` once an
        event with an id came) whenever it breaks."""
        while True:
            last = self.last_event_id
            headers = self.headers("text/event-stream")
            if last:
                headers["Last-Event-ID"] = last
            try:
                async with self.http.stream("GET", f"{self.url}/mcp", headers=headers) as response:
                    backend = response.headers.get(BACKEND_HEADER, "")
                    self.opened.append(Opened(time.monotonic(), backend, response.status_code, last))
                    if response.status_code == 200:
                        await self.read_events(response, backend)
            except httpx2.HTTPError:
                pass
            await anyio.sleep(0.1)

    async def read_events(self, response: httpx2.Response, backend: str) -> None:
        """Appends each event of an open GET stream to `events` until the stream ends."""
        event_id, data = None, []
        async for line in response.aiter_lines():
            if line.startswith("id:"):
                event_id = line[3:].strip()
            elif line.startswith("data:"):
                data.append(line[5:].lstrip())
            elif not line:
                if event_id is not None:
                    self.last_event_id = event_id
                text = "\n".join(data)
                if text and event_id:
                    self.events.append(SseEvent(event_id, json.loads(text), backend))
                event_id, data = None, []


@pytest.mark.anyio
async def test_session_survives_each_instance_killed_in_turn(cluster: Cluster) -> None:
    """A session calls `echo` in a loop on two workers while each instance in turn is SIGKILLed
    and started again, the GET stream's instance first, before any event came on it: the session
    is initialized once and never again; no call fails but those in flight at a kill; the GET
    stream resumes on another instance with `Last-Event-ID` each time its instance dies, and
    follows on: the resource subscriptions made after the first kill report on it, and no
    event comes twice (event ids only grow). The DELETE then ends the session everywhere."""
    workers, calls_between, settle = 2, 10, 1.0
    with anyio.fail_after(TEST_TIMEOUT):
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(10.0, read=30.0)) as http:
            client = RawSession(http, cluster.url)
            await client.initialize()
            calls: list[Call] = []
            ids = iter(range(100, 1_000_000))
            stop_calling = anyio.Event()

            async def worker() -> None:
                while not stop_calling.is_set():
                    call_id = next(ids)
                    call = Call(time.monotonic(), 0.0)
                    try:
                        call.backend, result = await client.request(
                            call_id, "tools/call", {"name": "echo", "arguments": {"message": f"call {call_id}"}}
                        )
                        assert result["content"][0]["text"] == f"Echo: call {call_id}", result
                    except (httpx2.HTTPError, AssertionError) as error:
                        call.error = repr(error)
                    call.ended = time.monotonic()
                    calls.append(call)

            kills: list[tuple[Instance, float, float]] = []

            async def kill_and_restart(victim: Instance) -> None:
                done = len(calls)
                await wait_for(lambda: len(calls) >= done + calls_between, 10.0, "calls before a kill")
                kill_sent = time.monotonic()
                await anyio.to_thread.run_sync(cluster.sigkill, victim)
                kills.append((victim, kill_sent, time.monotonic()))
                await anyio.sleep(settle)
                await anyio.to_thread.run_sync(cluster.start_instances, victim)

            async with anyio.create_task_group() as group:
                group.start_soon(client.follow)
                await wait_for(lambda: client.last_event_id is not None, 5.0, "the GET stream's priming event")
                first = next(i for i in cluster.instances if i.name == client.opened[0].backend)
                for _ in range(workers):
                    group.start_soon(worker)
                await kill_and_restart(first)
                for n, uri in enumerate(SUBSCRIBED, 1):
                    await client.request(n, "resources/subscribe", {"uri": uri})
                await wait_for(lambda: len(client.events) >= len(SUBSCRIBED), 4 * UPDATE_INTERVAL, "updates")
                for victim in cluster.instances:
                    if victim is not first:
                        await kill_and_restart(victim)
                done = len(calls)
                await wait_for(lambda: len(calls) >= done + calls_between, 10.0, "calls after the last restart")
                stop_calling.set()
                # The stream still follows: two more rounds of updates after the last restart.
                seen = len(client.events)
                await wait_for(
                    lambda: len(client.events) >= seen + 2 * len(SUBSCRIBED),
                    4 * UPDATE_INTERVAL + 2,
                    "events after the restarts",
                )
                group.cancel_scope.cancel()

            response, _ = await client.post({"jsonrpc": "2.0", "id": 1, "method": "ping"})
            assert response.status_code == 200, response.text
            deleted = await http.delete(f"{cluster.url}/mcp", headers=client.headers("application/json"))
            assert deleted.status_code in (200, 204), deleted.text
            await assert_ended_everywhere(cluster, client.session_id)

    assert client.initializes == 1

    # Only calls in flight at a kill may fail: sent from the kill until haproxy has seen the
    # victim's connections close.
    def in_flight(call: Call) -> bool:
        return any(call.started <= gone + KILL_NOTICED and call.ended >= sent for _, sent, gone in kills)

    failed = [call for call in calls if call.error]
    assert all(in_flight(call) for call in failed), [(c.started, c.error) for c in failed if not in_flight(c)]
    assert len(failed) <= workers * len(kills), failed
    assert {call.backend for call in calls if not call.error} == names(cluster)

    # The GET stream was opened again after each kill of its instance, elsewhere, resuming from
    # the last id it had (the first time, from its priming event: no update had come yet).
    assert all(opened.status == 200 for opened in client.opened), client.opened
    assert len(client.opened) >= 2, f"the GET stream never broke: {client.opened}"
    for before, after in zip(client.opened, client.opened[1:]):
        assert after.last_event_id is not None, "the GET stream was reopened without Last-Event-ID"
        assert after.backend != before.backend, f"the GET stream reopened on its dead instance {before.backend}"
    assert client.opened[1].at > kills[0][1], "the GET stream broke before its instance was killed"

    orders = [event.order for event in client.events]
    assert orders == sorted(orders) and len(set(orders)) == len(orders), [e.id for e in client.events]
    assert all(e.message.get("method") == "notifications/resources/updated" for e in client.events)
    assert {e.message["params"]["uri"] for e in client.events} == set(SUBSCRIBED)


@pytest.mark.anyio
@pytest.mark.filterwarnings("ignore::mcp.shared.exceptions.MCPDeprecationWarning")
async def test_sdk_get_stream_resumes_after_its_instance_is_killed(cluster: Cluster) -> None:
    """The SDK's own GET stream, its instance SIGKILLed: the SDK opens it again (after the
    server's `retry` hint) with `Last-Event-ID` through the balancer, another instance takes
    it, and the subscribed resource's updates keep coming on it; the session is never
    initialized again. (The SDK gives its GET stream two failed reconnections in all, so the
    kill test below drives its own.)"""
    exchanges = Exchanges()
    last_event_ids: list[str | None] = []
    updated: list[float] = []

    async def on_request(request: httpx2.Request) -> None:
        if request.method == "GET":
            last_event_ids.append(request.headers.get("last-event-id"))

    async def on_message(message: Any) -> None:
        if isinstance(message, types.ResourceUpdatedNotification):
            updated.append(time.monotonic())

    with anyio.fail_after(TEST_TIMEOUT):
        async with httpx2.AsyncClient(
            timeout=httpx2.Timeout(10.0, read=60.0),
            event_hooks={"request": [on_request], "response": [exchanges.record]},
        ) as http:
            async with streamable_http_client(f"{cluster.url}/mcp", http_client=http) as (read, write):
                async with ClientSession(read, write, message_handler=on_message) as session:
                    await session.initialize()
                    await wait_for(lambda: any(e.method == "GET" for e in exchanges), 5.0, "the SDK's GET stream")
                    holder = next(i for i in cluster.instances if i.name == exchanges.get_backend)
                    await session.subscribe_resource(SUBSCRIBED[0])
                    await wait_for(lambda: len(updated) >= 2, 3 * UPDATE_INTERVAL + 2, "updates on the GET stream")

                    await anyio.to_thread.run_sync(cluster.sigkill, holder)
                    killed_at = time.monotonic()
                    await wait_for(lambda: len(last_event_ids) >= 2, 10.0, "the SDK opening its GET stream again")
                    await wait_for(
                        lambda: sum(at > killed_at for at in updated) >= 2,
                        3 * UPDATE_INTERVAL + 2,
                        "updates on the resumed GET stream",
                    )
                    echo = await session.call_tool("echo", {"message": "still here"})
                    assert only_text(echo) == "Echo: still here"

    gets = [e for e in exchanges if e.method == "GET"]
    assert len(gets) == 2 and all(e.status == 200 for e in gets), gets
    assert gets[1].backend != holder.name, f"the GET stream reopened on its dead instance {holder.name}"
    assert last_event_ids[0] is None and last_event_ids[1], last_event_ids
    assert [e.rpc for e in exchanges].count("initialize") == 1


# --------------------------------------------------------------------------------------------
# The official conformance suites through the balancer


def test_conformance_suites_through_the_balancer(cluster: Cluster, tmp_path: Path) -> None:
    """The official MCP conformance server suites (2025-11-25 sessions, then 2026-07-28
    stateless) against the balancer's URL: every scenario passes with each request on the next
    instance."""
    if not CONFORMANCE_SUITE.is_file():
        pytest.fail(f"conformance suite runner not found at {CONFORMANCE_SUITE} (shared/ beside the repository)")
    before = len(cluster.balancer.requests())
    run = subprocess.run(
        ["bash", str(CONFORMANCE_SUITE), "server", f"{cluster.url}/mcp"],
        env={**os.environ, "CONFORMANCE_OUT": str(tmp_path / "results")},
        capture_output=True,
        text=True,
        timeout=CONFORMANCE_TIMEOUT,
    )
    report = f"{run.stdout}\n{run.stderr}\n(results in {tmp_path / 'results'})"
    assert run.returncode == 0, report
    for version in ("2025-11-25", "2026-07-28"):
        assert f"conformance-{version}:" in run.stdout and f"conformance-{version}: 0 passed" not in run.stdout, report
    served = {request.server for request in cluster.balancer.requests()[before:]}
    assert served == names(cluster), served
