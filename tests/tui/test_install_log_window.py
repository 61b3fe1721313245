"""InstallLog(max_lines=N) holds at most N lines however many arrive (counts, not timings)."""

from __future__ import annotations

from textual.app import App, ComposeResult

from deploytui.client.view import Gap
from deploytui.tui.widgets.install_log import InstallLog
from tests.tui.test_install_log import make_lines

WINDOW = 30_000


class WindowApp(App[None]):
    def compose(self) -> ComposeResult:
        yield InstallLog(max_lines=WINDOW)


async def test_two_hundred_thousand_lines_leave_at_most_the_window_held() -> None:
    app = WindowApp()
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(InstallLog)
        held: list[int] = []
        for start in range(0, 200_000, 5_000):
            log.append_lines(make_lines(5_000, start))
            held.append(len(log.lines))
        await pilot.pause()
        assert max(held) <= WINDOW
        assert log.lines[-1].index == 199_999  # the newest line is there, in order
        indexes = [line.index for line in log.lines]
        assert indexes == list(range(indexes[0], 200_000))
        assert len(log.line_list.items) == len(log.lines)  # nothing else left behind
        assert log.follow


async def test_the_window_keeps_gaps_among_its_lines_and_the_search() -> None:
    app = WindowApp()
    async with app.run_test(size=(100, 20)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines(make_lines(20_000, 0, text="line {i} ok"))
        log.add_gap(Gap(5, 7))  # a gap among lines the window will drop
        log.append_lines(make_lines(10_000, 20_000, text="line {i} ok"))
        log.add_gap(Gap(25_000, 3))  # and one among lines it keeps
        log.search_query = "line 3999"
        await pilot.pause()
        log.append_lines(make_lines(10_000, 30_000, text="line {i} ok"))
        await pilot.pause()
        assert len(log.lines) <= WINDOW
        kept = {log.lines[position].index: dropped for position, dropped in log.line_list.gaps.items()}
        assert kept == {25_000: 3}
        matches = sorted(log.lines[position].text.text for position in log.line_list.search.lines)
        assert matches == [f"line 3999{digit} ok" for digit in range(10)]  # line 3999 itself was dropped
