"""Pilot tests for the deployment screen's bugs of issue 12 (reattach, a finished replay, the output's
status and cursor), against a real embedded server."""

from __future__ import annotations

from textual.widgets import TabbedContent

from deploytui.tui.widgets.deployment_header import DeploymentHeader
from deploytui.tui.widgets.events_log import EventsLog
from deploytui.tui.widgets.phase_timeline import PhaseTimeline
from deploytui.tui.widgets.stream_status import StreamStatus
from tests.tui.app_harness import deploy, live_app, screen_text, wait_for
from tests.tui.test_app_detail import done, log_of, open_first


def attach_running(screen) -> bool:
    return any(w.group == "attach" and not w.is_finished for w in screen.workers)


async def test_reattach_shows_each_event_and_line_once(server):
    await deploy(server, "hello")
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_first(pilot, app)
        await wait_for(pilot, lambda: done(screen) and not attach_running(screen), what="done")
        events = screen.query_one(EventsLog).count
        lines = len(log_of(screen).lines)
        label = str(screen.query_one("#tabs", TabbedContent).get_tab("events").label)
        assert events > 0 and lines > 0 and label == f"Events ({events})"
        batches = screen.batches
        await pilot.press("r")
        await wait_for(pilot, lambda: screen.batches > batches and done(screen) and not attach_running(screen), what="reattached")
        await pilot.pause()
        assert screen.query_one(EventsLog).count == events
        assert len(log_of(screen).lines) == lines == screen.view.total_lines
        assert str(screen.query_one("#tabs", TabbedContent).get_tab("events").label) == label
        assert f"Events ({events})" in screen_text(app)


def chatty_package(directory, lines: int):
    """A component whose install prints ``lines`` lines at once: its replay takes many batches."""
    directory.mkdir()
    (directory / "package.json").write_text('{"name": "chatty", "version": "1.0.0", "main": "resources.js", "type": "module"}\n')
    (directory / "resources.js").write_text("export {};\n")
    (directory / "install.py").write_text(f"for i in range({lines}):\n    print('added package', i)\n")
    return directory


async def test_a_finished_deploy_never_replays_as_running(server, tmp_path, monkeypatch):
    answer = await deploy(server, "chatty", chatty_package(tmp_path / "chatty", 20_000))
    assert answer.get("status", "success") == "success", answer
    shown: list[tuple[str, object]] = []
    show_header, update_phases = DeploymentHeader.show, PhaseTimeline.update_phases

    def record_header(self, row, status=None):
        show_header(self, row, status)
        shown.append(("header", self.status))

    def record_phases(self, phases, *, now_ms=None):
        update_phases(self, phases, now_ms=now_ms)
        shown.append(("timeline", "running" if self.running else "still"))

    monkeypatch.setattr(DeploymentHeader, "show", record_header)
    monkeypatch.setattr(PhaseTimeline, "update_phases", record_phases)
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_first(pilot, app)
        await wait_for(pilot, lambda: done(screen) and not attach_running(screen), what="done")
        assert screen.batches >= 2  # the replay was drawn in steps, the first before the end was known
        assert {status for what, status in shown if what == "header"} == {"success"}
        assert {state for what, state in shown if what == "timeline"} == {"still"}
        assert [p.state for p in screen.query_one(PhaseTimeline).phases if p.name == "prepare"] == ["done"]
        assert "success" in screen_text(app)


def notices(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_one_line_is_counted_singular(server, tmp_path):
    await deploy(server, "oneliner", chatty_package(tmp_path / "oneliner", 1))
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_first(pilot, app)
        await wait_for(pilot, lambda: done(screen) and len(log_of(screen).lines) == 1, what="done")
        await pilot.pause()
        assert "done · 1 line · following" in screen_text(app)


async def test_k_leaves_follow_and_y_copies_or_explains_the_cursor_line(server):
    await deploy(server, "hello")  # its output ends "…412ms", "", "found 0 vulnerabilities"
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_first(pilot, app)
        log = log_of(screen)
        await wait_for(pilot, lambda: done(screen) and len(log.lines) == 6, what="done")
        status = screen.query_one(StreamStatus)
        assert log.follow and status.follow
        await pilot.press("k")
        await wait_for(pilot, lambda: status.follow is False, what="follow left")
        assert not log.follow and log.line_list.cursor_line == 5
        assert "paused" in screen_text(app) and "following" not in screen_text(app)
        await pilot.press("y")
        assert app.clipboard == "found 0 vulnerabilities"
        await pilot.press("k")  # the blank line above it
        assert log.line_list.cursor_line == 4
        await pilot.press("y")
        await wait_for(pilot, lambda: any("blank" in n for n in notices(app)), what="blank-line notice")
        assert not any(n == "Nothing to copy" for n in notices(app))
        assert app.clipboard == "found 0 vulnerabilities"


async def test_a_closed_deployment_screen_holds_no_events(server, tmp_path):
    # Closed, the screen is cyclic garbage only a full collection frees; the events it held must
    # not wait for that collection (it walked them all, a long stall in the next screen's replay).
    await deploy(server, "held", chatty_package(tmp_path / "held", 300))
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await open_first(pilot, app)
        await wait_for(pilot, lambda: done(screen) and not attach_running(screen), what="done")
        events_log = screen.query_one(EventsLog)
        assert len(screen.view.events) > 300 and events_log.unformatted > 300  # the tab was never shown
        await pilot.press("escape")
        await wait_for(pilot, lambda: not screen.is_attached, what="the screen closed")
        assert len(screen.view.events) == 0 and events_log.unformatted == 0
