"""The deployments list at scale (issue 11): rows reachable, time to first paint, refresh traffic.

Three measures, each side by side with its baseline in the same run:

- rows reachable from the dashboard at N deployments: the dashboard (headless, Textual's Pilot)
  scrolls to the end and filters for the oldest row; the baseline is a list that polls the newest
  500 rows (what the dashboard did before), where neither reaches past row 500.
- time from launch to the list's first full paint, in tmux (``capture-pane`` until the newest
  row and the status line are on screen), against a minimal Textual app painting one label; at 5
  rows and at N rows, all interleaved in each repeat (so both row counts are timed beside the same
  one-label paints), ``--repeat`` times (at least 10). Our package is byte-compiled first, as
  Textual is in site-packages (see :func:`byte_compiled_package`); the launch that compiles our
  modules each time (PYTHONDONTWRITEBYTECODE with no cache) is timed beside it and reported too.
- bytes of one refresh poll when nothing changed: the dashboard's (rows changed since the last
  poll's cursor, as summaries) against the old poll (500 rows with their event logs).

    python bench/bench_list.py [--row] [--quick] [--repeat N] [--rows N]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.list_support: the seeding the list tests use

from deploytui.client.local import LocalServer, spawn_server  # noqa: E402
from tests.list_support import seed_rows  # noqa: E402

USER, PASSWORD = "bench", "bench-password"
OLD_LIMIT = 500  # the dashboard's poll before issue 11
SIZE = (100, 30)
PAINT_TIMEOUT_S = 60.0
# Paints timed per row count at least: one takes ~0.5 s, and with 3 the one-label baseline's own
# median moved from 321 to 380 ms between two sizes of one run.
PAINT_REPEATS = 10

MINIMAL_APP = '''
from textual.app import App
from textual.widgets import Label

class OneLabel(App):
    def compose(self):
        yield Label("minimal-app-ready")

OneLabel().run()
'''


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def start(data_dir: Path, rows: int) -> LocalServer:
    seed_rows(data_dir, rows)
    return spawn_server(data_dir, user=USER, password=PASSWORD)


# ---------------------------------------------------------------- paint time (tmux)

# Our own tmux server (another bench running at the same time must not kill our sessions).
TMUX_SOCKET = f"deploytui-bench-list-{os.getpid()}"


def tmux(*args: str) -> str:
    return subprocess.run(["tmux", "-L", TMUX_SOCKET, *args], capture_output=True, text=True,
                          check=False).stdout


@contextmanager
def tmux_server() -> Iterator[None]:
    """One tmux server for every paint: a session that only sleeps keeps it up (a server whose
    last session was just killed may still be exiting when the next one is asked for)."""
    tmux("new-session", "-d", "-s", "keeper", "sleep 3600")
    try:
        yield
    finally:
        tmux("kill-server")


def time_to_paint(command: str, painted: Callable[[str], bool]) -> float:
    """Seconds from launching ``command`` in a fresh tmux pane until ``painted(screen text)``."""
    session = f"paint{time.monotonic_ns()}"
    start_s = time.perf_counter()
    tmux("new-session", "-d", "-s", session, "-x", str(SIZE[0]), "-y", str(SIZE[1]), command)
    try:
        while time.perf_counter() - start_s < PAINT_TIMEOUT_S:
            if painted(tmux("capture-pane", "-p", "-t", session)):
                return time.perf_counter() - start_s
            time.sleep(0.005)
        raise RuntimeError(f"nothing painted within {PAINT_TIMEOUT_S:.0f} s: {command}")
    finally:
        tmux("kill-session", "-t", session)


def dashboard_painted(rows: int, shown: int) -> Callable[[str], bool]:
    newest = f"project-{rows - 1:06d}"
    return lambda screen: newest in screen and f"{shown}/{shown} shown" in screen


def byte_compiled_package() -> None:
    """Byte-compile deploytui into its ``__pycache__``, as pip does for an installed package and
    Python does on a first start. Textual, the baseline's library, comes compiled from
    site-packages; without this, a machine with PYTHONDONTWRITEBYTECODE=1 (this one) and an
    editable install would compile our modules on every launch and time that too."""
    # Not the bundled demo components: they are deployed as directories, __pycache__ and all.
    subprocess.run([sys.executable, "-m", "compileall", "-q", "-x", r"[/\\]demos[/\\]", str(REPO / "deploytui")],
                   check=True)


def source_only_copy(workdir: Path) -> Path:
    """A copy of the package without bytecode, to time the launch that compiles every module."""
    copy = workdir / "source-only"
    if not copy.exists():
        shutil.copytree(REPO / "deploytui", copy / "deploytui", ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def paint_times(servers: dict[int, LocalServer], repeat: int, workdir: Path) -> dict[str, list[float]]:
    """Seconds to paint, interleaved in every repeat: the one-label app, and at each row count of
    ``servers`` the dashboard with its bytecode compiled and the dashboard compiling its modules as
    it starts (PYTHONDONTWRITEBYTECODE, no cache). Keys: ``minimal``, ``dashboard-<rows>``,
    ``compiling-<rows>``. Every row count is timed beside the same one-label paints, so each ratio
    sees the same moments of the machine's load."""
    from deploytui.tui.first_rows import HEAD_LIMIT

    app_file = workdir / "one_label.py"
    app_file.write_text(MINIMAL_APP)
    python = shlex.quote(sys.executable)
    byte_compiled_package()
    commands: dict[str, tuple[str, Callable[[str], bool]]] = {
        "minimal": (f"{python} {shlex.quote(str(app_file))}", lambda screen: "minimal-app-ready" in screen)}
    for rows, srv in servers.items():
        options = f"--url {shlex.quote(srv.url)} --user {USER} --password {PASSWORD}"
        painted = dashboard_painted(rows, min(rows, HEAD_LIMIT))
        commands[f"dashboard-{rows}"] = (f"cd {shlex.quote(str(REPO))} && {python} -m deploytui {options}", painted)
        compiling = (f"cd {shlex.quote(str(source_only_copy(workdir)))} && PYTHONDONTWRITEBYTECODE=1 "
                     f"{python} -m deploytui {options}")
        commands[f"compiling-{rows}"] = (compiling, painted)
    times: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    with tmux_server():
        for attempt in range(repeat):
            # Each goes first in turn, in one direction then the other: none always gets the
            # warmer caches or follows the same neighbour.
            turn = names[attempt % len(names):] + names[:attempt % len(names)]
            for name in turn if attempt % 2 == 0 else reversed(turn):
                command, painted = commands[name]
                times[name].append(time_to_paint(command, painted))
            log(f"paint repeat {attempt + 1}: " + ", ".join(f"{name} {times[name][-1]:.3f} s" for name in names))
    return times


