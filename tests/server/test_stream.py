"""deployment_events consumed directly: replay, live stitching, resume, wires, keepalives, slow
subscribers and cancellation. (The HTTP framing is tested with the app.)"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploytui.protocol.sse import decode_all
from deploytui.server.recorder import EventHub, Recorder
from deploytui.server.store import Store
from deploytui.server.stream import KEEPALIVE, NO_DONE, deployment_events
from tests.server.recording import start


def emit_lines(recorder: Recorder, start: int, stop: int) -> None:
    for i in range(start, stop):
        recorder.emit("install", {"manager": "npm", "stream": "stdout", "line": f"line {i}"})


def stream(hub: EventHub, deployment_id: str = "d1", *, wire: str = "deploytui",
           last_event_id: str | None = None, keepalive: float = 30.0, **kw) -> AsyncIterator:
    return deployment_events(hub.store, hub, deployment_id, wire=wire, last_event_id=last_event_id,
                             keepalive_seconds=keepalive, **kw)


def expand(item: object) -> list:
    """Items as the tests compare them: a chunk of encoded events becomes one dict per event."""
    if not isinstance(item, bytes) or item == KEEPALIVE:
        return [item]
    messages, _ = decode_all(item)
    return [{"event": m.event, "data": m.data, **({"id": m.id} if m.id else {})} for m in messages]


async def collect(items: AsyncIterator) -> list:
    return [event async for item in items for event in expand(item)]


def events_of(items: list) -> list[dict]:
    """The SSE event items (not the comment, not keepalives) before ``done``."""
    return [i for i in items if isinstance(i, dict) and "event" in i and i["event"] != "done"]


def as_stored(item: dict) -> dict:
    """An SSE item back in the events-table shape, to compare with store.events()."""
    data = json.loads(item["data"])
    return {"seq": int(item["id"]), "t": data.pop("t"), "event": item["event"], "data": data}


async def finished_deployment(hub: EventHub, lines: int = 5) -> Recorder:
    recorder = await start(hub)
    recorder.emit("phase", {"phase": "prepare", "status": "start"})
    emit_lines(recorder, 0, lines)
    recorder.emit("phase", {"phase": "success", "status": "done"})
    await recorder.finish("success")
    return recorder


async def test_replay_of_a_finished_deployment_ends_with_done(hub: EventHub) -> None:
    await finished_deployment(hub)
    items = await collect(stream(hub))
    assert items[0] == {"comment": "stream open"}
    assert [as_stored(i) for i in events_of(items)] == await hub.store.events("d1")
    done = items[-1]
    assert done["event"] == "done" and "id" not in done
    result = json.loads(done["data"])["result"]
    assert result["status"] == "success" and result["payload_blob_present"] is False
    assert "payload_path" not in result
    assert hub.subscriber_count() == 0


async def test_attach_mid_recording_gets_every_event_exactly_once(hub: EventHub) -> None:
    recorder = await start(hub)
    emit_lines(recorder, 0, 500)
    await recorder.flush()  # some history to replay

    async def producer() -> None:
        for chunk in range(500, 5_500, 250):
            emit_lines(recorder, chunk, chunk + 250)
            await asyncio.sleep(0)  # interleave commits with the consumer
        await recorder.finish("success")

    consumer = asyncio.create_task(collect(stream(hub)))
    while hub.subscriber_count("d1") == 0:
        await asyncio.sleep(0)
    await producer()
    items = await consumer
    received = [as_stored(i) for i in events_of(items)]
    assert [e["seq"] for e in received] == list(range(1, 5_501))
    assert received == await hub.store.events("d1")
    assert items[-1]["event"] == "done"


async def test_last_event_id_resumes_after_that_seq(hub: EventHub) -> None:
    await finished_deployment(hub, lines=10)
    items = await collect(stream(hub, last_event_id="7"))
    assert [int(i["id"]) for i in events_of(items)] == list(range(8, 13))
    garbage = await collect(stream(hub, last_event_id="not-a-number"))
    assert len(events_of(garbage)) == 12


async def test_harper_wire_has_no_ids_times_or_resume(hub: EventHub) -> None:
    await finished_deployment(hub, lines=3)
    items = await collect(stream(hub, wire="harper", last_event_id="4"))
    events = events_of(items)
    assert len(events) == 5  # Last-Event-ID ignored: full replay
    assert all("id" not in i and "t" not in json.loads(i["data"]) for i in items if "data" in i)
    assert json.loads(events[1]["data"]) == {"manager": "npm", "stream": "stdout", "line": "line 0"}


async def test_keepalive_after_silence(hub: EventHub) -> None:
    recorder = await start(hub)
    events = stream(hub, keepalive=0.05)
    assert await anext(events) == {"comment": "stream open"}
    assert await anext(events) == KEEPALIVE == b": keepalive\n"  # nothing else can come: nothing was emitted
    recorder.emit("phase", {"phase": "prepare", "status": "start"})
    # A loaded machine may take longer than the keepalive interval to commit the event: more
    # keepalives may come first, but nothing else.
    item = await anext(events)
    while item == KEEPALIVE:
        item = await anext(events)
    assert expand(item)[0]["event"] == "phase"
    assert await anext(events) == KEEPALIVE
    await recorder.finish("success")
    rest = await collect(events)
    assert rest[-1]["event"] == "done"


async def test_harper_wire_sends_no_keepalive(hub: EventHub) -> None:
    recorder = await start(hub)
    events = stream(hub, wire="harper", keepalive=0.01)
    await anext(events)
    pending = asyncio.ensure_future(anext(events))
    done, _ = await asyncio.wait({pending}, timeout=0.1)
    assert not done  # silence, no keepalive
    recorder.emit("phase", {"phase": "prepare", "status": "start"})
    assert expand(await pending)[0]["event"] == "phase"
    await recorder.finish("success")
    assert (await collect(events))[-1]["event"] == "done"


async def test_slow_subscriber_with_tiny_queue_gets_everything_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "slow.sqlite3")
    await store.open()
    hub = EventHub(store, subscriber_queue_limit=8)
    try:
        recorder = await start(hub)
        sub = hub.subscribe("d1", after_seq=0)
        received: list[dict] = []

        async def slow_consumer() -> None:
            async for event in sub:
                received.append(event)
                assert sub.queued <= 8
                if len(received) % 100 == 0:
                    await asyncio.sleep(0.001)  # fall behind the producer

        consumer = asyncio.create_task(slow_consumer())
        for chunk in range(0, 3_000, 100):
            emit_lines(recorder, chunk, chunk + 100)
            await recorder.flush()
        await recorder.finish("success")
        await consumer
        assert [e["seq"] for e in received] == list(range(1, 3_001))
        assert received == await store.events("d1")
        assert sub.overflows > 0 and sub.max_queued <= 8
    finally:
        await store.close()


async def test_cancelling_the_stream_unsubscribes(hub: EventHub) -> None:
    recorder = await start(hub)
    emit_lines(recorder, 0, 3)
    await recorder.flush()
    consumer = asyncio.create_task(collect(stream(hub)))
    while hub.subscriber_count("d1") == 0:
        await asyncio.sleep(0)
    consumer.cancel()
    with pytest.raises(asyncio.CancelledError):
        await consumer
    assert hub.subscriber_count() == 0
    await recorder.finish("success")


async def test_closing_the_generator_unsubscribes(hub: EventHub) -> None:
    recorder = await start(hub)
    events = stream(hub)
    await anext(events)
    recorder.emit("phase", {"phase": "prepare", "status": "start"})
    await anext(events)
    assert hub.subscriber_count("d1") == 1
    await events.aclose()
    assert hub.subscriber_count() == 0
    await recorder.finish("success")


async def test_done_result_callback_and_no_done(hub: EventHub) -> None:
    await finished_deployment(hub, lines=1)

    async def summary(row: dict) -> dict:
        return {"message": f"Successfully deployed: {row['project']}",
                "deployment_id": row["deployment_id"]}

    items = await collect(stream(hub, done_result=summary))
    assert json.loads(items[-1]["data"]) == {
        "result": {"message": "Successfully deployed: app", "deployment_id": "d1"}}

    async def refuse(row: dict) -> object:
        return NO_DONE

    items = await collect(stream(hub, done_result=refuse))
    assert items[-1]["event"] == "phase"


async def test_orphaned_nonterminal_row_replays_and_ends(hub: EventHub) -> None:
    await hub.store.insert_row({"deployment_id": "d1", "status": "loading", "started_at": 5})
    hub.store.enqueue_event("d1", 1, 6, "phase", {"phase": "load", "status": "start"})
    await hub.store.barrier()
    items = await collect(stream(hub))
    assert [i["event"] for i in items[1:]] == ["phase", "done"]
    assert json.loads(items[-1]["data"])["result"]["status"] == "loading"
