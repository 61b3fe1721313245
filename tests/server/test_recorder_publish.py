"""Publishing from memory, committing in the background: what a watcher sees before the store has
it, what a late watcher gets, and why a crash can never make a published seq be used again.

Counts, not timings: the commit interval is set beyond any test's run, so only awaited writes,
commit requests (phase changes, a reservation a watcher waits for) and MAX_UNCOMMITTED commit.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path

from deploytui.server.recorder import RESERVE_BLOCK, SEQ_RESERVED, EventHub, Recorder
from deploytui.server.store import Store
from tests.server.recording import start

NEVER = 3600.0


def lines(recorder: Recorder, start_at: int, stop: int) -> None:
    for i in range(start_at, stop):
        recorder.emit("install", {"manager": "npm", "stream": "stdout", "line": f"line {i}"})


async def test_watchers_get_events_before_they_are_committed(hub: EventHub) -> None:
    hub.store.commit_interval = NEVER
    recorder = await start(hub)
    watcher = hub.subscribe("d1")
    lines(recorder, 0, 10)
    await recorder.flush()  # commits 1..10 and the first reservation (taken: someone watches)
    commits = hub.store.commits
    lines(recorder, 10, 30)
    got = [(await watcher.get())["seq"] for _ in range(30)]
    assert got == list(range(1, 31))
    assert await hub.store.last_seq("d1") == 10  # published, not yet committed
    assert hub.store.commits == commits
    await recorder.finish("success")
    assert await watcher.get() is None
    assert await hub.store.last_seq("d1") == 30


async def test_a_late_subscriber_gets_committed_history_then_the_uncommitted_tail_once(tmp_path: Path) -> None:
    store = Store(tmp_path / "late.sqlite3")
    await store.open()
    store.commit_interval = NEVER
    hub = EventHub(store, window_events=5, subscriber_queue_limit=7)  # small: the store is read
    try:
        recorder = await start(hub)
        lines(recorder, 0, 40)
        await recorder.flush()  # 1..40 committed; nobody watched, so the window let them go
        assert hub.window_size("d1") == 0
        for chunk in range(40, 100, 10):  # 41..100: published turn by turn, never committed
            lines(recorder, chunk, chunk + 10)
            await asyncio.sleep(0)
        assert await store.last_seq("d1") == 40
        # Nobody watched: 41..100 wait, unpublished, for a commit or a watcher; this one has the
        # recorder reserve seqs for them (a commit) and publish them.
        late = hub.subscribe("d1", after_seq=0)
        got = [(await late.get())["seq"] for _ in range(100)]
        assert got == list(range(1, 101))
        assert late.store_reads > 0
        lines(recorder, 100, 110)
        await recorder.finish("success")
        assert [e["seq"] async for e in late] == list(range(101, 111))
    finally:
        await store.close()


async def test_the_window_never_drops_an_uncommitted_event(tmp_path: Path) -> None:
    store = Store(tmp_path / "w.sqlite3")
    await store.open()
    store.commit_interval = NEVER
    hub = EventHub(store, window_events=10)
    try:
        recorder = await start(hub)
        hub.subscribe("d1")
        lines(recorder, 0, 1)
        await recorder.flush()  # 1 and the first reservation committed
        for i in range(1, 200):
            lines(recorder, i, i + 1)
            await asyncio.sleep(0)
        assert hub.window_size("d1") == 199  # 2..200, none committed
        await recorder.flush()
        assert hub.window_size("d1") <= 10  # committed: back to window_events
        await recorder.finish("success")
    finally:
        await store.close()


async def test_no_event_is_published_above_the_committed_reservation(hub: EventHub) -> None:
    hub.store.commit_interval = NEVER
    recorder = await start(hub)
    watcher = hub.subscribe("d1")
    checked = 0

    async def consume() -> None:
        nonlocal checked
        async for event in watcher:
            row = await hub.store.get_row("d1")
            assert event["seq"] <= max(int(row.get(SEQ_RESERVED) or 0), await hub.store.last_seq("d1"))
            checked += 1

    consumer = asyncio.create_task(consume())
    total = RESERVE_BLOCK + 500  # crosses into a second reservation block
    for chunk in range(0, total, 500):
        lines(recorder, chunk, chunk + 500)
        await asyncio.sleep(0)
    await recorder.finish("success")
    await consumer
    assert checked == total
    assert (await hub.store.get_row("d1"))[SEQ_RESERVED] == total  # the unused rest given back


async def test_a_phase_change_commits_without_waiting_for_the_interval(hub: EventHub) -> None:
    hub.store.commit_interval = NEVER
    recorder = await start(hub)
    committed = asyncio.Event()
    hub.store.add_commit_listener(lambda seqs: committed.set())
    lines(recorder, 0, 5)  # nobody watches, nothing awaits: these alone would wait for the interval
    recorder.emit("phase", {"phase": "load", "status": "start"})
    await committed.wait()
    assert await hub.store.last_seq("d1") == 6
    assert (await hub.store.last_event("d1", "phase"))["data"]["phase"] == "load"
    row = await hub.store.get_row("d1")  # the row went with it: a list shows the new status
    assert (row["phase"], row["status"]) == ("load", "loading")
    await recorder.finish("success")


CRASHING_RECORDER = textwrap.dedent("""
    import asyncio, os, signal, sys
    from pathlib import Path
    from deploytui.server.recorder import EventHub
    from deploytui.server.store import Store

    async def main() -> None:
        store = Store(Path(sys.argv[1]))
        await store.open()
        store.commit_interval = 3600.0
        hub = EventHub(store)
        row = {"deployment_id": "d1", "project": "app", "status": "pending", "phase": "pending",
               "started_at": 1000}
        await store.insert_row(row)
        recorder = hub.start_recording(row)
        watcher = hub.subscribe("d1")
        for i in range(5):
            recorder.emit("install", {"line": f"line {i}"})
        await recorder.flush()
        for i in range(5, 20):
            recorder.emit("install", {"line": f"line {i}"})
        seen = [(await watcher.get())["seq"] for _ in range(20)]
        print(max(seen), await store.last_seq("d1"), flush=True)
        os.kill(os.getpid(), signal.SIGKILL)  # a crash: the open transaction is never committed

    asyncio.run(main())
""")


async def test_a_crash_after_publishing_leaves_a_gap_never_a_reused_seq(tmp_path: Path) -> None:
    db = tmp_path / "crash.sqlite3"
    crashed = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-c", CRASHING_RECORDER, str(db)], capture_output=True, text=True,
        timeout=120)
    assert crashed.returncode == -9, crashed.stderr
    seen, committed = map(int, crashed.stdout.split())
    assert (seen, committed) == (20, 5)  # a watcher saw 6..20, which the crash lost
    store = Store(db)
    await store.open()
    hub = EventHub(store)
    try:
        assert await store.last_seq("d1") == 5
        # Crash recovery's error event, and any later recording, number after the reservation.
        await hub.append_event("d1", "error", {"message": "interrupted"})
        error_seq = await store.last_seq("d1")
        assert error_seq > seen
        again = hub.start_recording(await store.get_row("d1"))
        assert again.emit("install", {"line": "again"}) == error_seq + 1
        await again.finish("failed")
    finally:
        await store.close()
