"""Save SVG screenshots of the dashboard's main screens to ``screenshots/``.

Starts a real embedded server in a temporary data dir, deploys the bundled demos through the app
itself (the ``D`` key), and captures the list, a successful deploy, a failed one, the search, the
deploy form and the help screen at 120x36. Run from the repository root::

    python scripts/screenshots.py
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from deploytui.client.api import ConnectionSettings  # noqa: E402
from deploytui.client.local import spawn_server  # noqa: E402
from deploytui.tui.app import DeploytuiApp  # noqa: E402

OUT = ROOT / "screenshots"
SIZE = (120, 36)


async def wait_for(pilot, condition, timeout: float = 60.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise TimeoutError("the app did not reach the expected state")
        await pilot.pause(0.1)


async def capture(url: str, user: str, password: str) -> None:
    app = DeploytuiApp(ConnectionSettings(url, user=user, password=password), embedded=True,
                       poll_interval=0.5, fast_poll_interval=0.3, animate=False, deploy_dir=str(Path.home() / "my-component"))
    async with app.run_test(size=SIZE) as pilot:
        table = lambda: app.screen.query_one("#deployments")  # noqa: E731
        await pilot.pause(1.0)
        await pilot.press("D")
        await wait_for(pilot, lambda: len(table().rows_by_id) == 5
                       and all(r["status"] in ("success", "failed") for r in table().rows_by_id.values()))
        await pilot.pause(0.6)
        app.save_screenshot("deployments.svg", str(OUT))

        async def open_project(name: str) -> None:
            rows = table().rows_by_id
            key = next(k for k, r in rows.items() if r["project"] == name)
            table().move_cursor(row=table().get_row_index(key))
            await pilot.press("enter")
            await wait_for(pilot, lambda: getattr(app.screen, "stream_state", None) is not None
                           and app.screen.stream_state.kind == "done")
            await pilot.pause(0.3)

        await open_project("slow")
        app.save_screenshot("deployment-success.svg", str(OUT))
        await pilot.press("slash", *"reify:sharp", "enter")
        await pilot.pause(0.3)
        app.save_screenshot("deployment-search.svg", str(OUT))
        await pilot.press("escape", "escape")
        await pilot.pause(0.3)
        await open_project("broken-install")
        app.save_screenshot("deployment-failed.svg", str(OUT))
        await pilot.press("question_mark")
        await pilot.pause(0.3)
        app.save_screenshot("help.svg", str(OUT))
        await pilot.press("escape", "escape")
        await pilot.pause(0.3)
        await pilot.press("d")
        await pilot.pause(0.5)
        app.save_screenshot("deploy-form.svg", str(OUT))


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        server = spawn_server(Path(tmp) / "data")
        try:
            asyncio.run(capture(server.url, server.user, server.password))
        finally:
            server.stop()
    for path in sorted(OUT.glob("*.svg")):
        print(path.relative_to(ROOT))


if __name__ == "__main__":
    main()
