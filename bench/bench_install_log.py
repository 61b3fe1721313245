"""Benchmark the install output pane under a chatty stream.

Runs a headless app (``App.run_test``) with one :class:`InstallLog` and feeds it ``--lines`` install
lines in batches of ``--batch`` every ``--tick`` seconds through a :class:`LineBuffer`, as the
dashboard does with lines arriving from an SSE stream. Prints:

* the time until the last line is on screen (the line list rendered its row), from the first batch and
  from the last one;
* the longest event-loop stall during the run, measured by a task that asks to wake every 1 ms and
  records the largest gap;
* RSS growth: for building the lines (the reducer's share) and for the widget holding them.

The longest stalls come from CPython's full (generation 2) garbage collections walking the 100 000
``InstallLine``/``SafeText`` objects, not from the widget; ``--gc-freeze`` shows the effect of
``gc.freeze()`` after each batch (the objects hold no reference cycles, so nothing leaks).

Not a test: ``python bench/bench_install_log.py [--lines 100000] [--batch 2000] [--wrap] [--search npm]``.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import time

from textual.app import App, ComposeResult

from deploytui.client.ansi import sanitize
from deploytui.client.view import InstallLine
from deploytui.tui.widgets.install_log import InstallLog, LineBuffer

_SAMPLES = [
    "npm \x1b[33mWARN\x1b[39m deprecated inflight@1.0.6: This module is not supported, and leaks memory. Do not use it.",
    "\x1b[1mreify\x1b[22m:@babel/core: \x1b[32mtiming\x1b[39m reifyNode:node_modules/@babel/core Completed in 1234ms",
    "> harper-app@1.4.2 postinstall /srv/harper/components/harper-app/node_modules/esbuild && node install.js",
    "added 1 package, and audited 1432 packages in 12s; 187 packages are looking for funding (run `npm fund`)",
    "npm \x1b[31mERR!\x1b[39m code ERESOLVE unable to resolve dependency tree while resolving harper-app@1.4.2",
]


def rss_kib() -> int:
    """Resident set size of this process, in KiB (Linux)."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def build_lines(count: int) -> list[InstallLine]:
    """``count`` sanitised lines (~100 chars, 10 % stderr, a few errors), as the reducer makes them."""
    lines = []
    now = int(time.time() * 1000)
    for index in range(count):
        raw = f"{index:>7} {_SAMPLES[index % len(_SAMPLES)]}"
        stderr = index % 10 == 0
        error = index % 1000 == 999
        lines.append(InstallLine(index, index + 1, "stderr" if stderr or error else "stdout", sanitize(raw), now + index, "npm", error, False))
    return lines


class BenchApp(App[None]):
    def compose(self) -> ComposeResult:
        yield InstallLog()


class StallMonitor:
    """Wakes every ``interval`` seconds and records the longest gap between wake-ups."""

    def __init__(self, interval: float = 0.001) -> None:
        self.interval = interval
        self.longest = 0.0
        self._task: asyncio.Task[None] | None = None

    async def _run(self) -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(self.interval)
            now = time.perf_counter()
            self.longest = max(self.longest, now - last - self.interval)
            last = now

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run())

    def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()


async def run(args: argparse.Namespace) -> None:
    gc.collect()
    rss_start = rss_kib()
    lines = build_lines(args.lines)
    gc.collect()
    rss_lines = rss_kib()

    app = BenchApp()
    async with app.run_test(size=(args.width, args.height)) as pilot:
        log = app.query_one(InstallLog)
        log.line_list.focus()
        log.wrap = args.wrap
        if args.search:
            log.search_query = args.search
        await pilot.pause()
        gc.collect()
        rss_app = rss_kib()

        last_index = lines[-1].index
        seen_last: list[float] = []
        render_item = log.line_list._render_item

        def spy(item: int, width: int):  # records when the last line's row is first painted
            if item >> 1 == last_index and not item & 1 and not seen_last:
                seen_last.append(time.perf_counter())
            return render_item(item, width)

        log.line_list._render_item = spy  # type: ignore[method-assign]

        buffer = LineBuffer(log, interval=args.tick)
        monitor = StallMonitor()
        monitor.start()
        started = time.perf_counter()
        handed = started
        for start in range(0, len(lines), args.batch):
            buffer.extend(lines[start : start + args.batch])
            handed = time.perf_counter()
            if args.gc_freeze:
                gc.freeze()  # move what is held so far out of the collector's generations
            await asyncio.sleep(args.tick)
        fed = time.perf_counter()
        while not seen_last and time.perf_counter() - fed < 30:
            await asyncio.sleep(0.005)
        monitor.stop()
        on_screen = seen_last[0] if seen_last else float("nan")
        gc.collect()
        rss_end = rss_kib()

        top_started = time.perf_counter()
        await pilot.press("home")
        await pilot.pause()
        await pilot.press("end")
        await pilot.pause()
        top_and_back = time.perf_counter() - top_started

        assert len(log.lines) == len(lines) and log.follow
        rows = log.line_list.rendered_text()
        assert any(f"{last_index:>7}" in row for row in rows), rows[-3:]

    batches = -(-len(lines) // args.batch)
    print(f"install log bench: {len(lines):,} lines in {batches} batches of {args.batch} every {args.tick * 1000:.1f} ms"
          f" ({args.width}x{args.height}, wrap={'on' if args.wrap else 'off'}, search={args.search or 'none'},"
          f" gc.freeze={'on' if args.gc_freeze else 'off'})")
    print(f"  feeding took                   {fed - started:8.3f} s (ideal {batches * args.tick:.3f} s)")
    print(f"  last line on screen after      {on_screen - started:8.3f} s from the first batch")
    print(f"                                 {(on_screen - handed) * 1000:8.1f} ms after the last batch was handed over")
    print(f"  longest event-loop stall       {monitor.longest * 1000:8.1f} ms")
    print(f"  home, end via Pilot (+overhead){top_and_back * 1000:8.1f} ms")
    print(f"  RSS: lines built   +{(rss_lines - rss_start) / 1024:7.1f} MiB (the reducer's share)")
    print(f"       widget        +{(rss_end - rss_app) / 1024:7.1f} MiB (holding and showing them)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--batch", type=int, default=2_000)
    parser.add_argument("--tick", type=float, default=1 / 30)
    parser.add_argument("--width", type=int, default=120)
    parser.add_argument("--height", type=int, default=40)
    parser.add_argument("--wrap", action="store_true")
    parser.add_argument("--search", default="")
    parser.add_argument("--gc-freeze", action="store_true", help="gc.freeze() after each batch (see the report)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