# ---------------------------------------------------------------- reachable rows (Pilot)

async def reachable_rows(srv: LocalServer, rows: int) -> tuple[int, bool]:
    """(rows the dashboard reaches by scrolling to the end, whether its filter finds the oldest)."""
    from deploytui.client.api import ConnectionSettings
    from deploytui.tui.app import DeploytuiApp
    from deploytui.tui.widgets.deployments_table import DeploymentsTable

    oldest = "project-000000"
    app = DeploytuiApp(ConnectionSettings(srv.url, user=USER, password=PASSWORD), embedded=True,
                       poll_interval=0.3, fast_poll_interval=0.2)
    async with app.run_test(size=SIZE) as pilot:
        table = await until(pilot, lambda: next((t for t in app.screen.query(DeploymentsTable) if t.row_count), None))
        while table.rows_by_id[table.selected_id]["project"] != oldest:
            loaded = table.row_count
            await pilot.press("G")
            if loaded < rows and not await until(pilot, lambda loaded=loaded: table.row_count > loaded):
                break  # nothing more comes: this is as far as scrolling gets
        scrolled = table.row_count
        await pilot.press("slash", *oldest)
        found = bool(await until(pilot, lambda: any(r.get("project") == oldest for r in table.rows_by_id.values()) and table.row_count == 1))
    return scrolled, found


async def until(pilot, condition: Callable[[], object], timeout: float = 30.0) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        await pilot.pause(0.05)
    return None


def old_poll_reach(srv: LocalServer, rows: int) -> tuple[int, bool]:
    """The baseline: a list polling the newest OLD_LIMIT rows and filtering them itself."""
    answer = httpx.post(srv.url + "/", json={"operation": "list_deployments", "limit": OLD_LIMIT},
                        auth=(USER, PASSWORD), timeout=60).json()
    listed = answer["deployments"]
    return len(listed), any(row["project"] == "project-000000" for row in listed)


