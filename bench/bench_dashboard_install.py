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
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import io
import json
import tarfile
import tempfile
import time
from pathlib import Path

import httpx

from deploytui.client.api import ConnectionSettings
from deploytui.client.local import spawn_server
from deploytui.tui.app import DeploytuiApp
from deploytui.tui.launch import tune_gc
from deploytui.tui.widgets.install_log import InstallLog

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


async def watch_stalls(stop: asyncio.Event, gaps: list[float]) -> None:
    last = time.perf_counter()
    while not stop.is_set():
        await asyncio.sleep(0.002)
        now = time.perf_counter()
        gaps.append(now - last)
        last = now


async def run(lines: int, size: tuple[int, int]) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server = spawn_server(Path(tmp) / "data", user="admin", password="bench-password")
        try:
            settings = ConnectionSettings(server.url, user="admin", password="bench-password")
            body = {"operation": "deploy_component", "project": "big", "payload": payload(),
                    "install_command": f'"$DEPLOYTUI_PYTHON" install.py {lines}'}
            started = time.perf_counter()
            async with httpx.AsyncClient(auth=("admin", "bench-password"), timeout=600) as http:
                deploy = asyncio.create_task(http.post(server.url + "/", json=body))
                while True:
                    rows = (await http.post(server.url + "/", json={"operation": "list_deployments"})).json()
                    if rows["deployments"]:
                        deployment_id = rows["deployments"][0]["deployment_id"]
                        break
                app = DeploytuiApp(settings, embedded=True)
                async with app.run_test(size=size) as pilot:
                    app.open_deployment(deployment_id)
                    await pilot.pause()
                    stop, gaps = asyncio.Event(), []
                    watcher = asyncio.create_task(watch_stalls(stop, gaps))
                    log = app.screen.query_one(InstallLog)
                    while len(log.lines) < lines:
                        await asyncio.sleep(0.005)
                    await pilot.pause()  # one more refresh: the last line is rendered in view
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--size", default="160x48")
    parser.add_argument("--default-gc", action="store_true", help="keep CPython's GC thresholds (the dashboard tunes them)")
    args = parser.parse_args()
    if not args.default_gc:
        tune_gc()
    width, height = (int(v) for v in args.size.split("x"))
    asyncio.run(run(args.lines, (width, height)))


if __name__ == "__main__":
    main()
