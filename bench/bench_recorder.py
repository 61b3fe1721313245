"""Throughput of the recorder: install events per second through emit() -> batched SQLite commits.

Emits N install events (one burst, and again in chunks that yield to the loop between them, as an
install subprocess would), flushes, and prints events/second and commits per 10,000 events. With a
live subscriber attached it also shows what fan-out costs.

``--compare`` measures what durability costs: the same cases with ``synchronous=NORMAL`` and
``synchronous=FULL`` (the store's setting) side by side in one run, alternating which goes first,
``--repeat`` times each, and prints the min and median seconds of each and FULL/NORMAL as a ratio.
The database lives under ``--dir`` (default: the system temp dir); on tmpfs a sync costs nothing,
so point it at a real disk to get a meaningful figure.

    python bench/bench_recorder.py [N]
    python bench/bench_recorder.py --compare [--repeat 7] [--dir PATH] [N]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from deploytui.server.recorder import EventHub
from deploytui.server.store import DURABLE_SYNCHRONOUS, Store

CASES = (("burst", None, False), ("chunks-of-100", 100, False), ("chunks-of-100+subscriber", 100, True))
# The worst case for a synced commit: an install printing a line now and then, each line its own
# commit (the recorder flushes, the writer finds nothing else queued).
TRICKLE = "commit-per-event"
TRICKLE_EVENTS = 1000


@dataclass(frozen=True)
class CaseResult:
    name: str
    n: int
    seconds: float  # first emit until every event is committed
    emit_seconds: float
    commits: int
    received: int | None


async def run_case(hub: EventHub, name: str, n: int, *, chunk: int, subscribe: bool,
                   flush_each: bool = False) -> CaseResult:
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
        await (recorder.flush() if flush_each else asyncio.sleep(0))
    emitted = time.perf_counter()
    await recorder.flush()
    flushed = time.perf_counter()
    commits = hub.store.commits - commits
    await recorder.finish("success")
    received = await consumer if consumer else None
    assert await hub.store.last_seq(name) == n
    return CaseResult(name, n, flushed - started, emitted - started, commits, received)


async def _drain(hub: EventHub, deployment_id: str) -> int:
    return sum([1 async for _ in hub.subscribe(deployment_id)])


async def run_all(n: int, *, synchronous: str = DURABLE_SYNCHRONOUS, directory: str | None = None) -> list[CaseResult]:
    """Every case once, on a fresh database opened with ``synchronous``."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        store = Store(Path(tmp) / "bench.sqlite3", synchronous=synchronous)
        await store.open()
        hub = EventHub(store)
        try:
            results = [await run_case(hub, name, n, chunk=chunk or n, subscribe=subscribe)
                       for name, chunk, subscribe in CASES]
            trickle = min(n, TRICKLE_EVENTS)
            return [*results, await run_case(hub, TRICKLE, trickle, chunk=1, subscribe=False, flush_each=True)]
        finally:
            await store.close()


def print_once(results: list[CaseResult]) -> None:
    for r in results:
        print(f"{r.name:<24} {r.n / r.seconds:>10,.0f} ev/s   emit {r.emit_seconds:6.3f}s"
              f"   flush {r.seconds - r.emit_seconds:6.3f}s   {r.commits * 10_000 / r.n:6.1f} commits/10k"
              + (f"   subscriber got {r.received:,}" if r.received is not None else ""))


async def compare(n: int, repeat: int, directory: str | None) -> None:
    """NORMAL vs FULL, interleaved so both see the same machine load."""
    seconds: dict[tuple[str, str], list[float]] = {}
    commits: dict[tuple[str, str], int] = {}
    modes = ("NORMAL", "FULL")
    for i in range(repeat):
        for mode in modes if i % 2 == 0 else modes[::-1]:
            for r in await run_all(n, synchronous=mode, directory=directory):
                seconds.setdefault((r.name, mode), []).append(r.seconds)
                commits[(r.name, mode)] = r.commits
    print(f"{n:,} install events per case ({min(n, TRICKLE_EVENTS):,} for {TRICKLE}), {repeat} runs of each"
          " mode, seconds from first emit to committed")
    print(f"{'case':<26}{'NORMAL min':>11}{'median':>9}{'FULL min':>11}{'median':>9}"
          f"{'FULL/NORMAL min':>17}{'median':>8}{'commits (FULL)':>16}")
    for name in [*(case[0] for case in CASES), TRICKLE]:
        normal, full = seconds[(name, "NORMAL")], seconds[(name, "FULL")]
        print(f"{name:<26}{min(normal):>11.3f}{statistics.median(normal):>9.3f}"
              f"{min(full):>11.3f}{statistics.median(full):>9.3f}"
              f"{min(full) / min(normal):>17.2f}{statistics.median(full) / statistics.median(normal):>8.2f}"
              f"{commits[(name, 'FULL')]:>16}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="install events per case")
    parser.add_argument("--compare", action="store_true", help="synchronous=NORMAL vs FULL side by side")
    parser.add_argument("--repeat", type=int, default=7, help="runs of each mode with --compare")
    parser.add_argument("--dir", default=None, help="where the bench database lives (a real disk)")
    args = parser.parse_args()
    if args.compare:
        asyncio.run(compare(args.n, args.repeat, args.dir))
    else:
        print_once(asyncio.run(run_all(args.n, directory=args.dir)))


if __name__ == "__main__":
    main()
