"""Recorder and EventHub: the bounded event_log, status/phase transitions, the terminal write then the end
(publishing before commit: test_recorder_publish.py)."""

from __future__ import annotations

import asyncio
import gc
import sys

import pytest

from deploytui.protocol.event_log import EVENT_LOG_HEAD_KEEP, EVENT_LOG_MAX, EVENT_LOG_TAIL_KEEP
from deploytui.server.recorder import EMITTING_SWITCH_INTERVAL, EventHub, Recorder
from tests.server.recording import start


def phase(recorder: Recorder, name: str, status: str) -> int:
    return recorder.emit("phase", {"phase": name, "status": status})


def install_line(recorder: Recorder, i: int) -> int:
    return recorder.emit("install", {"manager": "npm", "stream": "stdout", "line": f"line {i}"})


async def test_event_log_is_harpers_bounded_view(hub: EventHub) -> None:
    recorder = await start(hub)
    total = 1000
    for i in range(total):
        install_line(recorder, i)
    await recorder.flush()
    log = (await hub.store.get_row("d1"))["event_log"]
    assert log == recorder.row["event_log"]
    assert len(log) == EVENT_LOG_MAX == 200
    lines = [e["data"]["line"] for e in log if e["event"] == "install"]
    assert lines[:EVENT_LOG_HEAD_KEEP] == [f"line {i}" for i in range(20)]
    assert log[EVENT_LOG_HEAD_KEEP]["event"] == "truncated"
    assert log[EVENT_LOG_HEAD_KEEP]["data"] == {"dropped_events": total - 20 - 179}  # cumulative
    newest = range(total - EVENT_LOG_TAIL_KEEP, total)
    assert lines[EVENT_LOG_HEAD_KEEP:] == [f"line {i}" for i in newest]
    # The events table keeps everything.
    assert len(await hub.store.events("d1")) == total


async def test_emit_many_records_what_one_emit_each_would(hub: EventHub) -> None:
    """The installer hands a read's lines over at once: the events, seqs, row and live stream are
    those of one emit() per line, whatever the batch sizes (none, one, past the log's tail)."""
    one_by_one, batched = await start(hub, "each"), await start(hub, "many")
    subscriptions = [hub.subscribe("each"), hub.subscribe("many")]
    sizes = [0, 1, 7, 0, 178, 179, 180, 1, 600, 2, 33]
    datas = [{"manager": "npm", "stream": "stdout", "line": f"line {i}"} for i in range(sum(sizes))]
    phase(one_by_one, "install", "start")
    phase(batched, "install", "start")
    for data in datas:
        one_by_one.emit("install", data)
    taken = 0
    for size in sizes:
        assert batched.emit_many("install", datas[taken:taken + size]) == 1 + taken + size
        taken += size
    for recorder in (one_by_one, batched):
        phase(recorder, "install", "done")
        await recorder.finish("success")

    def without_t(log: list[dict]) -> list[tuple]:
        return [(e["event"], e["data"]) for e in log]

    each, many = [await hub.store.get_row(d) for d in ("each", "many")]
    assert without_t(each["event_log"]) == without_t(many["event_log"])
    assert many["event_log"][EVENT_LOG_HEAD_KEEP]["data"] == {"dropped_events": len(datas) + 2 - 199}
    stored = [[(e["seq"], e["event"], e["data"]) for e in await hub.store.events(d)] for d in ("each", "many")]
    assert stored[0] == stored[1] and len(stored[1]) == len(datas) + 2
    received = [[(e["seq"], e["data"]) async for e in sub] for sub in subscriptions]
    assert received[0] == received[1] == [(seq, data) for seq, _, data in stored[1]]


async def test_phase_events_drive_phase_and_status(hub: EventHub) -> None:
    recorder = await start(hub)
    phase(recorder, "prepare", "start")
    assert (recorder.row["phase"], recorder.row["status"]) == ("prepare", "pending")  # no mapping
    phase(recorder, "prepare", "done")
    phase(recorder, "load", "start")
    assert (recorder.row["phase"], recorder.row["status"]) == ("load", "loading")
    phase(recorder, "load", "done")
    assert recorder.row["status"] == "loading"  # "done" leaves the status alone
    phase(recorder, "replicate", "start")
    recorder.update(peer_results=[{"node": "n2", "status": "success"}])
    await recorder.flush()
    stored = await hub.store.get_row("d1")
    assert (stored["phase"], stored["status"]) == ("replicate", "replicating")
    assert stored["peer_results"] == [{"node": "n2", "status": "success"}]
    assert stored["completed_at"] is None


