"""Pilot tests of the deployment screen and the deploy form against a real embedded server."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from deploytui.tui.screens.confirm import ConfirmScreen, PromptScreen
from deploytui.tui.screens.deploy_form import DeployFormScreen
from deploytui.tui.screens.deployment import DeploymentScreen
from deploytui.tui.screens.help import HelpScreen
from deploytui.tui.widgets.deployments_table import DeploymentsTable
from deploytui.tui.widgets.error_panel import ErrorPanel
from deploytui.tui.widgets.install_log import InstallLog
from deploytui.tui.widgets.stream_status import StreamStatus
from tests.tui.app_harness import HOSTILE, deploy, live_app, load_recording, recorded_app, screen_text, wait_for


async def open_first(pilot, app, count: int = 1) -> DeploymentScreen:
    await wait_for(pilot, lambda: app.screen.query_one(DeploymentsTable).row_count >= count, what="rows")
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="detail")
    return app.screen


def log_of(screen) -> InstallLog:
    return screen.query_one(InstallLog)


def done(screen) -> bool:
    return screen.stream_state is not None and screen.stream_state.kind == "done"


async def test_running_deploy_shows_phases_and_output_arriving_in_batches(server):
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        running = asyncio.ensure_future(deploy(server, "slow"))
        screen = await open_first(pilot, app)
        await wait_for(pilot, lambda: screen.view.phase("prepare").state == "running", what="prepare running")
        await wait_for(pilot, lambda: len(log_of(screen).lines) >= 5, what="first lines")
        seen = len(log_of(screen).lines)
        await wait_for(pilot, lambda: len(log_of(screen).lines) > seen + 5, what="more lines")
        assert screen.stream_state.kind == "live"
        await running
        await wait_for(pilot, lambda: done(screen), what="done")
        assert screen.view.status == "success"
        assert [p.state for p in screen.view.phases if p.name in ("prepare", "success")] == ["done", "done"]
        assert len(log_of(screen).lines) == screen.view.total_lines
        assert screen.batches < screen.view.total_lines  # lines reach the widget in batches
        assert "done" in screen_text(app)


async def test_failed_deploy_leads_with_error_and_e_jumps(server):
    await deploy(server, "broken-install")
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_first(pilot, app)
        await wait_for(pilot, lambda: done(screen), what="done")
        panel = screen.query_one(ErrorPanel)
        await wait_for(pilot, lambda: panel.has_class("-visible"), what="error panel")
        assert "failed in prepare" in screen_text(app)
        assert "Install command failed" in screen_text(app)
        log = log_of(screen)
        first_error = next(i for i, line in enumerate(log.lines) if line.is_error)
        await pilot.press("e")
        await wait_for(pilot, lambda: log.line_list.cursor_line == first_error, what="cursor on the first error")
        assert not log.follow


async def test_follow_pause_badge_search_copy_and_save(server, tmp_path, monkeypatch):
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        running = asyncio.ensure_future(deploy(server, "slow"))
        screen = await open_first(pilot, app)
        log = log_of(screen)
        await wait_for(pilot, lambda: len(log.lines) >= 12, what="lines")
        await pilot.press("g")  # top: follow pauses
        status = screen.query_one(StreamStatus)
        await wait_for(pilot, lambda: not log.follow and status.follow is False, what="paused")
        await wait_for(pilot, lambda: log.badge.has_class("-visible"), what="+N badge")
        assert "paused" in screen_text(app)
        await pilot.press("G")
        await wait_for(pilot, lambda: log.follow and not log.badge.has_class("-visible"), what="following again")
        await running
        await wait_for(pilot, lambda: done(screen), what="done")
        # search
        await pilot.press("slash", *"reify:sharp", "enter")
        await wait_for(pilot, lambda: log.line_list.search.total > 0, what="matches")
        assert "/reify:sharp" in screen_text(app)
        await pilot.press("escape")
        # copy: one line, then the whole log (OSC 52 through App.copy_to_clipboard)
        await pilot.press("y")
        assert app.clipboard == log.current_line_text() and app.clipboard
        await pilot.press("Y")
        assert app.clipboard == log.all_text() and app.clipboard.count("\n") == len(log.lines) - 1
        # save to a file: proposed in the user's downloads dir (not the working directory), and said where
        monkeypatch.setenv("HOME", str(tmp_path))
        monkeypatch.delenv("XDG_CONFIG_HOME", raising=False)
        (tmp_path / "Downloads").mkdir()
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen), what="prompt")
        default = app.screen.query_one("#prompt-input").value
        saved = tmp_path / "Downloads" / f"deploytui-slow-{screen.deployment_id[:8]}.log"
        assert default == str(saved)
        await pilot.press("enter")
        await wait_for(pilot, lambda: saved.exists() and saved.read_text().count("\n") == len(log.lines), what="file")
        await wait_for(pilot, lambda: any(str(saved) in str(n.message) for n in app._notifications), what="saved where")


async def test_revert_and_delete_payload_with_confirmation(server):
    await deploy(server, "hello")
    second = await deploy(server, "hello")
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_first(pilot, app, count=2)
        assert screen.deployment_id == second["deployment_id"]
        await wait_for(pilot, lambda: done(screen) and screen.can_revert, what="revertable")
        # Delete payload: cancel first, then confirm.
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("n")
        await wait_for(pilot, lambda: app.screen is screen, what="cancelled")
        await pilot.press("ctrl+x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.press("y")
        await wait_for(pilot, lambda: screen.row.get("payload_blob_present") is False, what="payload deleted")
        assert screen.check_action("delete_payload", ()) is False
        # Revert.
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm revert")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen is not screen, what="revert screen")
        revert = app.screen
        await wait_for(pilot, lambda: done(revert), what="revert done")
        assert revert.view.status == "rolled_back"


async def test_deploy_form_submits_a_directory_and_lands_on_its_live_screen(server, tmp_path):
    component = tmp_path / "my-component"
    component.mkdir()
    (component / "package.json").write_text('{"name": "my-component", "version": "1.0.0"}')
    (component / "config.yaml").write_text("rest: true\n")
    (component / ".git").mkdir()
    (component / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    app = live_app(server, deploy_dir=str(component))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DeployFormScreen), what="form")
        form = app.screen
        assert form.query_one("#project").value == "my-component"
        form.query_one("#install").value = "python3 -c \"print('installed from the form')\""
        await pilot.press("ctrl+d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirmation")
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="deployment screen")
        screen = app.screen
        await wait_for(pilot, lambda: done(screen), what="done")
        assert screen.deployment_id and len(screen.deployment_id) == 36
        assert screen.view.status == "success"
        assert any("installed from the form" in line.text.text for line in log_of(screen).lines)
        assert screen.view.events[0].name == "phase"  # attached from the first event


async def test_deploy_form_project_follows_the_directory_until_typed(server, tmp_path):
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    app = live_app(server, deploy_dir=str(tmp_path / "first"))
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, DeployFormScreen), what="form")
        path, project = app.screen.query_one("#path"), app.screen.query_one("#project")
        assert project.value == "first"
        path.focus()
        await pilot.press("end", *"/../second")  # typed key by key, as a person does
        await wait_for(pilot, lambda: project.value == "second", what="project follows the directory")
        project.focus()
        await pilot.press("end", "x")
        await wait_for(pilot, lambda: project.value == "secondx", what="typed project")
        path.value = str(tmp_path / "first")
        await pilot.pause()
        assert project.value == "secondx"  # what the user typed is kept


async def test_hostile_server_text_is_shown_literally(server):
    command = "python3 -c \"import sys; print(sys.argv[1]); sys.exit(3)\" '" + HOSTILE.replace("'", "") + "'"
    await deploy(server, "hello", install_command=command)
    app = live_app(server)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_first(pilot, app)
        await wait_for(pilot, lambda: screen.query_one(ErrorPanel).has_class("-visible"), what="error")
        text = screen_text(app)
        assert "[bold red]x[/]" in text  # markup shown, not applied
        assert "\x1b" not in text and "\x07" not in text
        assert "pwned" not in text  # the OSC title sequence is dropped whole
        svg = app.export_screenshot()
        assert "\x1b" not in svg


async def test_help_lists_every_binding_with_ids(server):
    await deploy(server, "hello")
    app = live_app(server)
    async with app.run_test(size=(160, 48)) as pilot:
        await open_first(pilot, app)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        text = screen_text(app)
        for ident in ("deployment.copy_line", "deployment.save", "log.follow", "log.search", "app.help"):
            assert ident in text
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="closed")


async def test_without_colour_each_status_still_reads_from_its_glyph(monkeypatch):
    """NO_COLOR makes the dashboard monochrome, so a status must not be told by its colour alone:
    failed rows and successful rows carry different glyphs."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = recorded_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DeploymentsTable).row_count == len(load_recording()["rows"]), what="rows")
        lines = screen_text(app).splitlines()
        status_cell = {project: next(line for line in lines if f" {project} " in line).split()[0]
                       for project in ("bad-config", "broken-install", "slow", "shop-api")}
    assert status_cell == {"bad-config": "✗", "broken-install": "✗", "slow": "✓", "shop-api": "◆"}