# ---------------------------------------------------------------- traffic

def poll_bytes(srv: LocalServer, fields: dict) -> tuple[int, int]:
    """(bytes of one list_deployments answer, rows in it)."""
    response = httpx.post(srv.url + "/", json={"operation": "list_deployments", **fields},
                          auth=(USER, PASSWORD), timeout=60)
    response.raise_for_status()
    return len(response.content), len(response.json()["deployments"])


# ---------------------------------------------------------------- rows

def row(measure: str, baseline: str, ours: str, ratios: list[float], target: str, met: bool) -> dict:
    return {"measure": measure, "baseline": baseline, "deploytui": ours, "ratio": round(statistics.median(ratios), 3),
            "target": target, "met": met, "repeats": len(ratios), "ratio_min": round(min(ratios), 3),
            "ratio_median": round(statistics.median(ratios), 3)}


def measure_all(rows: int, repeat: int) -> list[dict]:
    from deploytui.tui.screens.deployments import HEAD_LIMIT

    results: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="bench-list-") as tmp:
        workdir = Path(tmp)
        small, big = start(workdir / "small", 5), start(workdir / "big", rows)
        try:
            log(f"reachable rows at {rows:,} deployments")
            old_reach, old_found = old_poll_reach(big, rows)
            scrolled, found = asyncio.run(reachable_rows(big, rows))
            results.append(row(
                f"list at {rows:,} deployments: rows reachable from the dashboard",
                f"newest-{OLD_LIMIT} poll: {old_reach:,} rows, filter finds oldest: {'yes' if old_found else 'no'}",
                f"{scrolled:,} rows by scrolling, filter finds oldest: {'yes' if found else 'no'}",
                [scrolled / rows], "all (1.0×), by scrolling and by filter", scrolled == rows and found))

            times = paint_times({5: small, rows: big}, max(repeat, PAINT_REPEATS), workdir)
            baseline = times["minimal"]
            for size in (5, rows):
                ours, compiling = times[f"dashboard-{size}"], times[f"compiling-{size}"]
                ratios = [b / a for a, b in zip(baseline, ours)]
                uncached = statistics.median(c / a for a, c in zip(baseline, compiling))
                results.append(row(
                    f"dashboard list painted ÷ one-label Textual app (tmux), {size:,} rows",
                    f"one label {statistics.median(baseline) * 1000:.0f} ms (median)",
                    f"list {statistics.median(ours) * 1000:.0f} ms (median); compiling its modules at each start "
                    f"(no bytecode cache) {statistics.median(compiling) * 1000:.0f} ms, {uncached:.2f}×",
                    ratios, "≤ 1.5×", statistics.median(ratios) <= 1.5))

            cursor = httpx.post(big.url + "/", json={"operation": "list_deployments", "limit": HEAD_LIMIT, "summary": True},
                                auth=(USER, PASSWORD), timeout=60).json()["cursor"]
            old, new, changed_rows = [], [], []
            for _ in range(repeat):
                old.append(poll_bytes(big, {"limit": OLD_LIMIT})[0])
                size, count = poll_bytes(big, {"limit": HEAD_LIMIT, "summary": True, "changed_since": cursor})
                new.append(size)
                changed_rows.append(count)
            results.append(row(
                f"list refresh traffic at {rows:,} deployments, nothing changed",
                f"newest {OLD_LIMIT} full rows: {statistics.median(old) / 1024:.0f} KiB per poll",
                f"rows changed since the last poll: {max(changed_rows)} rows, {statistics.median(new)} bytes per poll",
                [b / a for a, b in zip(old, new)], "proportional to what changed (no row when nothing did)",
                max(changed_rows) == 0))
        finally:
            small.stop()
            big.stop()
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--row", action="store_true", help="print the JSON rows (bench/README.md)")
    parser.add_argument("--quick", action="store_true", help="1,000 deployments instead of 10,000")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    rows = args.rows or (1000 if args.quick else 10_000)
    results = measure_all(rows, max(1, args.repeat))
    for result in results:
        print(json.dumps(result, ensure_ascii=False) if args.row else
              f"{result['measure']}: {result['baseline']} | {result['deploytui']} | "
              f"{result['ratio_min']}× / {result['ratio_median']}× (target {result['target']})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