async def test_finish_writes_terminal_row_then_ends_stream(hub: EventHub) -> None:
    recorder = await start(hub)
    sub = hub.subscribe("d1")
    phase(recorder, "prepare", "start")
    error = {"message": "install failed", "code": 500, "phase": "prepare"}
    recorder.emit("error", {**error, "deployment_id": "d1"})
    final = await recorder.finish("failed", error=error)
    assert [e["event"] async for e in sub] == ["phase", "error"]  # then the end
    stored = await hub.store.get_row("d1")
    assert stored["status"] == final["status"] == "failed"
    assert stored["error"] == error
    assert stored["completed_at"] >= stored["started_at"]
    assert stored["event_log"] == final["event_log"]
    assert hub.recorder("d1") is None and hub.subscriber_count() == 0
    assert [e async for e in hub.subscribe("d1")] == []  # not active: ends at once
    with pytest.raises(RuntimeError):
        recorder.emit("install", {"line": "late"})


async def test_end_is_published_only_after_the_terminal_commit(hub: EventHub) -> None:
    recorder = await start(hub)
    sub = hub.subscribe("d1")
    phase(recorder, "success", "done")
    finishing = asyncio.create_task(recorder.finish("success"))
    async for _event in sub:
        pass
    # The iterator ended: the terminal row must already be readable from another connection.
    assert (await hub.store.get_row("d1"))["status"] == "success"
    await finishing


async def test_seqs_continue_after_existing_events(hub: EventHub) -> None:
    recorder = await start(hub)
    phase(recorder, "prepare", "start")
    await recorder.finish("failed")
    again = hub.start_recording(await hub.store.get_row("d1"))
    assert phase(again, "prepare", "start") == 2
    await again.finish("success")


async def test_append_event_on_a_terminal_row(hub: EventHub) -> None:
    recorder = await start(hub)
    phase(recorder, "success", "done")
    await recorder.finish("success")
    dropped = {"payload_size": 10, "deleted_by": "admin"}
    row = await hub.append_event("d1", "payload_dropped", dropped, fields={"payload_path": None})
    stored = await hub.store.get_row("d1")
    assert row["event_log"] == stored["event_log"]
    assert stored["event_log"][-1]["event"] == "payload_dropped"
    assert stored["payload_path"] is None and stored["status"] == "success"
    events = await hub.store.events("d1")
    assert [(e["seq"], e["event"]) for e in events] == [(1, "phase"), (2, "payload_dropped")]
    with pytest.raises(LookupError):
        await hub.append_event("nope", "payload_dropped", {})


async def test_append_event_while_recording_goes_through_the_recorder(hub: EventHub) -> None:
    recorder = await start(hub)
    phase(recorder, "prepare", "start")
    row = await hub.append_event("d1", "warning", {"message": "hm"})
    assert row["event_log"][-1]["event"] == "warning"
    assert [e["seq"] for e in await hub.store.events("d1")] == [1, 2]
    await recorder.finish("success")


async def test_concurrent_appends_get_distinct_seqs(hub: EventHub) -> None:
    await hub.store.insert_row({"deployment_id": "d1", "status": "success", "started_at": 1})
    await asyncio.gather(*(hub.append_event("d1", "warning", {"n": i}) for i in range(10)))
    assert [e["seq"] for e in await hub.store.events("d1")] == list(range(1, 11))
    assert len((await hub.store.get_row("d1"))["event_log"]) == 10


async def test_a_turn_that_emits_defers_the_gc_and_shortens_the_switch_interval(hub: EventHub) -> None:
    recorder = await start(hub)
    assert gc.isenabled()
    interval = sys.getswitchinterval()
    for i in range(3):
        install_line(recorder, i)
    assert not gc.isenabled()  # a burst's long-lived entries are not re-walked by every collection
    assert sys.getswitchinterval() == min(interval, EMITTING_SWITCH_INTERVAL)  # the writer gets the GIL back
    await asyncio.sleep(0)
    assert gc.isenabled() and sys.getswitchinterval() == interval
    gc.disable()  # someone else's choice is left alone
    try:
        install_line(recorder, 3)
        await asyncio.sleep(0)
        assert not gc.isenabled() and sys.getswitchinterval() == interval
    finally:
        gc.enable()
    await recorder.finish("success")
