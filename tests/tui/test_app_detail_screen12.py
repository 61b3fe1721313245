"""Pilot tests of the deployment screen's issue-12 items (no colour, the revert's screen and dialog,
the error panel's cause, compact and zoom, the Peers tab's note, the help screen at 80 columns),
against one real embedded server shared by the module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from rich.style import Style

from deploytui.client.local import LocalServer
from deploytui.tui.screens.confirm import ConfirmScreen
from deploytui.tui.screens.deployment import DeploymentScreen
from deploytui.tui.screens.help import HelpScreen, collect_bindings
from deploytui.tui.widgets.deployments_table import DeploymentsTable
from deploytui.tui.widgets.error_panel import ErrorPanel
from deploytui.tui.widgets.install_log import InstallLog
from deploytui.tui.widgets.phase_timeline import PhaseTimeline
from tests.conftest import start_server
from tests.tui.app_harness import deploy, live_app, screen_text, wait_for


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = start_server(tmp_path_factory.mktemp("detail12") / "data")
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def deployed(shared_server: LocalServer) -> dict[str, str]:
    """One deploy of each demo the tests read (deployment ids by project)."""
    import asyncio

    async def all_of_them() -> dict[str, str]:
        ids = {}
        for project in ("broken-install", "bad-config", "hello"):
            ids[project] = (await deploy(shared_server, project))["deployment_id"]
        return ids

    return asyncio.run(all_of_them())


async def open_row(pilot, app, deployment_id: str) -> DeploymentScreen:
    table = app.screen.query_one(DeploymentsTable)
    await wait_for(pilot, lambda: deployment_id in table.rows, what="row")
    table.move_cursor(row=table.get_row_index(deployment_id))
    await pilot.press("enter")
    await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="detail")
    screen = app.screen
    await wait_for(pilot, lambda: screen.stream_state is not None and screen.stream_state.kind == "done", what="done")
    await wait_for(pilot, lambda: not any(w.group == "attach" and not w.is_finished for w in screen.workers), what="attached")
    await pilot.pause()
    return screen


def styles_of(app, needle: str) -> list[Style]:
    """The style of each character of the first place ``needle`` shows on screen, as drawn
    (after Textual's NO_COLOR filter)."""
    for strip in app.screen._compositor.render_strips():
        text = strip.text
        at = text.find(needle)
        if at < 0:
            continue
        styles: list[Style] = []
        for segment in strip:
            styles += [segment.style or Style()] * len(segment.text)
        return styles[at : at + len(needle)]
    raise AssertionError(f"{needle!r} is not on screen:\n{screen_text(app)}")


def region_text(app, widget) -> str:
    """What ``widget`` shows on screen (its frame included)."""
    r = widget.region
    return "\n".join(line[r.x : r.x + r.width] for line in screen_text(app).splitlines()[r.y : r.y + r.height])


def stands_out(styles: list[Style]) -> bool:
    return all(style.reverse and style.bold for style in styles)


async def test_without_colour_a_failure_is_reverse_video(shared_server, deployed, monkeypatch):
    """Issue 12 bug 5: NO_COLOR greyed ``✗ failed`` to 240 on 233; it must stand out without colour."""
    monkeypatch.setenv("NO_COLOR", "1")
    app = live_app(shared_server)
    async with app.run_test(size=(120, 30)) as pilot:
        assert app.no_color
        table = app.screen.query_one(DeploymentsTable)
        await wait_for(pilot, lambda: table.row_count >= 3, what="rows")
        await pilot.pause()
        failed_row = next(line for line in screen_text(app).splitlines() if " broken-install " in line)
        phase_at = failed_row.index("prepare")
        assert stands_out(styles_of(app, failed_row[phase_at : phase_at + len("prepare")]))  # the list's phase
        assert stands_out(styles_of(app, failed_row.split()[0]))  # the list's ✗
        assert not stands_out(styles_of(app, next(line for line in screen_text(app).splitlines() if " hello " in line).split()[0]))
        await open_row(pilot, app, deployed["broken-install"])
        await wait_for(pilot, lambda: app.screen.query_one(ErrorPanel).has_class("-visible"), what="error panel")
        await pilot.pause()
        assert stands_out(styles_of(app, "✗ failed"))  # the header's badge (the first on screen)
        assert stands_out(styles_of(app, "✗ failed in prepare"))  # the error panel's title
        assert stands_out(styles_of(app, "✗ prepare"[:1]))  # the timeline's failed phase glyph


async def test_revert_names_its_release_in_the_dialog_and_on_its_own_screen(shared_server, deployed):
    """Issue 12 bug 6: the revert screen said ``- · payload deleted`` and listed prepare/load/
    replicate as skipped after success; the dialog did not say which release it goes back to."""
    first = (await deploy(shared_server, "hello"))["deployment_id"]
    second = (await deploy(shared_server, "hello"))["deployment_id"]
    app = live_app(shared_server)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_row(pilot, app, second)
        await wait_for(pilot, lambda: screen.can_revert, what="revertable")
        await pilot.press("ctrl+r")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen), what="confirm")
        await pilot.pause()
        dialog = screen_text(app)
        assert f"release {first[:8]}" in dialog, dialog
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen is not screen, what="revert screen")
        revert = app.screen
        await wait_for(pilot, lambda: revert.stream_state is not None and revert.stream_state.kind == "done", what="revert done")
        await wait_for(pilot, lambda: f"revert to release {first[:8]}" in screen_text(app), what="revert target")
        text = screen_text(app)
        assert "payload deleted" not in text and "- ·" not in text
        names = [p.name for p in revert.query_one(PhaseTimeline).phases]
        assert names == ["revert", "restart", "success"], names
        assert "prepare" not in text and "replicate" not in text


