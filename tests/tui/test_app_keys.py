"""Keys on the deployments screen: focus follows the rows, and fast typing is never misrouted.

tmux ``send-keys`` (and a fast typist) delivers a whole string at once: every key is queued before
the app handles the first. ``type_at_once`` reproduces that (Pilot's ``press`` waits for the app to
go idle after each key, which hides the race).
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input

from deploytui.tui.screens.deploy_form import DeployFormScreen
from deploytui.tui.widgets.deployments_table import DeploymentsTable
from tests.tui.app_harness import deploy, live_app, wait_for


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
        await wait_for(pilot, lambda: table_of(app).row_count == 0 and app.focused is not None, what="list")
        type_at_once(app, "dxyz")
        await wait_for(pilot, lambda: isinstance(app.screen, DeployFormScreen), what="deploy form")
        form = app.screen
        field = form.query_one("#path", Input)
        # The field selects its text when focused, so typing replaces it (as when typed slowly).
        await wait_for(pilot, lambda: field.value == "xyz", what="'xyz' typed into the directory")
        assert form.focused is field
