"""The deployments screen's keys and liveness: focus follows the rows, fast typing is never
misrouted, and nothing ticks while the server is gone.

tmux ``send-keys`` (and a fast typist) delivers a whole string at once: every key is queued before
the app handles the first. ``type_at_once`` reproduces that (Pilot's ``press`` waits for the app to
go idle after each key, which hides the race).
"""

from __future__ import annotations

import asyncio
import contextlib
import time

from textual import events
from textual.widgets import Input

from deploytui.tui.screens.deploy_form import DeployFormScreen
from deploytui.tui.widgets.deployments_table import DeploymentsTable
from deploytui.tui.widgets.server_status import ConnectionBanner
from tests.conftest import start_server
from tests.tui.app_harness import deploy, live_app, screen_text, wait_for


def table_of(app) -> DeploymentsTable:
    return app.screen.query_one(DeploymentsTable)


def type_at_once(app, keys: str) -> None:
    """Queue every key of ``keys`` before the app reads the first (as tmux send-keys does)."""
    names = {"/": "slash"}
    for char in keys:
        event = events.Key(names.get(char, char), char)
        event.set_sender(app)
        app._driver.send_message(event)


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


async def test_filter_keys_typed_at_once_all_reach_the_filter(server):
    await deploy(server, "hello")
    await deploy(server, "bad-config")
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: table_of(app).row_count == 2, what="rows")
        type_at_once(app, "/bad")  # "d" is a command key too: here it is text
        field = app.screen.query_one("#filter-input", Input)
        await wait_for(pilot, lambda: field.value == "bad", what="'bad' in the filter")
        await wait_for(pilot, lambda: table_of(app).row_count == 1, what="filtered")
        assert table_of(app).status_filter == "all"


async def test_deploy_form_keys_typed_at_once_reach_the_directory_field(server):
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "No deployments yet" in screen_text(app), what="empty list")
        type_at_once(app, "dxyz")
        await wait_for(pilot, lambda: isinstance(app.screen, DeployFormScreen), what="deploy form")
        form = app.screen
        field = form.query_one("#path", Input)
        # The field selects its text when focused, so typing replaces it (as when typed slowly).
        await wait_for(pilot, lambda: field.value == "xyz", what="'xyz' typed into the directory")
        assert form.focused is field


async def test_server_gone_running_durations_stop_and_the_banner_says_it_is_cut(tmp_path):
    """While the server does not answer, a running row's duration stays at the last answer (we do
    not know it still runs), and the one-line banner ends with "…" where the reason is cut."""
    srv = start_server(tmp_path / "data")
    clock = [time.time()]
    app = live_app(srv, now=lambda: clock[0])
    running = None
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            running = asyncio.ensure_future(deploy(srv, "slow"))
            table = table_of(app)
            await wait_for(pilot, lambda: any(r["status"] not in ("success", "failed") for r in table.rows_by_id.values()), what="running row")
            slow_id = next(k for k, r in table.rows_by_id.items() if r["status"] not in ("success", "failed"))
            await asyncio.to_thread(srv.stop)
            await wait_for(pilot, lambda: app.screen.query_one(ConnectionBanner).has_class("-visible"), what="banner")
            before = table.get_cell(slow_id, "duration").plain
            clock[0] += 600
            table.tick()
            assert table.get_cell(slow_id, "duration").plain == before
            banner_line = next(line for line in screen_text(app).splitlines() if "server unreachable" in line)
            assert "could not connect to" in banner_line
            assert banner_line.rstrip().endswith("…")
    finally:
        srv.stop()
        if running is not None:
            with contextlib.suppress(Exception):
                await running
