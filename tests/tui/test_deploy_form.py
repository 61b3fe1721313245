"""The deploy form and staged deployments in the dashboard, against real servers (issues 12 and 13).

- The form asks what to deploy: without a configured directory it starts empty (never the working
  directory), and ``ctrl+d`` first shows a confirmation naming the directory (as packed: files and
  size), the project and the server; ``n`` goes back to the form with nothing sent.
- "Stage only" is offered only by a server with two-phase deploys (ours), not by Harper 5.1.14's
  wire; a stage-only deploy ends ``staged`` with the running release untouched.
- A staged row in the list offers ``ctrl+a`` (activate), behind a confirmation; yes makes it live.
"""

from __future__ import annotations

from pathlib import Path

from deploytui.tui.screens.confirm import ConfirmScreen
from deploytui.tui.screens.deploy_form import DeployFormScreen
from deploytui.tui.screens.deployment import DeploymentScreen
from deploytui.tui.screens.deployments import DeploymentsScreen
from deploytui.tui.widgets.deployments_table import DeploymentsTable
from tests.conftest import op
from tests.tui.app_harness import live_app, screen_text, wait_for


def component(root: Path, name: str, version: int = 1) -> Path:
    directory = root / name
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "package.json").write_text(f'{{"name": "{name}", "version": "{version}.0.0"}}')
    (directory / "version.txt").write_text(str(version))
    return directory


def rows(srv, project: str) -> list[dict]:
    return op(srv, {"operation": "list_deployments", "project": project}).json()["deployments"]


async def open_form(pilot, app) -> DeployFormScreen:
    await pilot.press("d")
    return await wait_for(pilot, lambda: isinstance(app.screen, DeployFormScreen) and app.screen, what="form")


async def fill(pilot, form: DeployFormScreen, directory: Path, install: str = "echo built") -> None:
    form.query_one("#path").value = str(directory)
    form.query_one("#install").value = install
    await pilot.pause()


async def test_the_form_asks_what_and_confirms_before_deploying(server, tmp_path: Path) -> None:
    directory = component(tmp_path, "confirm-me")
    app = live_app(server)  # no deploy_dir: nothing is chosen for the user
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot, app)
        assert form.query_one("#path").value == "" and form.query_one("#project").value == ""
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: "not a directory: (empty)" in screen_text(app), what="empty refused")
        assert app.screen is form

        await fill(pilot, form, directory)
        await pilot.press("ctrl+d")
        confirm = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, what="confirm")
        said = confirm.body.plain
        assert str(directory) in said and "2 files" in said and "as project confirm-me" in said
        assert server.url in said and "replaces the running release" in said
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is form, what="back to the form")
        assert rows(server, "confirm-me") == []  # nothing was sent

        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm again")
        await pilot.press("y")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen, what="deploy")
        await wait_for(pilot, lambda: screen.view.status == "success", what="deployed")


async def test_stage_only_then_activate_from_the_list(server, tmp_path: Path) -> None:
    op(server, {"operation": "deploy_component", "project": "later", "package": f"file:{component(tmp_path / 'v1', 'later')}",
                "install_command": "echo built"})
    app = live_app(server)
    async with app.run_test(size=(120, 32)) as pilot:
        form = await open_form(pilot, app)
        await fill(pilot, form, component(tmp_path / "v2", "later", 2))
        await wait_for(pilot, lambda: form.query_one("#stage-row").display, what="stage only offered")
        form.query_one("#restart").value = True
        form.query_one("#stage-only").value = True
        await pilot.pause()
        assert form.query_one("#restart").disabled and form.query_one("#restart").value is False
        # each switch says its state in words, for a terminal without colour
        assert str(form.query_one("#stage-only-state").render()) == "on"
        assert str(form.query_one("#restart-state").render()) == "off"
        await pilot.press("ctrl+d")
        confirm = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, what="confirm")
        assert "Stage only" in confirm.body.plain and confirm.title_text == "Stage later?"
        await pilot.press("y")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen, what="deploy")
        await wait_for(pilot, lambda: screen.view.status == "staged", what="staged")
        staged_id = screen.deployment_id
        assert [r["status"] for r in rows(server, "later")] == ["staged", "success"]

        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentsScreen), what="list")
        table = app.screen.query_one(DeploymentsTable)
        await wait_for(pilot, lambda: staged_id in table.rows_by_id, what="staged row")
        table.move_cursor(row=table.get_row_index(staged_id))
        await wait_for(pilot, lambda: app.screen.check_action("activate", ()), what="activate offered")
        await pilot.press("ctrl+a")
        confirm = await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, what="confirm")
        assert staged_id[:8] in confirm.body.plain and "without installing again" in confirm.body.plain
        await pilot.press("y")
        await wait_for(pilot, lambda: rows(server, "later")[0]["status"] == "success", what="activated")
        await wait_for(pilot, lambda: not app.screen.check_action("activate", ()), what="no longer offered")


async def test_a_server_without_two_phase_offers_neither(harper_server, tmp_path: Path) -> None:
    app = live_app(harper_server)
    async with app.run_test(size=(100, 30)) as pilot:
        form = await open_form(pilot, app)
        await wait_for(pilot, lambda: app.api.supports("two_phase") is False, what="learnt")
        await pilot.pause()
        assert not form.query_one("#stage-row").display
        await fill(pilot, form, component(tmp_path, "old"))
        request, problem = form.read_form()
        assert problem is None and request is not None and "activate" not in request.fields()
