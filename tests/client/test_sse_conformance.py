"""Every WPT conformance vector, served over a real loopback socket through open_event_stream.

For each case the scripted server writes the vector's chunks as separate HTTP chunks with the
vector's status and content type. Passing cases must yield exactly the expected events and leave
the expected last event ID and retry; failing ones must raise a typed error before any event. Then
the client reconnects to the same server, and the second request must carry ``Last-Event-ID``
exactly when the expected last event ID is non-empty, with events of the new stream reporting it.
"""

from __future__ import annotations

import json

import httpx
import pytest
from sse_server import Reply, ScriptedServer

from deploytui.client.errors import DeploytuiError, ProtocolError, StreamClosed
from deploytui.client.sse import STREAM_TIMEOUT, open_event_stream

from tests.data.sse_vectors import VECTORS, case_chunks

REQUEST = {"operation": "get_deployment", "deployment_id": "x"}


def first_reply(case: dict) -> Reply:
    return Reply(
        status=case.get("status", 200),
        headers={"Content-Type": case.get("content_type", "text/event-stream")},
        chunks=case_chunks(case),
    )


def test_every_vector_is_collected() -> None:
    assert len(VECTORS) == len({c["name"] for c in VECTORS}) >= 30


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
async def test_vector_over_loopback(case: dict) -> None:
    second = Reply(chunks=[b"data: again\n\n"])
    async with ScriptedServer([first_reply(case), second]) as server, httpx.AsyncClient(timeout=STREAM_TIMEOUT) as http:
        if case.get("expect_connection_failure"):
            received = []
            with pytest.raises(DeploytuiError) as failure:
                async with open_event_stream(http, server.url, json=REQUEST) as stream:
                    received = [m async for m in stream]
            assert received == []
            if case.get("status") == 204:
                assert isinstance(failure.value, StreamClosed)
            elif "content_type" in case and "status" not in case:
                assert isinstance(failure.value, ProtocolError)
            else:
                assert failure.value.status_code == case["status"]
            assert len(server.requests) == 1
            return

        async with open_event_stream(http, server.url, json=REQUEST) as stream:
            events = [{"event": m.event, "data": m.data, "id": m.id} async for m in stream]
            assert events == case["expected"]
            assert stream.last_event_id == case["expected_last_event_id"]
            assert stream.retry_ms == case["expected_retry_ms"]
            resume, retry = stream.last_event_id, stream.retry_ms

        # Reconnect as a browser would: Last-Event-ID only when non-empty, id sticky across streams.
        async with open_event_stream(http, server.url, json=REQUEST, last_event_id=resume, retry_ms=retry) as again:
            (message,) = [m async for m in again]
        assert (message.data, message.id) == ("again", case["expected_last_event_id"])
        assert again.retry_ms == case["expected_retry_ms"]
        first, reconnect = server.requests
        assert "last-event-id" not in first.headers
        if case["expected_last_event_id"]:
            assert reconnect.headers["last-event-id"] == case["expected_last_event_id"]
        else:
            assert "last-event-id" not in reconnect.headers
        for request in server.requests:
            assert request.method == "POST"
            assert request.headers["accept"] == "text/event-stream"
            assert request.headers["cache-control"] == "no-cache"
            assert json.loads(request.body) == REQUEST
