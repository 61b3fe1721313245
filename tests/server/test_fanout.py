"""What the recorder and the hub HOLD under load: commits per arrival pattern, the bounded window
of recent batches, bounded subscriber queues, and SSE bytes encoded once for every watcher.

Counts, not timings: the commit interval is set far beyond any test's run so that only the
policy (not the machine's speed) decides how many commits happen.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from deploytui.server.recorder import Batch, EventHub, Recorder
from deploytui.server.store import Store
from deploytui.server.stream import encode_event
from tests.server.recording import start

NEVER = 3600.0  # a commit interval no test reaches: only awaited writes or MAX_BATCH commit


@contextlib.asynccontextmanager
async def hub_on(path: Path, **options: int) -> AsyncIterator[EventHub]:
    """A hub with non-default ``options`` on a fresh store, closed afterwards."""
    store = Store(path)
    await store.open()
    try:
        yield EventHub(store, **options)
    finally:
        await store.close()


def emit_lines(recorder: Recorder, start_at: int, stop: int) -> None:
    for i in range(start_at, stop):
        recorder.emit("install", {"manager": "npm", "stream": "stdout", "line": f"line {i}"})


async def test_chunked_arrival_costs_one_commit_per_flush_not_one_per_chunk(hub: EventHub) -> None:
    recorder = await start(hub)
    hub.store.commit_interval = NEVER
    commits = hub.store.commits
    for chunk in range(0, 10_000, 100):
        emit_lines(recorder, chunk, chunk + 100)
        await asyncio.sleep(0)  # the loop runs (row syncs, the writer's wake-up) between chunks
    await asyncio.wait_for(recorder.flush(), 60)  # awaited: commits at once
    assert hub.store.commits - commits == 1
    assert await hub.store.last_seq("d1") == 10_000
    await recorder.finish("success")


async def test_one_event_per_loop_turn_still_gathers_into_one_commit(hub: EventHub) -> None:
    recorder = await start(hub)
    hub.store.commit_interval = NEVER
    commits = hub.store.commits
    for i in range(2_000):
        emit_lines(recorder, i, i + 1)
        await asyncio.sleep(0)
    await asyncio.wait_for(recorder.flush(), 60)
    assert hub.store.commits - commits == 1
    await recorder.finish("success")


async def test_awaited_writes_commit_without_waiting_for_the_interval(hub: EventHub) -> None:
    hub.store.commit_interval = NEVER
    recorder = await asyncio.wait_for(start(hub), 60)  # insert_row is awaited
    emit_lines(recorder, 0, 3)
    await asyncio.wait_for(recorder.flush(), 60)
    final = await asyncio.wait_for(recorder.finish("success"), 60)
    assert final["status"] == (await hub.store.get_row("d1"))["status"] == "success"
    assert [e["seq"] for e in await hub.store.events("d1")] == [1, 2, 3]


async def test_window_of_recent_batches_is_bounded_and_dropped_at_the_end(tmp_path: Path) -> None:
    async with hub_on(tmp_path / "w.sqlite3", window_events=50) as hub:
        recorder = await start(hub)
        hub.subscribe("d1")  # a watcher, so that the hub keeps a window
        for chunk in range(0, 1_000, 10):
            emit_lines(recorder, chunk, chunk + 10)
            await recorder.flush()
            assert hub.window_size("d1") <= 50
        assert hub.window_size("d1") == 50
        # Behind the window: the subscription reads the store, then the window, each event once.
        sub = hub.subscribe("d1", after_seq=0)
        received = [await sub.get() for _ in range(1_000)]
        assert [e["seq"] for e in received] == list(range(1, 1_001))
        assert sub.store_reads > 0
        await recorder.finish("success")
        assert await sub.get() is None
        assert hub.window_size("d1") == 0


async def test_catch_up_within_the_window_never_reads_the_store(hub: EventHub) -> None:
    recorder = await start(hub)
    hub.subscribe("d1")  # a watcher, so that the hub keeps a window
    for chunk in range(0, 500, 50):
        emit_lines(recorder, chunk, chunk + 50)
        await recorder.flush()
    sub = hub.subscribe("d1", after_seq=0)
    batches = []
    while sum(len(b) for b in batches) < 500:
        batches.append(await sub.get_batch())
    assert [e["seq"] for b in batches for e in b.events] == list(range(1, 501))
    assert sub.store_reads == 0
    await recorder.finish("success")


async def test_a_subscriber_that_never_reads_holds_at_most_its_limit(tmp_path: Path) -> None:
    async with hub_on(tmp_path / "q.sqlite3", subscriber_queue_limit=64) as hub:
        recorder = await start(hub)
        idle = hub.subscribe("d1")
        for chunk in range(0, 5_000, 20):
            emit_lines(recorder, chunk, chunk + 20)
            await recorder.flush()
            assert idle.queued <= 64
        assert idle.max_queued <= 64 and idle.overflows > 0
        await recorder.finish("success")
        assert [e["seq"] async for e in idle] == list(range(1, 5_001))  # nothing lost


async def test_every_watcher_shares_one_batch_and_its_bytes(hub: EventHub) -> None:
    recorder = await start(hub)
    watchers = [hub.subscribe("d1") for _ in range(20)]
    emit_lines(recorder, 0, 100)
    await recorder.flush()

    async def batches_of(watcher) -> list:
        got = []
        while sum(len(b) for b in got) < 100:  # one batch, or a few when a commit split them
            got.append(await watcher.get_batch())
        return got

    seen = [await batches_of(w) for w in watchers]
    assert all(len(got) == len(seen[0]) and all(b is c for b, c in zip(got, seen[0])) for got in seen)
    encodes = 0

    def counting_encode(event: dict, wire: str) -> bytes:
        nonlocal encodes
        encodes += 1
        return encode_event(event, wire)

    chunks = {id(b.encoded("deploytui", counting_encode)) for got in seen for b in got}
    assert len(chunks) == len(seen[0]) and encodes == 100  # once per event, not once per watcher
    await recorder.finish("success")


def test_a_batch_trimmed_to_what_is_owed_keeps_seq_order() -> None:
    batch = Batch([{"seq": s, "t": 0, "event": "install", "data": {}} for s in range(5, 10)])
    assert batch.after(None) is batch and batch.after(4) is batch
    assert [e["seq"] for e in batch.after(7).events] == [8, 9]
    assert not batch.after(9).events


async def test_watchers_ending_together_share_one_read_of_the_terminal_row(hub: EventHub) -> None:
    recorder = await start(hub)
    await recorder.finish("success")
    reads = 0
    get_row = hub.store.get_row

    async def counting_get_row(deployment_id: str) -> dict | None:
        nonlocal reads
        reads += 1
        return await get_row(deployment_id)

    hub.store.get_row = counting_get_row  # type: ignore[method-assign]
    rows = await asyncio.gather(*(hub.shared_row("d1") for _ in range(50)))
    assert reads == 1
    assert all(r == rows[0] and r["status"] == "success" for r in rows)
    assert len({id(r) for r in rows}) == 50  # each caller owns its copy
    await hub.shared_row("d1")
    assert reads == 2  # a later caller reads afresh


async def test_unwatched_commits_empty_the_window_so_it_never_has_a_hole(hub: EventHub) -> None:
    recorder = await start(hub)
    early = hub.subscribe("d1")
    emit_lines(recorder, 0, 10)
    await recorder.flush()
    assert hub.window_size("d1") == 10
    early.close()
    emit_lines(recorder, 10, 20)  # nobody watches these: not kept in memory
    await recorder.flush()
    assert hub.window_size("d1") == 0
    late = hub.subscribe("d1", after_seq=0)
    emit_lines(recorder, 20, 30)
    await recorder.flush()
    await recorder.finish("success")
    assert [e["seq"] async for e in late] == list(range(1, 31))


async def test_watchers_ending_together_share_one_encoded_done(hub: EventHub) -> None:
    from deploytui.server.stream import deployment_events

    recorder = await start(hub)
    streams = [deployment_events(hub.store, hub, "d1", wire="deploytui", last_event_id=None,
                                 keepalive_seconds=30) for _ in range(10)]
    for events in streams:
        await anext(events)  # open
    emit_lines(recorder, 0, 5)
    await recorder.finish("success")

    async def last_item(events: AsyncIterator) -> object:
        return [item async for item in events][-1]

    finals = await asyncio.gather(*(last_item(events) for events in streams))
    assert isinstance(finals[0], bytes) and b"event: done" in finals[0]
    # Whether they overlap is up to the scheduler; the same done, whichever way it was made.
    assert all(final == finals[0] for final in finals)


async def test_callers_asking_while_a_shared_run_is_under_way_share_its_result(hub: EventHub) -> None:
    """The mechanism behind one read and one encoding at the end: one run while it is under way."""
    release, runs = asyncio.Event(), []

    async def make() -> object:
        runs.append(1)
        await release.wait()
        return object()

    waiting = [asyncio.ensure_future(hub.shared("k", make)) for _ in range(10)]
    await asyncio.sleep(0)  # let every caller ask before the run ends
    release.set()
    results = await asyncio.gather(*waiting)
    assert len(runs) == 1 and all(result is results[0] for result in results)
    assert await hub.shared("k", make) is not results[0]  # a later ask runs again
