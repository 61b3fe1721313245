"""The deployment header (tui/widgets/deployment_header.py): redrawn every batch of a stream, it
lays the screen out again only when its height changes."""

from __future__ import annotations

from textual.app import App, ComposeResult

from deploytui.tui.widgets.deployment_header import DeploymentHeader

ROW = {"deployment_id": "d-1", "project": "shop", "status": "installing", "phase": "prepare", "user": "admin",
       "origin_node": "vm", "started_at": 1_700_000_000_000, "payload_size": 1200, "payload_hash": "ab" * 32}


class HeaderApp(App[None]):
    def compose(self) -> ComposeResult:
        yield DeploymentHeader(now=lambda: 1_700_000_010.0, id="header")


def layouts(app: App) -> int:
    return app.screen._layout_updates


async def test_a_redraw_of_the_same_height_is_a_repaint_and_a_new_line_a_layout() -> None:
    app = HeaderApp()
    async with app.run_test(size=(100, 12)) as pilot:
        header = app.query_one(DeploymentHeader)
        header.show(ROW)
        await pilot.pause()
        height = header.size.height
        before = layouts(app)
        header.show({**ROW, "phase": "install", "status": "installing"})  # same lines, new text
        header.tick()
        await pilot.pause()
        assert layouts(app) == before and header.size.height == height
        header.show({**ROW, "package_identifier": "shop@1.0.0"})  # one more line
        await pilot.pause()
        assert layouts(app) > before and header.size.height == height + 1
