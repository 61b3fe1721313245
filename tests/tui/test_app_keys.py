"""Keys on the deployments screen: focus follows the rows."""

from __future__ import annotations

from deploytui.tui.widgets.deployments_table import DeploymentsTable
from tests.tui.app_harness import deploy, live_app, wait_for


def table_of(app) -> DeploymentsTable:
    return app.screen.query_one(DeploymentsTable)


async def test_table_takes_focus_when_rows_replace_the_empty_state(server):
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "No deployments yet" in str(app.screen.query_one("#empty").render()), what="empty state")
        await deploy(server, "hello")
        await deploy(server, "bad-config")
        await wait_for(pilot, lambda: table_of(app).row_count == 2, what="rows")
        await wait_for(pilot, lambda: app.focused is table_of(app), what="table focused")
        await pilot.press("j")
        assert table_of(app).cursor_row == 1
