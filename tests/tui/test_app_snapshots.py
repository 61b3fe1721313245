"""SVG snapshots of the dashboard's screens, on data recorded from a real server, with a frozen clock.

Regenerate with ``pytest tests/tui/test_app_snapshots.py --snapshot-update`` and look at the report.
"""

from __future__ import annotations

import pytest

from deploytui.tui.glyphs import set_ascii_mode
from tests.tui.app_harness import load_recording, recorded_app, running_copy, wait_for

SMALL, LARGE = (80, 24), (160, 48)


async def _list_loaded(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.screen.query_one("#deployments").row_count == len(load_recording()["rows"]), what="rows")
    await pilot.pause()


def _row_id(recording: dict, project: str, status: str | None) -> str:
    return next(r for r in recording["rows"] if r["project"] == project and status in (None, r["status"]))["deployment_id"]


async def _select(pilot, project: str, status: str | None = None) -> None:
    """The list loaded, the cursor on ``project``'s newest row (of ``status``, when given)."""
    await _list_loaded(pilot)
    table = pilot.app.screen.query_one("#deployments")
    table.move_cursor(row=table.get_row_index(_row_id(pilot.app.api.recording, project, status)))
    await pilot.pause()


def _open(project: str, *, running: bool = False, status: str | None = None):
    async def run_before(pilot) -> None:
        await _select(pilot, project, status)
        await pilot.press("enter")
        await wait_for(pilot, lambda: type(pilot.app.screen).__name__ == "DeploymentScreen", what="detail")
        screen = pilot.app.screen
        await wait_for(pilot, lambda: screen.stream_state is not None and screen.stream_state.kind in (("live",) if running else ("done",)), what="stream")
        await wait_for(pilot, lambda: screen.view.total_lines == len(screen.query_one("#install-log").lines), what="lines")
        await pilot.pause()

    return run_before


def test_list_small(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=_list_loaded)


def test_list_large(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=LARGE, run_before=_list_loaded)


def test_running_deploy(snap_compare):
    app = recorded_app(running_copy(load_recording(), "slow", 25), now_offset_s=-8)
    assert snap_compare(app, terminal_size=SMALL, run_before=_open("slow", running=True))


def test_failed_deploy_small(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=_open("broken-install"))


def test_failed_deploy_large(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=LARGE, run_before=_open("bad-config"))


def test_search_active(snap_compare):
    async def run_before(pilot) -> None:
        await _open("slow")(pilot)
        await pilot.press("slash", *"reify:sharp", "enter")
        await pilot.pause()

    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=run_before)


def test_follow_paused_new_lines_waiting(snap_compare):
    async def run_before(pilot) -> None:
        await _open("slow", running=True)(pilot)
        await pilot.press("g")
        screen = pilot.app.screen
        before = screen.view.total_lines
        pilot.app.api.gate.set()
        await wait_for(pilot, lambda: screen.view.total_lines > before and len(screen.query_one("#install-log").lines) == screen.view.total_lines, what="more lines")
        await pilot.pause()

    app = recorded_app(running_copy(load_recording(), "slow", 25), now_offset_s=-8)
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


def test_deploy_form(snap_compare):
    async def run_before(pilot) -> None:
        await _list_loaded(pilot)
        await pilot.press("d")
        await pilot.pause()

    app = recorded_app(deploy_dir="/srv/components/shop-api")
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


def test_help_screen(snap_compare):
    async def run_before(pilot) -> None:
        await _open("hello")(pilot)
        await pilot.press("question_mark")
        await pilot.pause()

    assert snap_compare(recorded_app(), terminal_size=LARGE, run_before=run_before)


# -- the states issues 12 and 13 added ------------------------------------------------------------


def _keys(*keys: str, project: str | None = None, status: str | None = None, opened: bool = False):
    """Select (or open) a row, then press ``keys``."""
    async def run_before(pilot) -> None:
        if opened:
            await _open(project or "hello", status=status)(pilot)
        elif project:
            await _select(pilot, project, status)
        else:
            await _list_loaded(pilot)
        for key in keys:
            await pilot.press(key)
            await pilot.pause()
        await pilot.pause()

    return run_before


def test_staged_row_offers_activate(snap_compare):
    """A staged build (◆) on a two-phase server: ctrl+a is offered in the footer."""
    assert snap_compare(recorded_app(ours=True), terminal_size=SMALL, run_before=_keys(project="shop-api"))


def test_activate_asks_first(snap_compare):
    app = recorded_app(ours=True)
    assert snap_compare(app, terminal_size=SMALL, run_before=_keys("ctrl+a", project="shop-api"))


def test_redeploy_of_an_older_release_asks_first(snap_compare):
    app = recorded_app(ours=True)
    assert snap_compare(app, terminal_size=SMALL, run_before=_keys("ctrl+r", project="slow"))


def test_revert_asks_naming_the_release(snap_compare):
    app = recorded_app(ours=True)
    run_before = _keys("ctrl+r", project="hello", status="success", opened=True)
    assert snap_compare(app, terminal_size=SMALL, run_before=run_before)


def test_revert_screen_names_its_release(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=_open("hello", status="rolled_back"))


def test_failed_deploy_tail_on_E(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=_keys("E", project="bad-config", opened=True))


def test_failed_deploy_full_top_at_80x24(snap_compare):
    """c on a short terminal: the whole top (header, timeline, error panel)."""
    run_before = _keys("c", project="broken-install", opened=True)
    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=run_before)


def test_failed_deploy_small_terminal(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=(60, 20), run_before=_open("broken-install"))


def test_output_zoomed(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=_keys("z", project="slow", opened=True))


def test_peers_tab_says_why_it_is_empty(snap_compare):
    run_before = _keys("3", project="hello", status="success", opened=True)
    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=run_before)


def test_list_paused(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=_keys("p"))


def test_row_as_json(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=_keys("v", project="bad-config"))


def test_list_in_ascii(snap_compare):
    try:
        assert snap_compare(recorded_app(ascii=True), terminal_size=SMALL, run_before=_list_loaded)
    finally:
        set_ascii_mode(False)


def test_list_light_theme(snap_compare):
    assert snap_compare(recorded_app(theme="textual-light"), terminal_size=LARGE, run_before=_list_loaded)


def test_failed_deploy_without_colour(snap_compare, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("NO_COLOR", "1")
    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=_open("broken-install"))


def test_deploy_form_offers_stage_only(snap_compare):
    app = recorded_app(ours=True, deploy_dir="/srv/components/shop-api")
    assert snap_compare(app, terminal_size=SMALL, run_before=_keys("d"))


def test_help_at_80_columns(snap_compare):
    assert snap_compare(recorded_app(), terminal_size=SMALL, run_before=_keys("question_mark", project="hello", opened=True))


def test_projector_100x30_light(snap_compare):
    """A projector at a large font (about 100x30), light theme: a deploy as the audience sees it."""
    app = recorded_app(running_copy(load_recording(), "slow", 25), now_offset_s=-8, theme="textual-light")
    assert snap_compare(app, terminal_size=(100, 30), run_before=_open("slow", running=True))
