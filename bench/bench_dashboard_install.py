"""How the dashboard keeps up with a 100 000-line install, end to end.

Starts the real embedded server (a child process on loopback), deploys a component whose install
prints ``--lines`` lines as fast as Python can, and opens the real dashboard (headless,
``App.run_test``) on that deployment while it runs. Prints:

* the time from the deploy's start until the last install line is on screen (the install pane
  holds it and has rendered with it in view);
* the longest event-loop stall while the lines arrived, measured by a task that asks to wake
  every 2 ms and records the largest gap between wake-ups;
* how many batches the screen received (appends are batched per frame, never one per line).

Not a test: ``python bench/bench_dashboard_install.py [--lines 100000] [--size 160x48] [--default-gc]``.

``--row`` (the issue-11 bench interface, see bench/README.md) instead deploys once, waits for the
install to finish, then replays that deployment ``--repeat`` times each way, interleaved: bare
``httpx-sse`` iteration of its ``get_deployment`` stream (the baseline) and the dashboard opened on
it until the last line is on screen, at 80x24 and 160x48; the longest event-loop stall during those
replays; and, in a child process, the dashboard's RSS above idle once a 1,000,000-line deployment is
on screen. ``--quick`` shrinks the sizes (20k lines, 100k for memory).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import io
import json
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path
from typing import TypeVar

import httpx
import httpx_sse

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from deploytui.client.api import ConnectionSettings
from deploytui.client.local import spawn_server
from deploytui.tui.app import DeploytuiApp
from deploytui.tui.launch import tune_gc
from deploytui.tui.widgets.install_log import InstallLog
from deploytui.tui.widgets.stream_status import StreamStatus

T = TypeVar("T")
USER, PASSWORD = "admin", "bench-password"
SIZES = ((80, 24), (160, 48))
STALL_MAX_MS, STALL_P99_MS = 50, 33

INSTALL = (
    "import sys\n"
    "n = int(sys.argv[1])\n"
    "w = sys.stdout.write\n"
    "for i in range(n):\n"
    "    w(f'{i + 1:>7} reify:@babel/core: timing reifyNode:node_modules/@babel/core Completed in {i % 997}ms\\n')\n"
    "    if i % 20 == 0: sys.stdout.flush()\n"
)


def payload() -> str:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, text in {"package.json": json.dumps({"name": "big", "version": "1.0.0"}), "install.py": INSTALL}.items():
            data = text.encode()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return base64.b64encode(buf.getvalue()).decode()


async def mounted(app: DeploytuiApp, widget_type: type[T]) -> T:
    """The opened screen's ``widget_type`` widget, as soon as it is mounted."""
    while True:
        found = app.screen.query(widget_type)
        if found:
            return found.first()
        await asyncio.sleep(0.002)


async def next_frame(app: DeploytuiApp) -> None:
    """Until the screen has been drawn once more (what the last batch changed is then on it).

    Pilot.pause() would also wait until the process goes idle (up to a second), which is not
    part of the line being on screen: it measured the stream's tail and the idle wait too.
    """
    drawn = asyncio.get_running_loop().create_future()
    app.screen.call_after_refresh(lambda: drawn.done() or drawn.set_result(None))
    await drawn


async def watch_stalls(stop: asyncio.Event, gaps: list[float]) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.002)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


