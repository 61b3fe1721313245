"""The list's actions on the selected row, against a real embedded server: cancel a running deploy
(ctrl+k), redeploy an older release (ctrl+r), the current-release marker, pause (p), the row as
JSON (v), and the bell + toast when a deploy fails or a watched one ends. One server for the module.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploytui.client.local import LocalServer
from deploytui.tui.screens.confirm import ConfirmScreen
from deploytui.tui.screens.deployment import DeploymentScreen
from deploytui.tui.screens.raw_json import RawJsonScreen
from deploytui.tui.widgets.deployments_table import DeploymentsTable
from tests.conftest import start_server
from tests.e2e.local_support import api, gated_install, start_deploy
from tests.tui.app_harness import live_app, recorded_app, screen_text, wait_for


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = start_server(tmp_path_factory.mktemp("list-actions") / "data")
    yield srv
    srv.stop()


def table_of(app) -> DeploymentsTable:
    return app.screen.query_one(DeploymentsTable)


def counting_bells(app) -> list[int]:
    rung: list[int] = []
    app.bell = lambda: rung.append(1)
    return rung


def toasts(app) -> list[str]:
    return [f"{n.title}: {n.message}" for n in app._notifications]


async def select(pilot, app, deployment_id: str) -> None:
    table = table_of(app)
    await wait_for(pilot, lambda: deployment_id in table.rows_by_id, what="the row listed")
    table.move_cursor(row=table.get_row_index(deployment_id))
    await pilot.pause()


async def test_ctrl_k_cancels_the_running_deploy_after_asking(server, tmp_path: Path) -> None:
    deployment_id = await asyncio.to_thread(start_deploy, server, "cancel-me", gated_install(tmp_path / "never"))
    app = live_app(server)
    async with app.run_test(size=(100, 30)) as pilot:
        rung = counting_bells(app)
        await select(pilot, app, deployment_id)
        await wait_for(pilot, lambda: app.screen.check_action("cancel_deploy", ()), what="cancel offered")
        await pilot.press("ctrl+k")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        assert "cancel-me" in screen_text(app) and deployment_id[:8] in screen_text(app)
        await pilot.press("y")
        table = table_of(app)
        await wait_for(pilot, lambda: table.rows_by_id[deployment_id]["status"] == "failed", what="the row failed")
        await wait_for(pilot, lambda: any(t.startswith("Deploy failed: cancel-me") for t in toasts(app)), what="toast")
        assert rung  # the bell: a deploy failed
        assert not app.screen.check_action("cancel_deploy", ())  # nothing left to cancel on this row
        await wait_for(pilot, lambda: "Cancel deploy" not in screen_text(app), what="the footer updated")
        assert any(t == f"Cancel deploy: Cancelled cancel-me ({deployment_id[:8]})" for t in toasts(app))
    row = api(server, "get_deployment", deployment_id=deployment_id)
    assert row["error"]["message"] == f"cancelled by {server.user}"


async def test_cancel_and_redeploy_are_not_offered_without_the_operations() -> None:
    app = recorded_app()  # a client that knows no optional operation
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: table_of(app).row_count, what="rows")
        assert not app.screen.check_action("cancel_deploy", ())
        assert not app.screen.check_action("redeploy", ())
        await pilot.press("ctrl+k", "ctrl+r")
        assert not isinstance(app.screen, ConfirmScreen)
        assert "Cancel deploy" not in screen_text(app) and "Redeploy" not in screen_text(app)


async def test_ctrl_r_redeploys_an_older_release_and_the_marker_moves(server) -> None:
    first = await asyncio.to_thread(start_deploy, server, "twice", "true")
    await asyncio.to_thread(lambda: api(server, "get_deployment", deployment_id=first))
    app = live_app(server)
    async with app.run_test(size=(100, 30)) as pilot:
        table = table_of(app)
        await wait_for(pilot, lambda: table.rows_by_id.get(first, {}).get("status") == "success", what="first success")
        second = await asyncio.to_thread(start_deploy, server, "twice", "true")
        await wait_for(pilot, lambda: table.rows_by_id.get(second, {}).get("status") == "success", what="second success")
        await wait_for(pilot, lambda: table.get_cell(second, "project").plain == "twice ★", what="marker on the newest")
        assert table.get_cell(first, "project").plain == "twice"
        await select(pilot, app, second)
        assert not app.screen.check_action("redeploy", ())  # it is what runs already
        await select(pilot, app, first)
        await wait_for(pilot, lambda: app.screen.check_action("redeploy", ()), what="redeploy offered")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="the confirmation")
        text = screen_text(app)
        assert f"again from release {first[:8]}" in text and f"current release {second[:8]}" in text
        await pilot.press("y")
        await wait_for(pilot, lambda: len([r for r in table.rows_by_id.values() if r["project"] == "twice"]) == 3,
                       what="the redeploy listed")
        third = next(k for k, r in table.rows_by_id.items() if r["project"] == "twice" and k not in (first, second))
        assert table.rows_by_id[third].get("redeploy_of") == first
        await wait_for(pilot, lambda: table.get_cell(third, "project").plain == "twice ★", what="marker moved")
        assert table.get_cell(second, "project").plain == "twice"


async def test_p_pauses_the_list_and_v_shows_the_row(server) -> None:
    # A row of its own: under xdist this test may be the first of the module on its worker.
    await asyncio.to_thread(start_deploy, server, "before-pause", "true")
    app = live_app(server)
    async with app.run_test(size=(100, 30)) as pilot:
        table = table_of(app)
        await wait_for(pilot, lambda: table.row_count, what="rows")
        await pilot.press("p")
        assert "paused (p resumes)" in screen_text(app)
        before = set(table.rows_by_id)
        new_id = await asyncio.to_thread(start_deploy, server, "while-paused", "true")
        await pilot.pause(1.0)  # several poll intervals (0.2-0.3 s) with the list paused
        assert new_id not in table.rows_by_id and set(table.rows_by_id) == before
        await pilot.press("p")
        await wait_for(pilot, lambda: new_id in table.rows_by_id, what="the refresh resumed")
        assert "paused (p resumes)" not in screen_text(app)
        await select(pilot, app, new_id)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, RawJsonScreen), what="the JSON view")
        raw = app.screen
        assert f'"deployment_id": "{new_id}"' in raw.text and '"event_log": [' in raw.text  # the whole row
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, RawJsonScreen), what="closed")


async def test_a_watched_deploy_rings_when_it_ends(server, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    deployment_id = await asyncio.to_thread(start_deploy, server, "watched", gated_install(gate))
    app = live_app(server)
    async with app.run_test(size=(100, 30)) as pilot:
        rung = counting_bells(app)
        await select(pilot, app, deployment_id)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="the deployment screen")
        gate.touch()
        await wait_for(pilot, lambda: any(t.startswith("Deploy ended: watched") for t in toasts(app)), what="toast")
        assert rung == [1]


def test_the_json_view_escapes_what_could_control_the_terminal() -> None:
    screen = RawJsonScreen({"deployment_id": "x", "user": "[bold]me[/]\x1b]0;pwned\x07"})
    assert "\x1b" not in screen.text and "\x07" not in screen.text
    assert '"user": "[bold]me[/]\\u001b]0;pwned\\u0007"' in screen.text
