"""How soon an install ends when it must: the figures the installer tests no longer assert.

Three cases, each run N times through :func:`deploytui.server.installer.run_install`, printing the
min and median seconds from the call to its return, and what that is past the expected moment:

* ``timeout, exits on SIGTERM``: a command outliving its timeout; expected: the timeout.
* ``timeout, ignores SIGTERM``: the same, trapping SIGTERM; expected: timeout + KILL_GRACE_SECONDS.
* ``leftover holds the pipes``: a command that exits at once leaving a background child holding its
  output pipes; expected: DRAIN_GRACE_SECONDS (the child is then killed).

    python bench/bench_install_timeout.py [-n RUNS] [--timeout SECONDS]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from deploytui.server.installer import DRAIN_GRACE_SECONDS, KILL_GRACE_SECONDS, InstallTimeout, run_install


async def timed(command: str, cwd: Path, timeout_s: float) -> float:
    started = time.perf_counter()
    try:
        await run_install(command, cwd, on_lines=lambda stream, lines: None, timeout_s=timeout_s)
    except InstallTimeout:
        pass
    return time.perf_counter() - started


async def main(runs: int, timeout_s: float) -> None:
    cases = [
        ("timeout, exits on SIGTERM", "echo started; sleep 300", timeout_s),
        ("timeout, ignores SIGTERM", "trap '' TERM; echo started; while :; do sleep 0.1; done",
         timeout_s + KILL_GRACE_SECONDS),
        ("leftover holds the pipes", "sleep 300 & echo done", DRAIN_GRACE_SECONDS),
    ]
    print(f"{runs} runs each, install timeout {timeout_s:g}s; seconds from run_install() to its return")
    print(f"{'case':<28}{'expected':>9}{'min':>8}{'median':>8}{'median past expected':>22}")
    with tempfile.TemporaryDirectory() as tmp:
        for name, command, expected in cases:
            seconds = [await timed(command, Path(tmp), timeout_s) for _ in range(runs)]
            median = statistics.median(seconds)
            print(f"{name:<28}{expected:>9.2f}{min(seconds):>8.3f}{median:>8.3f}{median - expected:>22.3f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--runs", type=int, default=5)
    parser.add_argument("--timeout", type=float, default=1.0, help="install timeout (seconds)")
    args = parser.parse_args()
    asyncio.run(main(args.runs, args.timeout))
