"""Throughput of the recorder: install events per second through emit() -> batched SQLite commits.

Emits N install events (one burst, and again in chunks that yield to the loop between them, as an
install subprocess would), flushes, and prints events/second and commits per 10,000 events. With a
live subscriber attached it also shows what fan-out costs.

``--compare`` measures what durability costs: the same cases with ``synchronous=NORMAL`` and
``synchronous=FULL`` (the store's setting) side by side in one run, alternating which goes first,
``--repeat`` times each, and prints the min and median seconds of each and FULL/NORMAL as a ratio.
The database lives under ``--dir`` (default: the system temp dir); on tmpfs a sync costs nothing,
so point it at a real disk to get a meaningful figure.

``--row`` (the issue-11 bench interface): two JSON rows, ``--repeat`` interleaved rounds (default
3). Commits per 10,000 events for each arrival pattern (a burst, chunks of 100 with the loop
running between them, one event a millisecond), the store's commit policy against the old one
(``commit_interval = 0``: commit whenever the writer's queue runs dry) in the same run; and the
recorder's events/s (first emit until committed, burst) ÷ a raw sqlite ``executemany`` of the
same rows (already JSON-encoded) into the same schema with the same pragmas. The burst reaches
the recorder as an install's output does: the lines of each 64 KiB pipe read in one
``emit_many()``; one ``emit()`` per event is measured beside it for comparison.

    python bench/bench_recorder.py [N]
    python bench/bench_recorder.py --compare [--repeat 7] [--dir PATH] [N]
    python bench/bench_recorder.py --row [--repeat 3] [--quick]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deploytui.server.recorder import EventHub
from deploytui.server.store import DURABLE_SYNCHRONOUS, SCHEMA, Store, connect, to_json

CASES = (("burst", None, False), ("chunks-of-100", 100, False), ("chunks-of-100+subscriber", 100, True))
# The worst case for a synced commit: an install printing a line now and then, each line its own
# commit (the recorder flushes, the writer finds nothing else queued).
TRICKLE = "commit-per-event"
TRICKLE_EVENTS = 1000
# What one read of a busy install's stdout returns: a Linux pipe's capacity.
PIPE_READ_BYTES = 64 * 1024


@dataclass(frozen=True)
class CaseResult:
    name: str
    n: int
    seconds: float  # first emit until every event is committed
    emit_seconds: float
    commits: int
    received: int | None


async def run_case(hub: EventHub, name: str, n: int, *, chunk: int, subscribe: bool,
                   flush_each: bool = False, pause: float = 0.0, read_bytes: int | None = None) -> CaseResult:
    """``n`` install events, ``chunk`` per loop turn: one ``emit()`` each, or with ``read_bytes``
    the lines of each read of that size in one ``emit_many()``, as the installer hands them over."""
    row = {"deployment_id": name, "project": "bench", "status": "pending", "phase": "pending",
           "started_at": int(time.time() * 1000)}
    await hub.store.insert_row(row)
    recorder = hub.start_recording(row)
    consumer = asyncio.create_task(_drain(hub, name)) if subscribe else None
    commits = hub.store.commits
    started = time.perf_counter()
    for base in range(0, n, chunk):
        if read_bytes is None:
            for i in range(base, min(base + chunk, n)):
                recorder.emit("install", {"manager": "npm", "stream": "stdout", "line": f"added {i}"})
        else:
            for read in pipe_reads(base, min(base + chunk, n), read_bytes):
                recorder.emit_many("install", [{"manager": "npm", "stream": "stdout", "line": f"added {i}"}
                                               for i in read])
        await (recorder.flush() if flush_each else asyncio.sleep(pause))
    emitted = time.perf_counter()
    await recorder.flush()
    flushed = time.perf_counter()
    commits = hub.store.commits - commits
    await recorder.finish("success")
    received = await consumer if consumer else None
    assert await hub.store.last_seq(name) == n
    return CaseResult(name, n, flushed - started, emitted - started, commits, received)


def pipe_reads(start: int, stop: int, read_bytes: int) -> list[range]:
    """The lines ``added {i}`` for i in [start, stop) grouped as reads of ``read_bytes`` would
    return them from the install's pipe (whole lines only)."""
    reads, first, size = [], start, 0
    for i in range(start, stop):
        size += len(f"added {i}\n")
        if size > read_bytes and i > first:
            reads.append(range(first, i))
            first, size = i, len(f"added {i}\n")
    return [*reads, range(first, stop)] if stop > first else reads


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


# Arrival patterns of the commit-count row: (name, events, chunk, pause between chunks in seconds).
PATTERNS = (("burst", 10_000, 10_000, 0.0), ("chunks of 100", 10_000, 100, 0.0),
            ("one every ms", 2_000, 1, 0.001))


def install_data(i: int) -> dict:
    return {"manager": "npm", "stream": "stdout", "line": f"added {i}"}


def raw_executemany(path: Path, n: int) -> float:
    """Seconds for one transaction inserting ``n`` prepared event rows, committed (synced)."""
    conn = connect(path)
    conn.executescript(SCHEMA)
    rows = [("raw", i, 1000, "install", to_json(install_data(i))) for i in range(1, n + 1)]
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    conn.executemany("INSERT INTO events (deployment_id, seq, t, event, data) VALUES (?, ?, ?, ?, ?)", rows)
    conn.execute("COMMIT")
    elapsed = time.perf_counter() - started
    conn.close()
    return elapsed


