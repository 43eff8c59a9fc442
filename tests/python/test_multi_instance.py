"""Three Outpost instances on one store behind a real load balancer (haproxy, round robin with
no affinity) behave as one server: the Python SDK's OAuth flow spread over the instances, a
rolling restart and a restart of them all, an instance killed under load, an MRTR
`requestState` handed out by one instance and completed on another, bursts of wrong client
secrets and wrong passwords held to one budget across the instances, and — with
`OUTPOST_MULTI_STORE=redis` — Redis going away and coming back. The harness is cluster.py; each
test gets its own cluster (fresh store, every process stopped at teardown and its log in the
report of a failed test).

Every async test runs under `anyio.fail_after` and every wait has a deadline, so a broken build
fails with a reason instead of hanging.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.sse import sse_client
from cluster import BACKEND_HEADER, STORE_MODE, Cluster, Redis, http_get, wait_until
from oauth_flow import (
    MODERN,
    PASSWORD,
    USER,
    WRONG_PASSWORD,
    CallbackListener,
    assert_whoami,
    authorized_storage,
    make_provider,
    post_form,
    whoami_session,
)
from processes import free_port, outpost_bin
from sdk_helpers import initialize_2024_11_05

TEST_TIMEOUT = 60.0
"""Upper bound on any one test (seconds), start-up of the cluster excluded."""
STORE_DOWN_ANSWER_SECONDS = 5.0
# How long an instance reuses a grant's revocation answer (Outpost's default).
REVOCATION_CACHE_SECONDS = 5.0
"""How fast /mcp must answer 503 once the store is unreachable."""
RECOVERY_DEADLINE = 15.0
"""How long Outpost may take to notice the store is back."""
KILL_NOTICED = 0.1
"""How long after a killed instance is gone haproxy may still hand it a request (seconds)."""

pytestmark = pytest.mark.multi_instance

needs_redis = pytest.mark.skipif(
    STORE_MODE != "redis", reason="needs OUTPOST_MULTI_STORE=redis (the Redis store backend)"
)

REQUEST_META = {
    "io.modelcontextprotocol/protocolVersion": MODERN,
    "io.modelcontextprotocol/clientCapabilities": {},
    "io.modelcontextprotocol/clientInfo": {"name": "outpost multi-instance test", "version": "0"},
}


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A started cluster (every instance ready and up for haproxy), stopped at teardown."""
    started = Cluster(tmp_path)
    try:
        started.start()
        yield started
    finally:
        started.close()


@pytest.fixture
def unready_cluster(tmp_path: Path) -> Iterator[Cluster]:
    """A started cluster whose balancer checks a path every instance answers 404: none is ready."""
    started = Cluster(tmp_path, check_path="/not-a-readiness-path")
    try:
        started.start()
        yield started
    finally:
        started.close()


@dataclass
class ToolAnswer:
    """What one stateless tools/call got back through the balancer."""

    status: int
    backend: str
    retry_after: str | None
    message: dict[str, Any] | None
    """The JSON-RPC response (from a JSON body or the SSE stream), if there was one."""
    body: str

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.message is not None and "result" in self.message

    def assert_whoami(self) -> None:
        assert self.ok, f"HTTP {self.status} from {self.backend}: {self.body}"
        assert self.message is not None
        assert_whoami(self.message["result"].get("structuredContent"))


