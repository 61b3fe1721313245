"""Cold-start time of ``deploytui --help``: median and minimum over N runs, and what it imports.

Each run is a fresh interpreter (``python -m deploytui --help``), timed from spawn to exit. Then one
more run with ``-X importtime`` lists the modules imported and the slowest of them, so a regression
(somebody importing httpx or Textual at the top of cli.py) is easy to spot. Prints figures; asserts
nothing (the budget is 150 ms; see the tests for the import rules).

    python bench/cold_start.py [-n RUNS] [ARGS...]      # default ARGS: --help
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

BUDGET_MS = 150.0


def time_runs(argv: list[str], runs: int) -> list[float]:
    """Wall-clock milliseconds of ``runs`` fresh ``python -m deploytui ARGV`` processes."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "deploytui", *argv], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
        times.append((time.perf_counter() - start) * 1000)
    return times


def import_profile(argv: list[str]) -> list[tuple[str, int, int]]:
    """``(module, self µs, cumulative µs)`` for every module imported, from ``-X importtime``."""
    result = subprocess.run(
        [sys.executable, "-X", "importtime", "-m", "deploytui", *argv],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, check=False,
    )
    rows = []
    for line in result.stderr.splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        self_us, cumulative_us, name = line.removeprefix("import time:").split("|")
        # importtime indents nested imports by two spaces after one leading space; keep that depth
        rows.append((name[1:].rstrip(), int(self_us), int(cumulative_us)))
    return rows


def baseline_ms(runs: int) -> float:
    """The interpreter's own start-up (``python -c pass``), for comparison."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=False)
        times.append((time.perf_counter() - start) * 1000)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-n", "--runs", type=int, default=20)
    parser.add_argument("args", nargs="*", default=["--help"])
    opts = parser.parse_args()
    argv = opts.args or ["--help"]

    time_runs(argv, 2)  # warm the OS file cache: "cold" means a fresh interpreter, not a cold disk
    times = time_runs(argv, opts.runs)
    print(f"deploytui {' '.join(argv)}: median {statistics.median(times):.1f} ms, min {min(times):.1f} ms "
          f"over {opts.runs} runs (budget {BUDGET_MS:.0f} ms; bare `python -c pass`: {baseline_ms(5):.1f} ms)")

    profile = import_profile(argv)
    ours = [name.strip() for name, _, _ in profile if name.strip().startswith("deploytui")]
    print(f"\n{len(profile)} modules imported; deploytui's own: {', '.join(ours)}")
    heavy = [name.strip() for name, _, _ in profile if name.strip().split(".")[0] in ("textual", "httpx", "rich", "starlette", "uvicorn")]
    print(f"heavy packages imported: {', '.join(heavy) if heavy else 'none'}")
    print("\nslowest imports (cumulative):")
    top_level = [row for row in profile if not row[0].startswith(" ")]
    for name, _, cumulative in sorted(top_level, key=lambda r: r[2], reverse=True)[:10]:
        print(f"  {cumulative / 1000:7.1f} ms  {name}")


if __name__ == "__main__":
    main()
