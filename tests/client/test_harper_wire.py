"""The client against Harper 5.1.14's real wire (captures replayed on loopback with their timing):
times and durations are the server's, only what is known is said, and every read recovers."""

from __future__ import annotations

import io
import json
import time
from typing import Any

import pytest

from deploytui.client.api import OPTIONAL_OPERATIONS, TWO_PHASE, ConnectionSettings, OperationsClient, single_attempts
from deploytui.client.attach import attach
from deploytui.client.attach.alignment import log_events, with_logged_time
from deploytui.client.attach.connection import in_band_refusal
from deploytui.client.errors import ConnectionFailed, NotFoundError, NotSupported
from deploytui.client.local import LocalServer
from deploytui.client.retry import RetryPolicy, retryable
from deploytui.client.sse import sendable_event_id
from deploytui.commands.watch_cmd import watch_raw
from deploytui.protocol.events import DoneEvent, ErrorEvent, InstallEvent, TruncatedEvent, parse_event
from deploytui.protocol.sse import SSEMessage
from tests.client.harper_replay import (
    MISSING_ID,
    P1_ID,
    PLIVE_ID,
    HarperReplay,
    json_capture,
    load_capture,
    sse_capture,
)
from tests.client.tcp_proxy import TcpProxy
from tests.client.test_attach import FAST, client_for, collect, start_demo

pytestmark = pytest.mark.timeout(60)
ID = "0b0e0f0a-1111-4222-8333-444455556666"
PREPARE_START = 'event: phase\ndata: {"phase":"prepare","status":"start"}\n\n'


def replay_client(harper: HarperReplay) -> OperationsClient:
    return OperationsClient(ConnectionSettings(harper.url, user=harper.user, password=harper.password), retry=FAST)


def row_of(name: str) -> dict[str, Any]:
    return json.loads(load_capture(name).body)


def running_row(**extra: Any) -> dict[str, Any]:
    return {"deployment_id": ID, "project": "x", "status": "pending", "phase": "prepare", "event_log": [],
            "started_at": 1_000, "completed_at": None, **extra}


# ---- §1 times ----------------------------------------------------------------------------------


async def test_replayed_events_take_their_times_from_the_row_event_log() -> None:
    """Harper's events carry no time: each gets the time of its event_log entry, marked so."""
    with HarperReplay() as harper:
        async with replay_client(harper) as api:
            got = await collect(attach(api, PLIVE_ID))
    logged = [entry["t"] for entry in row_of("get-plive")["event_log"]]
    delivered = [e for e in got if not isinstance(e, DoneEvent)]
    assert [e.t for e in delivered] == logged
    assert {e.t_source for e in delivered} == {"event_log"}


async def test_a_stale_done_row_is_read_again() -> None:
    """Harper's final done carries the row as it was before its terminal write (pending, no
    completed_at): the row is read again and the done delivered with it."""
    stale = json.loads(load_capture("get-plive-live-sse").body.decode().split("event: done\ndata: ")[1])["result"]
    assert stale["status"] == "pending" and stale["completed_at"] is None  # what the capture holds
    with HarperReplay() as harper:
        async with replay_client(harper) as api:
            got = await collect(attach(api, PLIVE_ID))
    done = got[-1]
    assert isinstance(done, DoneEvent)
    assert done.result["status"] == "success" and done.result["completed_at"] == row_of("get-plive")["completed_at"]
    assert done.wire_data() == {"result": done.result}


async def test_deploy_stream_events_are_stamped_when_received() -> None:
    """A deploy's own stream has no row to take times from: receipt time, said to be so."""
    with HarperReplay({("deploy_component", True): ["deploy-p1-sse"]}) as harper:
        async with replay_client(harper) as api, api.deploy_stream({"project": "p1"}, b"tarball") as stream:
            before = int(time.time() * 1000)
            got = await collect(attach(api, None, initial_stream=stream))
    assert got and all(e.t is not None and e.t >= before and e.t_source == "received" for e in got)
    assert isinstance(got[-1], DoneEvent)


# ---- §2 say only what is known -------------------------------------------------------------------


async def test_an_unknown_id_answered_in_band_is_not_found() -> None:
    """Harper: HTTP 200, ``event: error`` with code 400: the same NotFoundError as a 404."""
    routes = {("get_deployment", False, MISSING_ID): [json_capture(running_row(deployment_id=MISSING_ID))]}
    with HarperReplay(routes) as harper:
        async with replay_client(harper) as api:
            attachment = attach(api, MISSING_ID)
            with pytest.raises(NotFoundError, match="No deployment found"):
                await collect(attachment)
    assert attachment.state.kind == "failed"