async def test_stream_state_shows_reconnecting_when_the_server_goes_away(server):
    from deploytui.tui.widgets.stream_status import StreamStatus
    from tests.client.tcp_proxy import TcpProxy

    running = asyncio.ensure_future(deploy(server, "slow"))
    async with TcpProxy(server.url) as proxy:
        app = live_app(SimpleNamespace(url=proxy.url, user=server.user, password=server.password))
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await open_first(pilot, app)
            await wait_for(pilot, lambda: screen.stream_state is not None and screen.stream_state.kind == "live",
                           what="live")
            server.kill()
            proxy.cut_all()
            await wait_for(pilot, lambda: screen.stream_state.kind == "reconnecting", what="reconnecting")
            status = str(screen.query_one(StreamStatus).render())
            assert "reconnecting" in status and "attempt" in status
    await asyncio.gather(running, return_exceptions=True)


async def test_L_loads_the_full_history_where_the_stream_left_a_gap(harper_server):
    from deploytui.client.attach import attach

    await deploy(harper_server, "chatty")

    def as_against_harper(api, deployment_id, **kwargs):
        # A real Harper has no events API: what its bounded replay lacks shows as a gap.
        return attach(api, deployment_id, events_api=False, trust_marker_count=False, **kwargs)

    app = live_app(harper_server, attach=as_against_harper)
    async with app.run_test(size=(160, 48)) as pilot:
        screen = await open_first(pilot, app)
        await wait_for(pilot, lambda: done(screen), what="done")
        log = log_of(screen)
        assert screen.view.gaps and len(log.lines) < 1000  # the bounded replay: ~180 lines and a gap
        log.line_list.scroll_home(animate=False)
        await pilot.pause()
        assert "not kept by the server" in screen_text(app)
        log.line_list.focus()
        await pilot.press("L")
        await wait_for(pilot, lambda: len(log.lines) > 5000, what="full history")
        log.line_list.scroll_home(animate=False)
        await pilot.pause()
        assert "not kept by the server" not in screen_text(app)  # the separator is gone


