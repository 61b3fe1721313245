"""SVG snapshots of the dashboard's screens, on data recorded from a real server, with a frozen clock.

Regenerate with ``pytest tests/tui/test_app_snapshots.py --snapshot-update`` and look at the report.
"""

from __future__ import annotations

from tests.tui.app_harness import by_project, load_recording, recorded_app, running_copy, wait_for

SMALL, LARGE = (80, 24), (160, 48)


async def _list_loaded(pilot) -> None:
    await wait_for(pilot, lambda: pilot.app.screen.query_one("#deployments").row_count == 4, what="rows")
    await pilot.pause()


def _open(project: str, *, running: bool = False):
    async def run_before(pilot) -> None:
        await _list_loaded(pilot)
        table = pilot.app.screen.query_one("#deployments")
        recording = pilot.app.api.recording
        table.move_cursor(row=table.get_row_index(by_project(recording, project)["deployment_id"]))
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
