"""open_event_stream over real loopback sockets: checks before iterating, headers, network
failures, and the reconnect helpers."""

from __future__ import annotations

import asyncio
import json
import socket

import httpx
import pytest
from sse_server import Reply, ScriptedServer

from deploytui.client.errors import (
    AuthError,
    ConnectionFailed,
    NotFoundError,
    ProtocolError,
    ServerError,
    StreamClosed,
)
from deploytui.client.retry import (
    DEFAULT_RETRY_MS,
    MAX_RETRY_DELAY_MS,
    Backoff,
    RetryPolicy,
    backoff_delays,
    retryable,
)
from deploytui.client.sse import STREAM_TIMEOUT, is_event_stream, open_event_stream

BODY = {"operation": "get_deployment", "deployment_id": "d1"}
SSE = {"Content-Type": "text/event-stream"}
JSON = {"Content-Type": "application/json"}


async def collect(server: ScriptedServer, **kw) -> list:
    async with httpx.AsyncClient(timeout=STREAM_TIMEOUT) as http:
        async with open_event_stream(http, server.url, json=BODY, **kw) as stream:
            return [m async for m in stream]


def free_port() -> int:
    """A port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


async def test_401_json_becomes_auth_error_before_iterating() -> None:
    reply = Reply(401, JSON, [b'{"error":"Login failed"}'])
    async with ScriptedServer([reply]) as server, httpx.AsyncClient() as http:
        entered = False
        with pytest.raises(AuthError) as failure:
            async with open_event_stream(http, server.url, json=BODY, user="admin"):
                entered = True
    assert not entered
    assert failure.value.status_code == 401
    assert failure.value.message == "the server refused the credentials for admin: Login failed"
    assert failure.value.details == {"error": "Login failed"}


async def test_204_raises_stream_closed() -> None:
    async with ScriptedServer([Reply(204, {})]) as server:
        with pytest.raises(StreamClosed):
            await collect(server)


async def test_html_200_is_a_protocol_error() -> None:
    reply = Reply(200, {"Content-Type": "text/html; charset=utf-8"}, [b"<html>login page</html>"])
    async with ScriptedServer([reply]) as server:
        with pytest.raises(ProtocolError) as failure:
            await collect(server)
    assert "did not answer with an event stream" in failure.value.message
    assert "text/html" in failure.value.message


async def test_missing_content_type_is_a_protocol_error() -> None:
    async with ScriptedServer([Reply(200, {}, [b"data: x\n\n"])]) as server:
        with pytest.raises(ProtocolError):
            await collect(server)


@pytest.mark.parametrize(
    ("status", "error"), [(404, NotFoundError), (503, ServerError), (500, ServerError)]
)
async def test_other_statuses_fail_with_harper_message(status: int, error: type) -> None:
    reply = Reply(status, JSON, [json.dumps({"error": "nope"}).encode()])
    async with ScriptedServer([reply]) as server:
        with pytest.raises(error) as failure:
            await collect(server)
    assert "nope" in failure.value.message


@pytest.mark.parametrize(
    ("content_type", "ok"),
    [
        ("text/event-stream", True),
        ("TEXT/Event-Stream; charset=UTF-8", True),
        ("text/event-stream;", True),
        (" text/event-stream ; x=y", True),
        ("text/event-streamx", False),
        ("application/x-text/event-stream", False),
        ("application/json", False),
        ("", False),
        (None, False),
    ],
)
def test_is_event_stream(content_type: str | None, ok: bool) -> None:
    assert is_event_stream(content_type) is ok


async def test_content_type_match_is_case_insensitive_over_the_wire() -> None:
    reply = Reply(200, {"Content-Type": "Text/Event-Stream; Charset=windows-1252"}, ["data: ok\u2026\n\n".encode()])
    async with ScriptedServer([reply]) as server:
        assert [m.data for m in await collect(server)] == ["ok\u2026"]


async def test_last_event_id_sent_only_when_non_empty_and_caller_headers_untouched() -> None:
    async with ScriptedServer([Reply(chunks=[b"data: x\n\n"])]) as server:
        caller_headers = {"X-Trace": "t1", "last-event-id": "stale"}
        before = dict(caller_headers)
        await collect(server, headers=caller_headers, last_event_id="")
        await collect(server, headers=caller_headers, last_event_id=None)
        await collect(server, headers=caller_headers, last_event_id="42")
    assert caller_headers == before
    empty, none, given = server.requests
    assert "last-event-id" not in empty.headers and "last-event-id" not in none.headers
    assert given.headers["last-event-id"] == "42"
    for request in server.requests:
        assert request.headers["x-trace"] == "t1"
        assert request.headers["accept"] == "text/event-stream"
        assert request.headers["cache-control"] == "no-cache"


async def test_connection_refused_is_connection_failed() -> None:
    url = f"http://127.0.0.1:{free_port()}/"
    async with httpx.AsyncClient() as http:
        with pytest.raises(ConnectionFailed) as failure:
            async with open_event_stream(http, url, json=BODY):
                pass
    assert url in failure.value.message
    assert "refused" in failure.value.message
    assert failure.value.url == url
    assert failure.value.retryable
    assert isinstance(failure.value.__cause__, httpx.ConnectError)


async def test_server_dropping_mid_stream_is_connection_failed_after_delivered_events() -> None:
    reply = Reply(chunks=[b"id: 1\ndata: a\n\n", b"data: never completed"], abort=True)
    async with ScriptedServer([reply]) as server, httpx.AsyncClient(timeout=STREAM_TIMEOUT) as http:
        received = []
        with pytest.raises(ConnectionFailed) as failure:
            async with open_event_stream(http, server.url, json=BODY) as stream:
                async for message in stream:
                    received.append(message.data)
        assert received == ["a"]
        assert stream.last_event_id == "1"
        assert "keep reading from" in failure.value.message


async def test_normal_end_of_stream_just_stops_and_discards_the_incomplete_event() -> None:
    reply = Reply(chunks=[b"data: a\n\n", b"id: 9\ndata: incomplete\n"])
    async with ScriptedServer([reply]) as server, httpx.AsyncClient(timeout=STREAM_TIMEOUT) as http:
        async with open_event_stream(http, server.url, json=BODY) as stream:
            assert [m.data async for m in stream] == ["a"]
            assert stream.ended
            assert stream.last_event_id == ""


async def test_events_arrive_while_the_stream_is_still_open() -> None:
    reply = Reply(chunks=[b": stream open\n\n", b"event: phase\ndata: {}\n\n"], hold=True)
    async with ScriptedServer([reply]) as server, httpx.AsyncClient(timeout=STREAM_TIMEOUT) as http:
        async with open_event_stream(http, server.url, json=BODY) as stream:
            first = await anext(stream)
            assert (first.event, first.data) == ("phase", "{}")
            assert not stream.ended


async def test_silent_stream_with_a_short_read_timeout_is_connection_failed() -> None:
    reply = Reply(chunks=[b": stream open\n\n"], hold=True)
    async with ScriptedServer([reply]) as server, httpx.AsyncClient() as http:
        with pytest.raises(ConnectionFailed) as failure:
            async with open_event_stream(http, server.url, json=BODY, timeout=httpx.Timeout(5.0, read=0.2)) as s:
                [m async for m in s]
    assert "timed out waiting for data" in failure.value.message


async def test_reconnect_loop_resumes_with_last_event_id_until_204() -> None:
    replies = [
        Reply(chunks=[b"retry: 0\nid: 1\ndata: a\n\n"], abort=True),
        Reply(chunks=[b"id: 2\ndata: b\n\n"]),
        Reply(204, {}),
    ]
    received: list[tuple[str, str]] = []
    async with ScriptedServer(replies) as server, httpx.AsyncClient(timeout=STREAM_TIMEOUT) as http:
        backoff = Backoff(RetryPolicy(max_attempts=5))
        last_event_id = ""
        while True:
            try:
                async with open_event_stream(
                    http, server.url, json=BODY, last_event_id=last_event_id, retry_ms=backoff.retry_ms,
                ) as stream:
                    backoff.progress()
                    try:
                        async for message in stream:
                            received.append((message.data, message.id))
                    finally:
                        last_event_id, backoff.retry_ms = stream.last_event_id, stream.retry_ms
            except StreamClosed:
                break
            except ConnectionFailed as exc:
                assert retryable(exc)
            assert await backoff.wait()  # retry: 0 -> no wait
    assert received == [("a", "1"), ("b", "2")]
    assert [r.headers.get("last-event-id") for r in server.requests] == [None, "1", "2"]
    assert backoff.retry_ms == 0


def test_only_network_failures_and_server_errors_are_retryable() -> None:
    assert retryable(ConnectionFailed("x")) and retryable(ServerError("x", status_code=503))
    assert not retryable(AuthError("x", status_code=401))
    assert not retryable(StreamClosed("x"))


def test_backoff_counts_attempts_and_gives_up_by_its_policy() -> None:
    now = [0.0]
    policy = RetryPolicy(initial_delay_ms=100, cap_ms=100, give_up_after_s=10, max_attempts=2)
    backoff = Backoff(policy, clock=lambda: now[0])
    assert backoff.next_delay() == pytest.approx(0.1) and backoff.attempt == 1  # the policy's base
    backoff.retry_ms = 0  # the server's retry: replaces it
    assert backoff.next_delay() == 0.0
    assert backoff.exhausted()  # max_attempts failures in a row
    backoff.progress()
    assert backoff.attempt == 0 and not backoff.exhausted()
    now[0] = 10.5
    assert backoff.exhausted()  # give_up_after_s without progress
    backoff.alive()  # the other side is well: the clock restarts, the attempts stay
    assert not backoff.exhausted()


async def test_backoff_wait_reports_then_waits_or_gives_up_at_once() -> None:
    backoff = Backoff(RetryPolicy(max_attempts=1))
    backoff.retry_ms = 0
    reports: list[tuple[int, float]] = []
    assert await backoff.wait(lambda attempt, delay: reports.append((attempt, delay)))
    assert not await backoff.wait(lambda attempt, delay: reports.append((attempt, delay)))
    assert reports == [(1, 0.0)] and backoff.attempt == 1


def test_backoff_first_attempt_waits_the_server_retry_time() -> None:
    for _ in range(20):
        assert backoff_delays(2000, 0) == pytest.approx(2.0)
    assert backoff_delays(None, 0) == pytest.approx(DEFAULT_RETRY_MS / 1000)


def test_backoff_grows_is_capped_and_jittered_within_bounds() -> None:
    base = 1000
    for attempt in range(12):
        ceiling = min(MAX_RETRY_DELAY_MS, base * 2**attempt) / 1000
        assert backoff_delays(base, attempt, rng=lambda: 0.0) == pytest.approx(1.0)
        assert backoff_delays(base, attempt, rng=lambda: 1.0) == pytest.approx(ceiling)
        samples = {backoff_delays(base, attempt) for _ in range(200)}
        assert all(1.0 <= s <= ceiling for s in samples)
        if ceiling > 1.0:
            assert len(samples) > 1  # jittered, not a fixed schedule
    assert backoff_delays(base, 10_000) <= MAX_RETRY_DELAY_MS / 1000
    assert backoff_delays(10 * MAX_RETRY_DELAY_MS, 3) == pytest.approx(MAX_RETRY_DELAY_MS / 1000)
    assert backoff_delays(0, 5) == 0.0