async def recorder_burst(n: int, directory: str | None, read_bytes: int | None = PIPE_READ_BYTES) -> float:
    """Seconds from the first of ``n`` events until all are committed, on a fresh store: handed over
    a pipe read at a time, as the installer does, or with ``read_bytes=None`` one emit() each."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        store = Store(Path(tmp) / "bench.sqlite3")
        await store.open()
        try:
            return (await run_case(EventHub(store), "burst", n, chunk=n, subscribe=False,
                                   read_bytes=read_bytes)).seconds
        finally:
            await store.close()


async def commits_per_10k(interval: float | None, directory: str | None) -> dict[str, float]:
    """Commits per 10,000 events for each arrival pattern; ``interval`` overrides the store's."""
    with tempfile.TemporaryDirectory(dir=directory) as tmp:
        store = Store(Path(tmp) / "bench.sqlite3")
        await store.open()
        if interval is not None:
            store.commit_interval = interval
        hub = EventHub(store)
        try:
            counts = {}
            for name, n, chunk, pause in PATTERNS:
                result = await run_case(hub, name, n, chunk=chunk, subscribe=False, pause=pause)
                counts[name] = result.commits * 10_000 / n
            return counts
        finally:
            await store.close()


def print_row(measure: str, baseline: str, deploytui: str, ratios: list[float], target: str,
              met: bool) -> None:
    median = statistics.median(ratios)
    print(json.dumps({"measure": measure, "baseline": baseline, "deploytui": deploytui,
                      "ratio": round(median, 3), "target": target, "met": met, "repeats": len(ratios),
                      "ratio_min": round(min(ratios), 3), "ratio_median": round(median, 3)}), flush=True)


def per_pattern(rounds: list[dict[str, float]]) -> str:
    return ", ".join(f"{name} {statistics.median(r[name] for r in rounds):.1f}" for name, *_ in PATTERNS)


async def rows(n: int, repeat: int, directory: str | None) -> None:
    ours, old = [], []
    seconds: dict[str, list[float]] = {"raw": [], "reads": [], "each": []}
    for i in range(repeat):
        for policy in ((None, 0.0) if i % 2 == 0 else (0.0, None)):
            (ours if policy is None else old).append(await commits_per_10k(policy, directory))
        order = list(seconds)[i % 3:] + list(seconds)[:i % 3]  # each goes first in turn
        with tempfile.TemporaryDirectory(dir=directory) as tmp:
            for kind in order:
                seconds[kind].append(
                    raw_executemany(Path(tmp) / f"raw{i}.sqlite3", n) if kind == "raw"
                    else await recorder_burst(n, directory, PIPE_READ_BYTES if kind == "reads" else None))
        print(f"bench_recorder {i + 1}/{repeat}: commits/10k {ours[-1]} (old policy {old[-1]}); "
              + ", ".join(f"{kind} {n / seconds[kind][-1]:,.0f} ev/s" for kind in seconds),
              file=sys.stderr, flush=True)
    worst = [max(r.values()) for r in ours]
    print_row("recorder: commits per 10,000 events, worst arrival pattern (burst, chunks of 100, one every ms)",
              f"commit when the queue runs dry: {per_pattern(old)}",
              f"deploytui: {per_pattern(ours)}", worst, "≤ 5", statistics.median(worst) <= 5)
    raw = seconds["raw"]

    def rates(kind: str) -> list[float]:  # (n / recorder seconds) / (n / raw seconds), pairwise
        return [r / e for r, e in zip(raw, seconds[kind], strict=True)]

    each = statistics.median(rates("each"))
    print_row(f"recorder events/s ÷ raw sqlite executemany of the same {n:,} rows",
              f"raw executemany {n / statistics.median(raw):,.0f} ev/s (median)",
              f"recorder {n / statistics.median(seconds['reads']):,.0f} ev/s (median), install lines handed "
              f"over a 64 KiB pipe read at a time; one emit() per event {each:.2f}×",
              rates("reads"), "≥ 0.8×", statistics.median(rates("reads")) >= 0.8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("n", nargs="?", type=int, default=100_000, help="install events per case")
    parser.add_argument("--compare", action="store_true", help="synchronous=NORMAL vs FULL side by side")
    parser.add_argument("--repeat", type=int, default=7, help="runs of each mode with --compare")
    parser.add_argument("--dir", default=None, help="where the bench database lives (a real disk)")
    parser.add_argument("--row", action="store_true", help="print the issue-11 rows as JSON")
    parser.add_argument("--quick", action="store_true", help="with --row: 10,000 events, one round")
    args = parser.parse_args()
    if args.row:
        n = 10_000 if args.quick and args.n == 100_000 else args.n
        repeat = 1 if args.quick and "--repeat" not in sys.argv else (args.repeat if "--repeat" in sys.argv else 3)
        asyncio.run(rows(n, repeat, args.dir))
    elif args.compare:
        asyncio.run(compare(args.n, args.repeat, args.dir))
    else:
        print_once(asyncio.run(run_all(args.n, directory=args.dir)))


if __name__ == "__main__":
    main()