async def call_tool(
    http: httpx2.AsyncClient,
    base_url: str,
    access_token: str,
    name: str,
    call_id: int,
    extra: dict[str, Any] | None = None,
) -> ToolAnswer:
    """One stateless 2026-07-28 tools/call of `name` (no arguments) with a bearer token;
    `extra` is added to its params (an MRTR retry's `inputResponses` and `requestState`)."""
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json, text/event-stream",
        "MCP-Protocol-Version": MODERN,
        "Mcp-Method": "tools/call",
        "Mcp-Name": name,
        "Authorization": f"Bearer {access_token}",
    }
    body = {
        "jsonrpc": "2.0",
        "id": call_id,
        "method": "tools/call",
        "params": {"name": name, "arguments": {}, **(extra or {}), "_meta": REQUEST_META},
    }
    response = await http.post(f"{base_url}/mcp", content=json.dumps(body), headers=headers)
    text = response.text
    message = None
    try:
        if response.headers.get("content-type", "").startswith("text/event-stream"):
            for event in text.replace("\r\n", "\n").split("\n\n"):
                data = "\n".join(line[5:].lstrip() for line in event.split("\n") if line.startswith("data:"))
                if data and json.loads(data).get("id") == call_id:
                    message = json.loads(data)
        else:
            message = json.loads(text)
    except ValueError:
        message = None
    return ToolAnswer(
        status=response.status_code,
        backend=response.headers.get(BACKEND_HEADER, ""),
        retry_after=response.headers.get("retry-after"),
        message=message,
        body=text,
    )


