"""Throughput of the recorder: install events per second through emit() -> batched SQLite commits.

Emits N install events (one burst, and again in chunks that yield to the loop between them, as an
install subprocess would), flushes, and prints events/second and commits per 10,000 events. With a
live subscriber attached it also shows what fan-out costs.

    python bench/bench_recorder.py [N]
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
import time
from pathlib import Path

from deploytui.server.recorder import EventHub
from deploytui.server.store import Store


async def run_case(hub: EventHub, name: str, n: int, *, chunk: int, subscribe: bool) -> None:
    row = {"deployment_id": name, "project": "bench", "status": "pending", "phase": "pending",
           "started_at": int(time.time() * 1000)}
    await hub.store.insert_row(row)
    recorder = hub.start_recording(row)
    consumer = asyncio.create_task(_drain(hub, name)) if subscribe else None
    commits = hub.store.commits
    started = time.perf_counter()
    for base in range(0, n, chunk):
        for i in range(base, min(base + chunk, n)):
            recorder.emit("install", {"manager": "npm", "stream": "stdout", "line": f"added {i}"})
        await asyncio.sleep(0)
    emitted = time.perf_counter()
    await recorder.flush()
    flushed = time.perf_counter()
    commits = hub.store.commits - commits
    await recorder.finish("success")
    received = await consumer if consumer else None
    assert await hub.store.last_seq(name) == n
    print(f"{name:<24} {n / (flushed - started):>10,.0f} ev/s   emit {emitted - started:6.3f}s"
          f"   flush {flushed - emitted:6.3f}s   {commits * 10_000 / n:6.1f} commits/10k"
          + (f"   subscriber got {received:,}" if received is not None else ""))


async def _drain(hub: EventHub, deployment_id: str) -> int:
    return sum([1 async for _ in hub.subscribe(deployment_id)])


async def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(Path(tmp) / "bench.sqlite3")
        await store.open()
        hub = EventHub(store)
        try:
            await run_case(hub, "burst", n, chunk=n, subscribe=False)
            await run_case(hub, "chunks-of-100", n, chunk=100, subscribe=False)
            await run_case(hub, "chunks-of-100+subscriber", n, chunk=100, subscribe=True)
        finally:
            await store.close()


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))