async def test_operations_harper_lacks_are_learnt_once() -> None:
    with HarperReplay() as harper:
        async with replay_client(harper) as api:
            # Harper 5.1.14 has none of them, and no two-phase deploys either.
            assert await api.learn_operations() == dict.fromkeys((*OPTIONAL_OPERATIONS, TWO_PHASE), False)
            asked = len(harper.requests)
            assert await api.learn_operations() == dict.fromkeys((*OPTIONAL_OPERATIONS, TWO_PHASE), False)
            assert len(harper.requests) == asked  # once per server
            assert api.supports("revert_component") is False
            with pytest.raises(NotSupported):
                await api.get_deployment_payload(P1_ID)
    # Probes carry no arguments, so a server that has the operation changes nothing.
    probes = [r for r in harper.requests[:asked] if r.operation in OPTIONAL_OPERATIONS]
    assert len(probes) == len(OPTIONAL_OPERATIONS) and all(set(r.body) == {"operation"} for r in probes)


async def test_our_server_offers_every_operation(server: LocalServer) -> None:
    async with client_for(server.url) as api:
        assert await api.learn_operations() == dict.fromkeys((*OPTIONAL_OPERATIONS, TWO_PHASE), True)


async def test_our_server_on_the_harper_wire_offers_no_two_phase(harper_server: LocalServer) -> None:
    """``--wire harper`` is Harper 5.1.14: stage-only and activate are not offered against it."""
    async with client_for(harper_server.url) as api:
        assert (await api.learn_operations())[TWO_PHASE] is False


# ---- attach.py: in-band errors, sticky ids, gaps -------------------------------------------------


async def test_an_in_band_5xx_refusal_is_retried_not_delivered() -> None:
    refusal = sse_capture(': stream open\n\nevent: error\ndata: {"message":"busy","code":503}\n\n')
    with HarperReplay({("get_deployment", True, P1_ID): [refusal, "get-p1-sse"]}) as harper:
        async with replay_client(harper) as api:
            attachment = attach(api, P1_ID)
            got = await collect(attachment)
    assert not any(isinstance(e, ErrorEvent) for e in got)
    assert isinstance(got[-1], DoneEvent) and got[-1].result["status"] == "success"
    assert harper.operations().count(("get_deployment", True)) == 2
    assert attachment.state.kind == "done" and attachment.state.message is None


async def test_an_error_without_id_after_a_resume_is_not_a_duplicate() -> None:
    """Reconnecting with Last-Event-ID 2, an ``error`` without its own id carries the stream's last
    event id "2" (sticky, per the spec): it is a new event, not seq 2 again."""
    first = sse_capture('retry: 10\n\nid: 1\n' + PREPARE_START +
                        'id: 2\nevent: install\ndata: {"manager":"npm","stream":"stdout","line":"x"}\n\n')
    failure = sse_capture('event: error\ndata: {"message":"install failed","code":500,"phase":"prepare"}\n\n')
    failed = {**running_row(), "status": "failed", "completed_at": 2_000,
              "error": {"message": "install failed", "phase": "prepare"}}
    routes = {("get_deployment", True, ID): [first, failure],
              ("get_deployment", False, ID): [json_capture(running_row()), json_capture(running_row()),
                                              json_capture(failed)]}
    with HarperReplay(routes) as harper:
        async with replay_client(harper) as api:
            got = await collect(attach(api, ID, events_api=False, trust_marker_count=True))
    assert [r.headers.get("last-event-id") for r in harper.requests if r.sse] == [None, "2"]
    errors = [e for e in got if isinstance(e, ErrorEvent)]
    assert len(errors) == 1 and errors[0].message == "install failed"


async def test_with_ids_a_gap_that_cannot_be_fetched_is_said() -> None:
    stream = sse_capture('id: 1\n' + PREPARE_START +
                         'id: 2\nevent: install\ndata: {"manager":"npm","stream":"stdout","line":"a"}\n\n'
                         'id: 5\nevent: install\ndata: {"manager":"npm","stream":"stdout","line":"b"}\n\n'
                         'event: done\ndata: {"result":{"deployment_id":"%s","status":"success","event_log":[]}}\n\n' % ID)
    routes = {("get_deployment", True, ID): [stream], ("get_deployment", False, ID): [json_capture(running_row())]}
    with HarperReplay(routes) as harper:
        async with replay_client(harper) as api:
            got = await collect(attach(api, ID, events_api=False, trust_marker_count=True))
    notices = [e for e in got if isinstance(e, TruncatedEvent)]
    assert len(notices) == 1 and notices[0].dropped_events == 2 and notices[0].exact
    lines = [e.line for e in got if isinstance(e, InstallEvent)]
    assert lines == ["a", "b"] and got.index(notices[0]) == 2  # between seq 2 and seq 5


