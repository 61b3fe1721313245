"""The Events tab's log holds a bounded number of lines and formats nothing while hidden."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import TabbedContent, TabPane

from deploytui.protocol.events import parse_event
from deploytui.tui.widgets.events_log import EventsLog

T0 = 1_700_000_000_000


def install_events(start: int, count: int) -> list:
    return [parse_event("install", {"stream": "stdout", "line": f"line {seq}"}, seq=seq, t=T0 + seq)
            for seq in range(start, start + count)]


class TabsApp(App[None]):
    """An Output tab first (shown) and the Events tab second (hidden), as the deployment screen has."""

    def compose(self) -> ComposeResult:
        with TabbedContent(initial="output", id="tabs"):
            with TabPane("Output", id="output"):
                yield EventsLog(id="other", max_lines=10)
            with TabPane("Events", id="events"):
                yield EventsLog(id="events-log", max_lines=50)


async def test_a_hidden_events_log_queues_a_bounded_batch_and_formats_it_when_shown() -> None:
    app = TabsApp()
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one("#events-log", EventsLog)
        for start in range(1, 1_000, 100):
            log.add_events(install_events(start, 100))
        await pilot.pause()
        assert log.count == 1_000
        assert log.unformatted == 50  # the newest 50 kept unformatted, nothing formatted yet
        assert len(log._lines) == 0
        app.query_one("#tabs", TabbedContent).active = "events"
        await pilot.pause()
        assert log.unformatted == 0
        assert len(log._lines) == 50
        assert log._lines[-1].split()[0] == "1000" and log._lines[0].split()[0] == "951"


async def test_a_shown_events_log_formats_at_once_and_keeps_its_newest_lines() -> None:
    app = TabsApp()
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one("#other", EventsLog)
        log.add_events(install_events(1, 25))
        assert log.unformatted == 0 and len(log._lines) == 10
        assert [line.split()[0] for line in log.lines] == [str(seq) for seq in range(16, 26)]
        await pilot.pause()


async def test_reading_the_lines_of_a_hidden_log_formats_what_is_queued() -> None:
    app = TabsApp()
    async with app.run_test(size=(100, 20)):
        log = app.query_one("#events-log", EventsLog)
        log.add_events(install_events(1, 3))
        assert log.unformatted == 3
        assert [line.split()[0] for line in log.lines] == ["1", "2", "3"]
        assert log.unformatted == 0