async def run(lines: int, size: tuple[int, int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = spawn_server(Path(tmp) / "data", user=USER, password=PASSWORD)
        try:
            settings = ConnectionSettings(server.url, user=USER, password=PASSWORD)
            body = {"operation": "deploy_component", "project": "big", "payload": payload(),
                    "install_command": f'"$DEPLOYTUI_PYTHON" install.py {lines}'}
            started = time.perf_counter()
            async with httpx.AsyncClient(auth=(USER, PASSWORD), timeout=600) as http:
                deploy = asyncio.create_task(http.post(server.url + "/", json=body))
                while True:
                    rows = (await http.post(server.url + "/", json={"operation": "list_deployments"})).json()
                    if rows["deployments"]:
                        deployment_id = rows["deployments"][0]["deployment_id"]
                        break
                app = DeploytuiApp(settings, embedded=True)
                async with app.run_test(size=size) as pilot:
                    app.open_deployment(deployment_id)
                    log = await mounted(app, InstallLog)
                    await next_frame(app)  # stalls while the lines arrive, not the screen's mount
                    stop, gaps = asyncio.Event(), []
                    watcher = asyncio.create_task(watch_stalls(stop, gaps))
                    while len(log.lines) < lines:
                        await asyncio.sleep(0.005)
                    await next_frame(app)  # the frame that shows the last line
                    on_screen = time.perf_counter() - started
                    stop.set()
                    await watcher
                    batches = getattr(app.screen, "batches", "?")
                result = await deploy
            print(f"install lines           {lines:,}")
            print(f"deploy status           {result.status_code}")
            print(f"last line on screen     {on_screen:.2f} s after the deploy started")
            print(f"longest UI stall        {max(gaps) * 1000:.0f} ms (p99 {sorted(gaps)[int(len(gaps) * 0.99)] * 1000:.0f} ms)")
            print(f"screen batches          {batches}")
        finally:
            server.stop()


# -- the --row mode: replays of one finished deployment, dashboard vs bare httpx-sse -------------


def progress(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


async def deploy_finished(url: str, lines: int) -> str:
    """Deploy a ``lines``-line install and return its id once it has finished."""
    body = {"operation": "deploy_component", "project": "big", "payload": payload(),
            "install_command": f'"$DEPLOYTUI_PYTHON" install.py {lines}'}
    async with httpx.AsyncClient(auth=(USER, PASSWORD), timeout=1800) as http:
        result = await http.post(url + "/", json=body)
        result.raise_for_status()
        rows = (await http.post(url + "/", json={"operation": "list_deployments"})).json()
        return rows["deployments"][0]["deployment_id"]


async def bare_replay(url: str, deployment_id: str) -> float:
    """Seconds to iterate the deployment's whole ``get_deployment`` stream with httpx-sse."""
    body = {"operation": "get_deployment", "deployment_id": deployment_id}
    started = time.perf_counter()
    async with httpx.AsyncClient(auth=(USER, PASSWORD), timeout=None) as http, \
            httpx_sse.aconnect_sse(http, "POST", url + "/", json=body) as source:
        async for _ in source.aiter_sse():
            pass
    return time.perf_counter() - started


async def dashboard_replay(settings: ConnectionSettings, deployment_id: str, lines: int,
                           size: tuple[int, int]) -> tuple[float, list[float]]:
    """Seconds from opening the deployment until its last line is on screen, and the loop's gaps."""
    app = DeploytuiApp(settings, embedded=True)
    async with app.run_test(size=size) as pilot:
        await pilot.pause()
        # The previous replay's app (torn down, tens of thousands of cyclic objects) is collected
        # now, not by a full collection in the middle of this replay: a user has one app.
        gc.collect()
        started = time.perf_counter()
        app.open_deployment(deployment_id)
        status = await mounted(app, StreamStatus)
        await next_frame(app)
        # Stalls while the lines arrive (as the live bench counts them), not the screen's mount.
        stop, gaps = asyncio.Event(), []
        watcher = asyncio.create_task(watch_stalls(stop, gaps))
        while status.lines < lines:
            await asyncio.sleep(0.005)
        await next_frame(app)  # the frame that shows the last line
        elapsed = time.perf_counter() - started
        stop.set()
        await watcher
    return elapsed, gaps


def row(measure: str, baseline: str, deploytui: str, ratios: list[float], target: str, met: bool) -> None:
    print(json.dumps({"measure": measure, "baseline": baseline, "deploytui": deploytui,
                      "ratio": round(statistics.median(ratios), 3), "target": target, "met": met,
                      "repeats": len(ratios), "ratio_min": round(min(ratios), 3),
                      "ratio_median": round(statistics.median(ratios), 3)}), flush=True)


async def replay_rows(lines: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = spawn_server(Path(tmp) / "data", user=USER, password=PASSWORD)
        try:
            settings = ConnectionSettings(server.url, user=USER, password=PASSWORD)
            progress(f"bench_dashboard_install: deploying a {lines:,}-line install")
            deployment_id = await deploy_finished(server.url, lines)
            await bare_replay(server.url, deployment_id)  # warm-up: the server's page cache
            bare: list[float] = []
            shown: dict[tuple[int, int], list[float]] = {size: [] for size in SIZES}
            stalls: list[tuple[float, float]] = []  # (longest, p99) of each dashboard replay
            for i in range(repeat):
                bare.append(await bare_replay(server.url, deployment_id))
                for size in SIZES:
                    elapsed, gaps = await dashboard_replay(settings, deployment_id, lines, size)
                    shown[size].append(elapsed)
                    stalls.append((max(gaps) * 1000, sorted(gaps)[int(len(gaps) * 0.99)] * 1000))
                    progress(f"  repeat {i + 1}/{repeat} {size[0]}x{size[1]}: dashboard {elapsed:.2f} s, "
                             f"bare {bare[-1]:.2f} s, stall {max(gaps) * 1000:.0f} ms")
        finally:
            server.stop()
    for (width, height), times in shown.items():
        ratios = [t / b for t, b in zip(times, bare, strict=True)]
        row(f"dashboard {lines // 1000}k-line install: last line on screen ÷ bare SSE replay ({width}x{height})",
            f"bare httpx-sse replay {statistics.median(bare):.2f} s (median)",
            f"dashboard {statistics.median(times):.2f} s (median)", ratios, "≤ 1.5×",
            statistics.median(ratios) <= 1.5)
    longest = statistics.median(s[0] for s in stalls)
    p99 = statistics.median(s[1] for s in stalls)
    row(f"dashboard longest event-loop stall during a {lines // 1000}k-line install (both sizes)",
        f"budget {STALL_MAX_MS} ms (p99 {STALL_P99_MS} ms)",
        f"{longest:.0f} ms median, {max(s[0] for s in stalls):.0f} ms worst (p99 {p99:.0f} ms median)",
        [s[0] / STALL_MAX_MS for s in stalls], f"≤ 1.0× of {STALL_MAX_MS} ms, p99 ≤ {STALL_P99_MS} ms",
        longest <= STALL_MAX_MS and p99 <= STALL_P99_MS)


def rss_mib() -> float:
    """This process's resident set size (Linux)."""
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


async def memory_child(url: str, deployment_id: str, lines: int) -> None:
    """In a child: the dashboard's RSS with the list shown (idle) and with the deployment on screen."""
    import gc

    settings = ConnectionSettings(url, user=USER, password=PASSWORD)
    app = DeploytuiApp(settings, embedded=True)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        gc.collect()
        idle = rss_mib()
        app.open_deployment(deployment_id)
        await pilot.pause()
        status = app.screen.query_one(StreamStatus)
        while status.lines < lines:
            await asyncio.sleep(0.05)
        await pilot.pause()
        gc.collect()
        print(json.dumps({"idle": idle, "shown": rss_mib()}), flush=True)


async def memory_rows(lines: int, repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = spawn_server(Path(tmp) / "data", user=USER, password=PASSWORD)
        try:
            progress(f"bench_dashboard_install: deploying a {lines:,}-line install (memory)")
            deployment_id = await deploy_finished(server.url, lines)
            above: list[float] = []
            for i in range(repeat):
                out = subprocess.run([sys.executable, __file__, "--memory-child", server.url, deployment_id,
                                      "--lines", str(lines)], capture_output=True, text=True, check=True).stdout
                figures = json.loads(out.strip().splitlines()[-1])
                above.append(figures["shown"] - figures["idle"])
                progress(f"  repeat {i + 1}/{repeat}: idle {figures['idle']:.0f} MiB, shown {figures['shown']:.0f} MiB")
        finally:
            server.stop()
    row(f"dashboard memory for a {lines:,}-line deployment (RSS above idle)", "budget 150 MiB above idle",
        f"{statistics.median(above):.0f} MiB above idle (median)", [a / 150 for a in above],
        "≤ 1.0× of 150 MiB", statistics.median(above) <= 150)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=None)
    parser.add_argument("--size", default="160x48")
    parser.add_argument("--default-gc", action="store_true", help="keep CPython's GC thresholds (the dashboard tunes them)")
    parser.add_argument("--row", action="store_true", help="print the issue-11 rows (JSON) side by side with the baselines")
    parser.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--memory-lines", type=int, default=None)
    parser.add_argument("--memory-child", nargs=2, metavar=("URL", "DEPLOYMENT_ID"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if not args.default_gc:
        tune_gc()
    if args.memory_child:
        asyncio.run(memory_child(*args.memory_child, args.lines))
    elif args.row:
        lines = args.lines or (20_000 if args.quick else 100_000)
        memory_lines = args.memory_lines or (100_000 if args.quick else 1_000_000)
        asyncio.run(replay_rows(lines, args.repeat))
        asyncio.run(memory_rows(memory_lines, 1 if args.quick else args.repeat))
    else:
        width, height = (int(v) for v in args.size.split("x"))
        asyncio.run(run(args.lines or 100_000, (width, height)))


if __name__ == "__main__":
    main()
