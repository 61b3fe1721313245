"""Pilot tests for the deployment screen's bugs of issue 12 (reattach, a finished replay, the output's
status and cursor), against a real embedded server."""

from __future__ import annotations

from textual.widgets import TabbedContent

from deploytui.tui.widgets.events_log import EventsLog
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