async def test_raw_watch_sends_the_last_event_id_trimmed() -> None:
    """``id:  7 `` keeps its spaces (the spec); the header sent back is ``7``, and watch ends."""
    first = sse_capture('retry: 10\n\nid:  7 \n' + PREPARE_START)
    done = sse_capture('event: done\ndata: {"result":{"deployment_id":"%s","status":"success"}}\n\n' % ID)
    with HarperReplay({("get_deployment", True, ID): [first, done]}) as harper:
        async with replay_client(harper) as api:
            code = await watch_raw(api, ID, io.StringIO())
    assert code == 0
    streams = [r for r in harper.requests if r.sse]
    assert len(streams) == 2 and streams[1].headers.get("last-event-id") == "7"


# ---- §3 every read recovers; writes are not repeated ---------------------------------------------


async def test_reads_are_retried_through_cut_connections(server: LocalServer) -> None:
    """The first three connections cut at 4 KB: get_deployment and list_deployments still answer."""
    async with client_for(server.url) as api:
        deployment_id = await start_demo(api, "chatty")
        await collect(attach(api, deployment_id))
    async with TcpProxy(server.url, cut_after_bytes=4096, cut_connections=3) as proxy:
        retries: list[str] = []
        async with client_for(proxy.url) as through:
            through.on_retry = lambda op, attempt, delay, error: retries.append(op)
            row = await through.get_deployment(deployment_id)
            listing = await through.list_deployments(limit=5)
    assert row["status"] == "success" and listing["total"] >= 1
    assert retries == ["get_deployment"] * 3 and proxy.connections >= 4


async def test_a_caller_that_is_its_own_retry_loop_reads_once(server: LocalServer) -> None:
    """The dashboard's list poll retries by itself and shows each failure: single_attempts()."""
    async with TcpProxy(server.url, cut_after_bytes=64, cut_connections=1) as proxy:
        retries: list[str] = []
        async with client_for(proxy.url) as through:
            through.on_retry = lambda op, attempt, delay, error: retries.append(op)
            with single_attempts(), pytest.raises(ConnectionFailed):
                await through.list_deployments()
            assert (await through.list_deployments())["total"] == 0  # outside: as any read
    assert retries == []


async def test_a_write_is_never_repeated() -> None:
    with HarperReplay({("deploy_component", False): ["deploy-pscript-json"]}) as harper:
        # One kept-alive connection: registration_info's answer passes, deploy's is cut mid-body.
        async with TcpProxy(harper.url, cut_after_bytes=400) as proxy:
            api = OperationsClient(ConnectionSettings(proxy.url), retry=FAST)
            async with api:
                await api.registration_info()  # the server has been reached: reads would retry now
                with pytest.raises(ConnectionFailed):
                    await api.call("deploy_component", project="pscript", payload="eA==")
    assert harper.operations().count(("deploy_component", False)) == 1


async def test_a_server_never_reached_is_not_waited_for() -> None:
    api = OperationsClient(ConnectionSettings("http://127.0.0.1:9"), retry=RetryPolicy(initial_delay_ms=10_000))
    retried: list[str] = []
    api.on_retry = lambda *args: retried.append(args[0])
    async with api:
        with pytest.raises(ConnectionFailed, match="refused"):
            await api.get_deployment(ID)
    assert retried == []


# ---- the pure parts ------------------------------------------------------------------------------


def test_a_logged_time_is_taken_only_for_the_same_event_at_that_position() -> None:
    log = log_events([{"t": 5, "event": "install", "data": {"manager": "npm", "stream": "stdout", "line": "a"}}])
    same = parse_event("install", {"manager": "npm", "stream": "stdout", "line": "a"})
    other = parse_event("install", {"manager": "npm", "stream": "stdout", "line": "b"})
    assert (with_logged_time(same, log, 0).t, with_logged_time(same, log, 0).t_source) == (5, "event_log")
    assert with_logged_time(other, log, 0).t is None  # the log moved on: no guess
    assert with_logged_time(same, log, 1).t is None  # beyond the log read before connecting


def test_the_last_event_id_sent_back_is_trimmed_or_left_out() -> None:
    assert sendable_event_id("  7 ") == "7"
    assert sendable_event_id("") is None and sendable_event_id("   ") is None
    assert sendable_event_id("a\x01b") is None  # a header that could never be sent


def test_in_band_refusals_are_typed_like_http_answers() -> None:
    def message(data: str) -> SSEMessage:
        return SSEMessage(event="error", data=data, id="", retry=None)

    missing = in_band_refusal(message('{"message":"No deployment found with id \'x\'","code":400}'), "get_deployment")
    busy = in_band_refusal(message('{"message":"busy","code":503}'), "get_deployment")
    assert isinstance(missing, NotFoundError) and not retryable(missing)
    assert busy is not None and retryable(busy)
    deploy_failure = '{"message":"install failed","code":500,"phase":"prepare","deployment_id":"d"}'
    assert in_band_refusal(message(deploy_failure), "get_deployment") is None  # the deploy's own answer