async def refresh(base_url: str, refresh_token: str, client_id: str) -> httpx2.Response:
    return await post_form(
        f"{base_url}/token", {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": client_id}
    )


def primaries(cluster: Cluster) -> list[str]:
    return [instance.name for instance in cluster.instances]


# --------------------------------------------------------------------------------------------
# The harness itself


def test_redis_restart_keeps_acknowledged_writes(tmp_path: Path) -> None:
    """The Redis the harness starts keeps what it acknowledged across a kill and a start on the
    same port and directory (so 'Redis back' in the tests below is the same data)."""
    redis = Redis(tmp_path, free_port())
    try:
        redis.start()
        assert redis.command("SET", "outpost-harness", "survives") == "OK"
        redis.stop()
        assert not redis.running
        redis.start()
        assert redis.command("GET", "outpost-harness") == "survives"
    finally:
        redis.stop()


def test_balancer_forwards_to_the_instances_when_none_is_ready(unready_cluster: Cluster) -> None:
    """With every instance failing its health check, haproxy still forwards (round robin over the
    fallback lines), so a client gets Outpost's own answer rather than haproxy's 503."""
    cluster = unready_cluster
    cluster.balancer.wait_for(primaries(cluster), "DOWN")
    served = []
    for _ in range(6):
        answer = http_get(f"{cluster.url}/.well-known/oauth-authorization-server")
        assert answer is not None, "the balancer did not answer"
        status, headers, body = answer
        assert status == 200, body
        assert json.loads(body)["issuer"] == cluster.url
        served.append(headers.get(BACKEND_HEADER.lower()))
    assert set(served) == {f"{name}-fallback" for name in primaries(cluster)}, served


# --------------------------------------------------------------------------------------------
# One server on three instances


def test_instances_started_together_on_a_fresh_store_all_come_up(cluster: Cluster) -> None:
    """Three `outpost serve --demo` started at the same moment on an empty store all come up with
    one signing key and the demo users once — three times over, each on a new store."""
    for round_ in range(3):
        if round_:
            cluster.sigkill(*cluster.instances)
            cluster.fresh_store()
            cluster.start_instances(*cluster.instances)
        jwks = set()
        for instance in cluster.instances:
            answer = http_get(f"{instance.url}/jwks.json")
            assert answer is not None and answer[0] == 200, f"{instance.name}: {answer}"
            jwks.add(answer[2])
        assert len(jwks) == 1, f"round {round_}: the instances publish different keys: {jwks}"
        assert json.loads(jwks.pop())["keys"], "no signing key published"
        users = subprocess.run(
            [str(outpost_bin()), "users", "list", *cluster.store_args()],
            env=cluster.env(),
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert users.returncode == 0, users.stderr
        names = [line.split()[0] for line in users.stdout.splitlines() if line.strip()]
        assert sorted(names) == ["alice", "bob"], users.stdout


@pytest.mark.anyio
async def test_sdk_oauth_flow_runs_over_all_instances_then_refreshes(
    cluster: Cluster, callback: CallbackListener
) -> None:
    """The SDK's whole flow (discovery, DCR, /authorize, a wrong then the right password, consent,
    /token, a session calling whoami) through the balancer, its steps on different instances; then
    the SDK refreshes its expired token and calls again."""
    with anyio.fail_after(TEST_TIMEOUT):
        sdk_requests: list[tuple[str, str]] = []

        async def record(response: httpx2.Response) -> None:
            sdk_requests.append((response.request.url.path, response.headers.get(BACKEND_HEADER, "")))

        provider, storage, browser = make_provider(cluster.url, callback)
        async with httpx2.AsyncClient(auth=provider, timeout=20, event_hooks={"response": [record]}) as http:
            assert_whoami(await whoami_session(cluster.url, http))
            browser.assert_wrong_then_right(cluster.url)
            first = storage.tokens
            assert first is not None and first.refresh_token
            provider.context.token_expiry_time = time.time() - 1
            assert_whoami(await whoami_session(cluster.url, http))
        second = storage.tokens
        assert len(browser.authorize_urls) == 1, "the refresh grant should have avoided a second login"
        assert second is not None and second.access_token != first.access_token
        assert second.refresh_token and second.refresh_token != first.refresh_token, "refresh token not rotated"

        assert {backend for _, backend in sdk_requests} == set(primaries(cluster)), sdk_requests
        # The browser's steps are seen in haproxy's log only.
        logged = cluster.balancer.requests()
        assert all(r.server in primaries(cluster) for r in logged), logged
        step_servers = {
            path: [r.server for r in logged if r.path == path]
            for path in ("/register", "/authorize", "/login", "/consent", "/token")
        }
        assert all(step_servers.values()), f"a step missing from haproxy's log: {step_servers}"
        first_steps = {servers[0] for servers in step_servers.values()}
        assert len(first_steps) >= 2, f"the flow's steps all ran on one instance: {step_servers}"
        assert {r.server for r in logged} == set(primaries(cluster)), logged


@pytest.mark.anyio
async def test_restarts_keep_tokens_working(cluster: Cluster, callback: CallbackListener) -> None:
    """A rolling restart (SIGTERM and start each instance in turn) leaves the access token
    working throughout; then SIGKILL all three and start them again on the same store: the
    refresh token issued before still works, and the new access token calls a tool."""
    with anyio.fail_after(TEST_TIMEOUT):
        storage = await authorized_storage(cluster.url, callback)
        assert storage.tokens is not None and storage.tokens.refresh_token and storage.client_info is not None
        async with httpx2.AsyncClient(timeout=10) as http:
            for n, instance in enumerate(cluster.instances):
                cluster.restart(instance)
                (await call_tool(http, cluster.url, storage.tokens.access_token, "whoami", n)).assert_whoami()

            cluster.sigkill(*cluster.instances)
            cluster.start_instances(*cluster.instances)

            renewed = await refresh(cluster.url, storage.tokens.refresh_token, storage.client_info.client_id)
            assert renewed.status_code == 200, renewed.text
            access = renewed.json()["access_token"]
            answers = [await call_tool(http, cluster.url, access, "whoami", n) for n in range(3)]
        for answer in answers:
            answer.assert_whoami()
        assert {a.backend for a in answers} == set(primaries(cluster)), [a.backend for a in answers]


@dataclass
class Call:
    started: float
    ended: float
    answer: ToolAnswer | None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.answer is not None and self.answer.ok


@pytest.mark.anyio
async def test_instance_killed_while_a_client_calls_tools(cluster: Cluster, callback: CallbackListener) -> None:
    """Three workers call whoami in a loop (stateless 2026-07-28) while one instance is SIGKILLed:
    only calls in flight at the kill may fail, every later call succeeds on the other two, haproxy
    marks the dead one down, and once restarted it serves again."""
    workers, before_kill, after_kill, settle = 3, 30, 30, 3.0
    with anyio.fail_after(TEST_TIMEOUT):
        storage = await authorized_storage(cluster.url, callback)
        assert storage.tokens is not None
        token = storage.tokens.access_token
        victim = cluster.instances[1]
        calls: list[Call] = []
        stop = anyio.Event()
        ids = iter(range(1, 1_000_000))

        async def worker(http: httpx2.AsyncClient) -> None:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    answer = await call_tool(http, cluster.url, token, "whoami", next(ids))
                    calls.append(Call(started, time.monotonic(), answer))
                except httpx2.HTTPError as error:
                    calls.append(Call(started, time.monotonic(), None, repr(error)))

        async with httpx2.AsyncClient(timeout=10) as http:
            async with anyio.create_task_group() as group:
                for _ in range(workers):
                    group.start_soon(worker, http)
                while len(calls) < before_kill:
                    await anyio.sleep(0.01)
                kill_sent = time.monotonic()
                await anyio.to_thread.run_sync(cluster.sigkill, victim)
                kill_done = time.monotonic()
                while time.monotonic() - kill_done < settle or sum(c.started > kill_done for c in calls) < after_kill:
                    await anyio.sleep(0.05)
                stop.set()

        assert all(c.ok for c in calls if c.ended < kill_sent), "calls failed before the kill"
        failed = [c for c in calls if not c.ok]
        # In flight on the victim: sent to it from the kill until haproxy's event loop has seen its
        # connections close (KILL_NOTICED after the process is gone); haproxy closes the client's
        # connection for a request the instance died under, as the instance itself would have.
        in_flight = [c for c in calls if c.started <= kill_done + KILL_NOTICED and c.ended >= kill_sent]
        assert all(c in in_flight for c in failed), [
            (c.started - kill_sent, c.error or (c.answer and c.answer.status)) for c in failed
        ]
        assert len(failed) <= workers, failed
        later = [c for c in calls if c.started > kill_done + KILL_NOTICED]
        assert all(c.ok for c in later), [c.error or c.answer for c in later if not c.ok]
        assert {c.answer.backend for c in later if c.answer} == {i.name for i in cluster.instances if i is not victim}
        cluster.balancer.wait_for([victim.name], "DOWN", deadline=settle)

        cluster.restart(victim)
        async with httpx2.AsyncClient(timeout=10) as http:
            answers = [await call_tool(http, cluster.url, token, "whoami", n) for n in range(6)]
        for answer in answers:
            answer.assert_whoami()
        assert {a.backend for a in answers} == set(primaries(cluster)), [a.backend for a in answers]


# --------------------------------------------------------------------------------------------
# 2024-11-05 HTTP+SSE: the stream on one instance, the POSTs on the others


@needs_redis
@pytest.mark.anyio
async def test_2024_sse_client_posts_to_other_instances_than_its_stream(
    cluster: Cluster, callback: CallbackListener
) -> None:
    """The SDK's 2024-11-05 client holds `/sse` on one instance while haproxy spreads its
    `/message` POSTs over all three: initialize, tools/list and tools/call succeed, their answers
    arriving on the stream; once the stream closes, its session is unknown on every instance."""
    with anyio.fail_after(TEST_TIMEOUT):
        storage = await authorized_storage(cluster.url, callback)
        assert storage.tokens is not None
        headers = {"Authorization": f"Bearer {storage.tokens.access_token}"}
        async with sse_client(f"{cluster.url}/sse", headers=headers) as (read, write):
            async with ClientSession(read, write) as session:
                await initialize_2024_11_05(session, "outpost multi-instance test")
                tools = await session.list_tools()
                assert "echo" in {tool.name for tool in tools.tools}
                for n in range(4):
                    echo = await session.call_tool("echo", {"message": f"hello {n}"})
                    assert not echo.is_error, echo.content
                    assert echo.content[0].text == f"Echo: hello {n}"
                whoami = await session.call_tool("whoami", {})
                assert_whoami(whoami.structured_content)

        logged = cluster.balancer.requests()
        stream_servers = {r.server for r in logged if r.path.startswith("/sse")}
        post_servers = {r.server for r in logged if r.path.startswith("/message") and r.method == "POST"}
        assert len(stream_servers) == 1, logged
        assert post_servers - stream_servers, f"no POST reached another instance than {stream_servers}"
        assert all(r.status == 202 for r in logged if r.path.startswith("/message")), logged

        # A stream closed: its session is gone on every instance.
        async with httpx2.AsyncClient(timeout=10) as http:
            endpoint = ""
            async with http.stream("GET", f"{cluster.url}/sse", headers=headers) as stream:
                async for line in stream.aiter_lines():
                    if line.startswith("data:"):
                        endpoint = line[5:].strip()
                        break
            assert endpoint.startswith("/message?sessionId="), endpoint
            deadline = time.monotonic() + 10
            statuses: list[int] = []
            while time.monotonic() < deadline:
                statuses = [
                    (
                        await http.post(
                            f"{cluster.url}{endpoint}",
                            headers={**headers, "Content-Type": "application/json"},
                            content=json.dumps({"jsonrpc": "2.0", "id": 99, "method": "ping"}),
                        )
                    ).status_code
                    for _ in range(len(cluster.instances))
                ]
                if statuses == [404] * len(cluster.instances):
                    break
                await anyio.sleep(0.2)
            assert statuses == [404] * len(cluster.instances), statuses


# --------------------------------------------------------------------------------------------
# Multi round-trip requests (SEP-2322): the retry on another instance


MRTR_TOOL = "test_input_required_result_request_state"
MRTR_ANSWER = {"inputResponses": {"confirm": {"action": "accept", "content": {"ok": True}}}}


def request_state(answer: ToolAnswer) -> str:
    """The sealed `requestState` of an `input_required` first leg."""
    assert answer.ok, f"HTTP {answer.status} from {answer.backend}: {answer.body}"
    assert answer.message is not None
    result = answer.message["result"]
    assert result.get("resultType") == "input_required", result
    assert isinstance(result.get("requestState"), str) and result["requestState"], result
    return result["requestState"]


def assert_confirmed(answer: ToolAnswer) -> None:
    assert answer.ok, f"HTTP {answer.status} from {answer.backend}: {answer.body}"
    assert answer.message is not None
    result = answer.message["result"]
    assert result.get("resultType", "complete") == "complete", result
    assert result["content"][0]["text"] == "Confirmed: state-ok", result


def tampered(state: str) -> str:
    """`state` with one character in its middle changed (same length, same alphabet)."""
    middle = len(state) // 2
    return state[:middle] + ("A" if state[middle] != "A" else "B") + state[middle + 1 :]


@pytest.mark.anyio
async def test_request_state_from_one_instance_is_accepted_by_another(
    cluster: Cluster, callback: CallbackListener
) -> None:
    """The MRTR tool's first leg on one instance, its retry with the sealed `requestState` on
    another (the instances' own ports, then through the balancer): the retry completes, as the
    request-state keys are the store's. A tampered `requestState` is refused (-32602)."""
    with anyio.fail_after(TEST_TIMEOUT):
        storage = await authorized_storage(cluster.url, callback)
        assert storage.tokens is not None
        token = storage.tokens.access_token
        one, two, three = cluster.instances
        async with httpx2.AsyncClient(timeout=10) as http:
            state = request_state(await call_tool(http, one.url, token, MRTR_TOOL, 1))
            retry = await call_tool(http, two.url, token, MRTR_TOOL, 2, {**MRTR_ANSWER, "requestState": state})
            assert_confirmed(retry)

            # Through haproxy: round robin with nothing else in flight sends the two legs to
            # two instances.
            first = await call_tool(http, cluster.url, token, MRTR_TOOL, 3)
            state = request_state(first)
            retry = await call_tool(http, cluster.url, token, MRTR_TOOL, 4, {**MRTR_ANSWER, "requestState": state})
            assert_confirmed(retry)
            assert {first.backend, retry.backend} <= set(primaries(cluster)), (first.backend, retry.backend)
            assert first.backend != retry.backend, f"both legs on {first.backend}"

            # A forged state: refused wherever it lands, as a JSON-RPC error naming requestState.
            for n, base_url in enumerate((three.url, cluster.url), 5):
                refused = await call_tool(
                    http, base_url, token, MRTR_TOOL, n, {**MRTR_ANSWER, "requestState": tampered(state)}
                )
                assert not refused.ok, f"a tampered requestState was accepted: {refused.body}"
                assert refused.message is not None, f"HTTP {refused.status}: {refused.body}"
                error = refused.message.get("error") or {}
                assert error.get("code") == -32602, refused.body
                assert "requestState" in error.get("message", ""), refused.body


# --------------------------------------------------------------------------------------------
# Throttles hold per deployment: a burst through the balancer is spread over the three
# instances, and every instance reserves its attempts in the one store before the argon2 work.
#
# Every request reaches Outpost from 127.0.0.1 (haproxy, or the test itself on an instance's
# own port; the cluster passes no --trusted-proxy, so X-Forwarded-For is not read): one source.
# Each test has a store of its own, so no budget starts partly spent.

CLIENT_FAILURES_PER_CLIENT = 10
"""throttle.rs: failed client requests per source and client id (10 per 10 min). The per-source
budget (100) is reserved first and given back when the per-client one refuses, so a burst of 30
never reaches it: the per-client budget binds."""
LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE = 5
"""throttle.rs: failed logins per account from one source (5 per 15 min). It binds for one
source: the per-source budget (20) is given back when it refuses, so a burst of 15 holds at most
15 < 20 at once; the per-account budget (10) then never refuses (at most 5 reach it), so the
clean-source lane — tried only when the per-account budget refuses — is never used."""
REDIRECT_URI = "http://127.0.0.1:9/callback"


@dataclass
class Answered:
    """One HTTP answer of a burst, with the instance that gave it."""

    status: int
    backend: str
    retry_after: str | None
    body: str


async def burst(count: int, send: Any) -> list[Answered]:
    """`count` calls of `send()` (an awaitable HTTP request) released at the same moment."""
    go = anyio.Event()
    answers: list[Answered] = []

    async def one() -> None:
        await go.wait()
        response = await send()
        answers.append(
            Answered(
                response.status_code,
                response.headers.get(BACKEND_HEADER, ""),
                response.headers.get("retry-after"),
                response.text,
            )
        )

    async with anyio.create_task_group() as group:
        for _ in range(count):
            group.start_soon(one)
        await anyio.sleep(0.1)
        go.set()
    return answers


def assert_refused(answer: Answered, what: str) -> None:
    assert answer.status == 429, f"{what}: HTTP {answer.status} from {answer.backend}: {answer.body[:300]}"
    assert answer.retry_after and int(answer.retry_after) > 0, f"{what}: 429 without Retry-After"


async def register_client(http: httpx2.AsyncClient, base_url: str, auth_method: str) -> dict[str, Any]:
    """A client registered through DCR (RFC 7591) with `auth_method` at the token endpoint."""
    response = await http.post(
        f"{base_url}/register",
        json={
            "redirect_uris": [REDIRECT_URI],
            "client_name": "outpost multi-instance burst",
            "grant_types": ["authorization_code", "refresh_token"],
            "response_types": ["code"],
            "token_endpoint_auth_method": auth_method,
        },
    )
    assert response.status_code == 201, response.text
    return response.json()


@pytest.mark.anyio
async def test_wrong_client_secrets_are_limited_per_deployment(cluster: Cluster) -> None:
    """30 concurrent /token requests with a wrong client secret through the balancer (10 per
    instance): exactly the per-client budget of them are evaluated (401 invalid_client), the
    rest refused (429 + Retry-After) — one budget across the instances, not one each. Then the
    right secret is refused too, through the balancer and on every instance."""
    with anyio.fail_after(TEST_TIMEOUT):
        async with httpx2.AsyncClient(timeout=20, limits=httpx2.Limits(max_connections=100)) as http:
            client = await register_client(http, cluster.url, "client_secret_post")
            assert client.get("client_secret"), client

            def exchange(base_url: str, secret: str) -> Any:
                form = {
                    "grant_type": "authorization_code",
                    "code": secrets.token_urlsafe(32),
                    "redirect_uri": REDIRECT_URI,
                    "code_verifier": secrets.token_urlsafe(48),
                    "client_id": client["client_id"],
                    "client_secret": secret,
                }
                return http.post(f"{base_url}/token", data=form)

            answers = await burst(30, lambda: exchange(cluster.url, "not-the-secret"))
            assert {a.backend for a in answers} == set(primaries(cluster)), [a.backend for a in answers]
            evaluated = [a for a in answers if a.status == 401]
            for answer in evaluated:
                assert json.loads(answer.body)["error"] == "invalid_client", answer.body
            for answer in answers:
                if answer.status != 401:
                    assert_refused(answer, "a wrong secret past the budget")
                    assert json.loads(answer.body)["error"] == "too_many_requests", answer.body
            assert len(evaluated) == CLIENT_FAILURES_PER_CLIENT, [(a.backend, a.status) for a in answers]

            # Refused before the secret is checked: the right one gets no further now.
            for base_url in (cluster.url, *(i.url for i in cluster.instances)):
                response = await exchange(base_url, client["client_secret"])
                assert_refused(
                    Answered(response.status_code, base_url, response.headers.get("retry-after"), response.text),
                    "the right secret after the burst",
                )


def hidden_field(page: str, name: str) -> str:
    found = re.search(rf'<input type="hidden" name="{name}" value="([^"]*)"', page)
    assert found, f"no hidden {name!r} field in the login page: {page[:2000]}"
    return found.group(1)


@pytest.mark.anyio
async def test_wrong_passwords_are_limited_per_deployment(cluster: Cluster) -> None:
    """15 concurrent wrong-password logins for alice through the balancer (5 per instance), on
    one pending authorization request: exactly the per-account-and-source budget of them are
    evaluated (401, the form again with its error), the rest refused (429 + Retry-After). Then
    alice's right password is refused too, through the balancer and on every instance."""
    with anyio.fail_after(TEST_TIMEOUT):
        async with httpx2.AsyncClient(timeout=20, limits=httpx2.Limits(max_connections=100)) as http:
            client = await register_client(http, cluster.url, "none")
            verifier = secrets.token_urlsafe(48)
            challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
            page = await http.get(
                f"{cluster.url}/authorize",
                params={
                    "response_type": "code",
                    "client_id": client["client_id"],
                    "redirect_uri": REDIRECT_URI,
                    "code_challenge": challenge,
                    "code_challenge_method": "S256",
                    "state": secrets.token_urlsafe(16),
                    "scope": "mcp",
                },
            )
            assert page.status_code == 200, page.text
            # The CSRF cookie (outpost_csrf) stays in the client's jar, as in a browser.
            form = {"request": hidden_field(page.text, "request"), "csrf": hidden_field(page.text, "csrf")}

            def login(base_url: str, password: str) -> Any:
                return http.post(f"{base_url}/login", data={**form, "username": USER, "password": password})

            answers = await burst(15, lambda: login(cluster.url, WRONG_PASSWORD))
            assert {a.backend for a in answers} == set(primaries(cluster)), [a.backend for a in answers]
            evaluated = [a for a in answers if a.status == 401]
            for answer in evaluated:
                assert "Wrong username or password." in answer.body, answer.body[:2000]
            for answer in answers:
                if answer.status != 401:
                    assert_refused(answer, "a wrong password past the budget")
                    assert "Too many failed sign-in attempts" in answer.body, answer.body[:2000]
            assert len(evaluated) == LOGIN_FAILURES_PER_ACCOUNT_AND_SOURCE, [(a.backend, a.status) for a in answers]

            for base_url in (cluster.url, *(i.url for i in cluster.instances)):
                response = await login(base_url, PASSWORD)
                assert_refused(
                    Answered(response.status_code, base_url, response.headers.get("retry-after"), response.text),
                    "the right password after the burst",
                )


# --------------------------------------------------------------------------------------------
# Redis down, then back (needs the Redis store backend and /ready)


def assert_ready_everywhere(cluster: Cluster, status: int) -> None:
    """Waits until GET /ready on every instance answers `status` with a JSON body."""

    def all_answer() -> bool:
        answers = [http_get(f"{instance.url}/ready") for instance in cluster.instances]
        return all(a is not None and a[0] == status and json.loads(a[2]) is not None for a in answers)

    wait_until(all_answer, RECOVERY_DEADLINE, f"/ready answering {status} on every instance")


@needs_redis
@pytest.mark.anyio
async def test_redis_down_then_back(cluster: Cluster, callback: CallbackListener) -> None:
    """Redis stopped: /ready answers 503 naming the store on every instance, /mcp through the
    balancer answers Outpost's own 503 with Retry-After within 5 s, /token answers 503
    temporarily_unavailable. Redis started again: tool calls and token refresh work with no
    Outpost restart, and nothing written before the outage is lost."""
    assert cluster.redis is not None
    with anyio.fail_after(TEST_TIMEOUT):
        storage = await authorized_storage(cluster.url, callback)
        assert storage.tokens is not None and storage.tokens.refresh_token and storage.client_info is not None
        client_id = storage.client_info.client_id
        renewed = await refresh(cluster.url, storage.tokens.refresh_token, client_id)
        assert renewed.status_code == 200, renewed.text
        access, refresh_token = renewed.json()["access_token"], renewed.json()["refresh_token"]
        # An instance reuses a grant's "not revoked" answer for the revocation cache's TTL, so
        # a token of a grant checked that recently keeps working through an outage. Past it,
        # the grant check must reach the store.
        await anyio.sleep(REVOCATION_CACHE_SECONDS + 1)

        cluster.redis.stop()
        async with httpx2.AsyncClient(timeout=STORE_DOWN_ANSWER_SECONDS + 5) as http:
            started = time.monotonic()
            answer = await call_tool(http, cluster.url, access, "whoami", 1)
            took = time.monotonic() - started
            assert answer.status == 503, f"HTTP {answer.status} from {answer.backend}: {answer.body}"
            assert took < STORE_DOWN_ANSWER_SECONDS, f"/mcp took {took:.1f}s to answer 503"
            assert answer.retry_after, "503 without Retry-After"
            assert answer.message is not None and "error" in answer.message, answer.body
            assert answer.backend.startswith("outpost"), f"not Outpost's answer: {answer.backend!r}"

            await anyio.to_thread.run_sync(assert_ready_everywhere, cluster, 503)
            for instance in cluster.instances:
                status, _, body = http_get(f"{instance.url}/ready") or (0, {}, b"")
                assert status == 503 and b"store" in body.lower(), f"{instance.name}: {status} {body!r}"
            # haproxy has every instance down and forwards to them all the same.
            await anyio.to_thread.run_sync(cluster.balancer.wait_for, primaries(cluster), "DOWN")
            answer = await call_tool(http, cluster.url, access, "whoami", 2)
            assert answer.status == 503 and answer.retry_after, f"HTTP {answer.status}: {answer.body}"
            assert answer.backend.endswith("-fallback"), answer.backend

            unavailable = await refresh(cluster.url, refresh_token, client_id)
            assert unavailable.status_code == 503, unavailable.text
            assert unavailable.json().get("error") == "temporarily_unavailable", unavailable.text

            cluster.redis.start()
            await anyio.to_thread.run_sync(assert_ready_everywhere, cluster, 200)
            await anyio.to_thread.run_sync(cluster.balancer.wait_for, primaries(cluster), "UP")
            (await call_tool(http, cluster.url, access, "whoami", 3)).assert_whoami()
            renewed = await refresh(cluster.url, refresh_token, client_id)
            assert renewed.status_code == 200, renewed.text
            (await call_tool(http, cluster.url, renewed.json()["access_token"], "whoami", 4)).assert_whoami()