async def test_a_deployment_opened_by_id_gets_its_row_with_the_first_batch(server, monkeypatch):
    """The row read at the open and the first events reach the screen together: header, phases and
    tabs settle in one layout, not one for the row and another for the events (30-50 ms each)."""
    from deploytui.tui.messages import RowFetched, StreamBatch

    # Long enough that its replay spans several batches (a short one ends before the first).
    result = await deploy(server, "hello", install_command="python3 -c 'for i in range(20000): print(i)'")
    posted: list[str] = []
    post_message, post_batch = DeploymentScreen.post_message, DeploymentScreen._post_batch

    def recording_post(self, message):
        if isinstance(message, RowFetched | StreamBatch):
            posted.append(type(message).__name__)
        return post_message(self, message)

    def recording_batch(self, final: bool = False) -> None:
        posted.append("<batch>")
        post_batch(self, final)

    monkeypatch.setattr(DeploymentScreen, "post_message", recording_post)
    monkeypatch.setattr(DeploymentScreen, "_post_batch", recording_batch)
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        app.open_deployment(result["deployment_id"])
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and done(app.screen), what="done")
        assert app.screen.view.status == "success" and "hello" in screen_text(app)
    assert posted.count("RowFetched") == 2  # the one read at the open, then the final one
    assert posted[:3] == ["<batch>", "RowFetched", "StreamBatch"], posted