async def test_error_panel_quotes_the_first_error_lines_and_the_tail_on_E(shared_server, deployed):
    """The panel quoted npm's "A complete log of this run can be found in:" (broken-install) and
    "found 0 vulnerabilities" (bad-config), and offered ``e`` where no error line exists."""
    app = live_app(shared_server)
    async with app.run_test(size=(100, 30)) as pilot:
        screen = await open_row(pilot, app, deployed["broken-install"])
        panel = screen.query_one(ErrorPanel)
        await wait_for(pilot, lambda: panel.has_cause, what="cause")
        text = region_text(app, panel)
        assert "npm ERR! code E404" in text and "is not in this registry" in text, text
        assert "complete log" not in text
        assert "e: first error" in text and "E: last lines" in text
        await pilot.press("E")
        await wait_for(pilot, lambda: "debug-0.log" in region_text(app, panel), what="tail")
        assert "npm ERR! code E404" not in region_text(app, panel)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DeploymentScreen), what="list")
        screen = await open_row(pilot, app, deployed["bad-config"])
        panel = screen.query_one(ErrorPanel)
        await wait_for(pilot, lambda: "failed to load" in region_text(app, panel), what="message")
        text = region_text(app, panel)
        assert not panel.has_cause and "e: first error" not in text
        assert "E: last lines" in text and "found 0 vulnerabilities" not in text
        await pilot.press("E")
        await wait_for(pilot, lambda: "found 0 vulnerabilities" in region_text(app, panel), what="tail shown")


@pytest.mark.parametrize("size", [(80, 24), (60, 20), (100, 40)])
async def test_c_collapses_the_top_and_z_gives_the_output_the_screen(shared_server, deployed, size):
    """A failed deploy left 7 output lines at 80x24 and 2 at 60x20. A short terminal starts with the
    header's first line and the error panel (no timeline); c shows the whole top, then collapses it."""
    app = live_app(shared_server)
    async with app.run_test(size=size) as pilot:
        screen = await open_row(pilot, app, deployed["broken-install"])
        pane = screen.query_one(InstallLog).line_list
        timeline, panel = screen.query_one(PhaseTimeline), screen.query_one(ErrorPanel)
        await wait_for(pilot, lambda: panel.has_class("-visible"), what="panel")
        await pilot.pause()
        short = size[1] < 30

        def timeline_shown() -> bool:
            return bool(timeline.display and timeline.region.height)

        first = pane.size.height
        assert timeline_shown() is not short and panel.region.height > 0
        assert "broken-install" in screen_text(app) and "failed" in screen_text(app)  # the title line stays
        if short:
            assert first >= 7, first  # was 2 at 60x20
            await pilot.press("c")  # the whole top
            await pilot.pause()
            assert timeline_shown() and pane.size.height < first
        full = pane.size.height
        await pilot.press("c")  # collapsed: no timeline, no error panel
        await pilot.pause()
        compact = pane.size.height
        assert not timeline_shown() and not panel.region.height
        await pilot.press("z")
        await pilot.pause()
        zoomed = pane.size.height
        assert zoomed >= size[1] - 3  # the output, its status line and the footer
        await pilot.press("z")
        await pilot.pause()
        assert pane.size.height == compact
        assert full < compact < zoomed, (full, compact, zoomed)
        await pilot.press("c")
        await pilot.pause()
        assert pane.size.height == full and timeline_shown()


async def test_an_empty_peers_tab_says_why(shared_server, deployed):
    app = live_app(shared_server)
    async with app.run_test(size=(100, 30)) as pilot:
        await open_row(pilot, app, deployed["hello"])
        await pilot.press("3")
        await wait_for(pilot, lambda: "No peers reported" in screen_text(app), what="peers note")
        assert "single node" in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DeploymentScreen), what="list")
        await open_row(pilot, app, deployed["broken-install"])
        await pilot.press("3")
        await wait_for(pilot, lambda: "never replicated (it failed in prepare)" in screen_text(app), what="failed note")


@pytest.mark.parametrize("size", [(80, 24), (60, 20)])
async def test_help_shows_whole_ids_at_80_columns_and_where_the_keymap_is(shared_server, deployed, size):
    app = live_app(shared_server)
    async with app.run_test(size=size) as pilot:
        screen = await open_row(pilot, app, deployed["hello"])
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
        await pilot.pause()
        text = screen_text(app)
        assert "set_keymap" not in text and "keymap.toml in" in text
        ids = [ident for *_, ident in collect_bindings(screen) if ident]
        shown = [ident for ident in ids if ident in text]
        assert len(shown) >= 8  # the rows that fit, each id whole
        assert "deployment.back" in shown and "deployment.copy_line" in shown
