"""Run every issue-11 bench side by side with its baseline and print one table.

Each script in ``SCRIPTS`` is run as ``python bench/<script> --row`` (with ``--quick`` and
``--repeat N`` passed through); it prints one JSON object per measure on stdout (see
bench/README.md for the keys). A script that fails or prints no row becomes a row saying so,
so one broken bench never hides the others.

    python bench/run_all.py [--quick] [--repeat N] [--only NAME ...]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

# Scripts that implement the ``--row`` interface; each helper adds its own here when it is ready.
SCRIPTS: list[str] = ["bench_dashboard_install.py", "bench_attach.py", "bench_recorder.py", "bench_fanout.py", "bench_list.py"]

BENCH_DIR = Path(__file__).resolve().parent
ROW_KEYS = ("measure", "baseline", "deploytui", "ratio", "target", "met", "repeats", "ratio_min", "ratio_median")
HEADER = ("measure", "baseline", "deploytui", "ratio (min / median)", "target", "met")


def failure_row(script: str, reason: str) -> dict:
    """A row standing in for a script that did not produce its measures."""
    return {"measure": script, "baseline": "-", "deploytui": f"FAILED: {reason}", "ratio": None,
            "target": "-", "met": False, "repeats": 0, "ratio_min": None, "ratio_median": None}


def parse_rows(script: str, stdout: str) -> list[dict]:
    """The JSON rows a script printed; lines that are not complete rows become failure rows."""
    rows: list[dict] = []
    for line in stdout.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            rows.append(failure_row(script, f"bad JSON line: {line[:60]}"))
            continue
        missing = [key for key in ROW_KEYS if key not in row]
        rows.append(failure_row(script, f"row lacks {', '.join(missing)}") if missing else row)
    return rows


def run_script(script: str, *, quick: bool, repeat: int | None, timeout: float | None) -> list[dict]:
    """Run one bench script with ``--row`` and return its rows (or one failure row)."""
    command = [sys.executable, str(BENCH_DIR / script), "--row"]
    if quick:
        command.append("--quick")
    if repeat is not None:
        command += ["--repeat", str(repeat)]
    print(f"run_all: {' '.join(command[1:])}", file=sys.stderr, flush=True)
    try:
        # stderr is the script's progress: let it through to ours.
        done = subprocess.run(command, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        return [failure_row(script, f"timed out after {timeout:.0f} s")]
    except OSError as error:
        return [failure_row(script, str(error))]
    rows = parse_rows(script, done.stdout)
    if done.returncode != 0:
        rows.append(failure_row(script, f"exit status {done.returncode}"))
    elif not rows:
        rows.append(failure_row(script, "printed no row"))
    return rows


def _ratio_cell(row: dict) -> str:
    low, mid = row.get("ratio_min"), row.get("ratio_median", row.get("ratio"))
    if mid is None:
        return "-"
    if low is None:
        return f"{mid:.2f}×"
    return f"{low:.2f}× / {mid:.2f}×"


def table_cells(row: dict) -> tuple[str, ...]:
    """One row of the table as display strings."""
    met = row.get("met")
    return (str(row.get("measure", "?")), str(row.get("baseline", "-")), str(row.get("deploytui", "-")),
            _ratio_cell(row), str(row.get("target", "-")), "yes" if met is True else "NO")


def format_table(rows: Iterable[dict]) -> str:
    """A Markdown table (readable in a terminal, pasteable into the README)."""
    lines = [HEADER, *(table_cells(row) for row in rows)]
    widths = [max(len(line[column]) for line in lines) for column in range(len(HEADER))]

    def render(cells: Sequence[str]) -> str:
        return "| " + " | ".join(cell.ljust(width) for cell, width in zip(cells, widths)) + " |"

    rule = "|" + "|".join("-" * (width + 2) for width in widths) + "|"
    return "\n".join([render(lines[0]), rule, *(render(line) for line in lines[1:])])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (smoke run)")
    parser.add_argument("--repeat", type=int, default=None, help="repeats per measure (passed through)")
    parser.add_argument("--only", nargs="*", default=None, help="run only these scripts")
    parser.add_argument("--timeout", type=float, default=None, help="seconds allowed per script")
    args = parser.parse_args(argv)
    scripts = [script for script in SCRIPTS if not args.only or script in args.only or script.removesuffix(".py") in args.only]
    rows: list[dict] = []
    for script in scripts:
        rows += run_script(script, quick=args.quick, repeat=args.repeat, timeout=args.timeout)
    print(format_table(rows))
    return 0 if rows and all(row.get("met") is True for row in rows) else 1


if __name__ == "__main__":
    raise SystemExit(main())
