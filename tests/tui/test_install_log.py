"""Pilot tests of the install output pane (InstallLog): follow, search, filter, wrap, gaps, safety."""

from __future__ import annotations

import re
import time

from textual import events
from textual.app import App, ComposeResult

from deploytui.client.ansi import sanitize
from deploytui.client.view import Gap, InstallLine
from deploytui.tui.widgets.install_log import InstallLog, LineBuffer
from deploytui.tui.widgets.install_log.render import SearchQuery, format_timestamp

T0 = 1_700_000_000_000


def make_line(index: int, raw: str, stream: str = "stdout", *, error: bool = False, warning: bool = False) -> InstallLine:
    return InstallLine(
        index=index,
        seq=index + 1,
        stream=stream,
        text=sanitize(raw),
        t=T0 + index * 37,
        manager="npm",
        is_error=error,
        is_warning=warning,
    )


def make_lines(count: int, start: int = 0, text: str = "line {i}") -> list[InstallLine]:
    return [make_line(i, text.format(i=i)) for i in range(start, start + count)]


class LogApp(App[None]):
    """Mounts one InstallLog and focuses it, with a message log for assertions."""

    def __init__(self) -> None:
        super().__init__()
        self.messages: list[object] = []

    def compose(self) -> ComposeResult:
        yield InstallLog()

    def on_mount(self) -> None:
        self.query_one(InstallLog).line_list.focus()

    def on_install_log_load_history_requested(self, message: InstallLog.LoadHistoryRequested) -> None:
        self.messages.append(message)

    def on_install_log_follow_changed(self, message: InstallLog.FollowChanged) -> None:
        self.messages.append(message)


def screen_text(log: InstallLog) -> list[str]:
    return [row.rstrip() for row in log.line_list.rendered_text()]


async def test_follow_stays_at_bottom_on_append() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        for batch in range(5):
            log.append_lines(make_lines(40, start=batch * 40))
            await pilot.pause()
            assert log.line_list.scroll_y == log.line_list.max_scroll_y > 0
        assert log.follow
        assert "line 199" in screen_text(log)[-1]
        assert not log.badge.has_class("-visible")


async def test_scrolled_up_append_keeps_the_scroll_position_and_shows_badge() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines(make_lines(100))
        await pilot.pause()
        await pilot.press("pageup", "pageup")
        await pilot.pause()
        assert not log.follow
        before = log.line_list.scroll_y
        top_line = screen_text(log)[0]
        log.append_lines(make_lines(7, start=100))
        await pilot.pause()
        log.append_lines(make_lines(5, start=107))
        await pilot.pause()
        assert log.line_list.scroll_y == before
        assert screen_text(log)[0] == top_line
        assert log.badge.has_class("-visible")
        assert "+12 new lines" in str(log.badge.render())
        assert any(isinstance(m, InstallLog.FollowChanged) and not m.follow for m in app.messages)
        await pilot.press("end")
        await pilot.pause()
        assert log.follow
        assert log.line_list.scroll_y == log.line_list.max_scroll_y
        assert "line 111" in screen_text(log)[-1]
        assert not log.badge.has_class("-visible")


async def test_mouse_wheel_up_pauses_and_G_resumes() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines(make_lines(100))
        await pilot.pause()
        await pilot._post_mouse_events([events.MouseScrollUp], log.line_list)  # the wheel, as Pilot clicks do
        await pilot.pause()
        assert not log.follow
        before = log.line_list.scroll_y
        log.append_lines(make_lines(3, start=100))
        await pilot.pause()
        assert log.line_list.scroll_y == before
        await pilot.press("G")
        await pilot.pause()
        assert log.follow and log.line_list.scroll_y == log.line_list.max_scroll_y


async def test_clicking_badge_resumes_follow() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines(make_lines(100))
        await pilot.pause()
        await pilot.press("home")
        log.append_lines(make_lines(4, start=100))
        await pilot.pause()
        assert log.badge.has_class("-visible")
        await pilot.click(log.badge)
        await pilot.pause()
        assert log.follow and log.line_list.scroll_y == log.line_list.max_scroll_y


async def test_search_highlights_and_n_N_move() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        lines = make_lines(200)
        lines[20] = make_line(20, "npm WARN deprecated Needle@1")
        lines[120] = make_line(120, "needle again, NEEDLE twice")
        lines[180] = make_line(180, "last needle")
        log.append_lines(lines)
        await pilot.pause()
        await pilot.press("slash", *"needle")
        await pilot.pause()
        assert log.line_list.search.total == 4
        assert "4 matches" in str(log.search_bar.query_one("#search-status").render())
        await pilot.press("enter")  # first match at/after the top line shown
        await pilot.pause()
        assert log.line_list.cursor_line == 180  # the list was at the bottom: the next match below is 180
        await pilot.press("n")
        await pilot.pause()
        assert log.line_list.cursor_line == 20  # wraps around
        assert "match 1/4" in str(log.search_bar.query_one("#search-status").render())
        assert any("Needle@1" in row for row in screen_text(log))
        await pilot.press("n")
        await pilot.pause()
        assert log.line_list.cursor_line == 120 and log.line_list.search.current == 1
        await pilot.press("n")
        await pilot.pause()
        assert log.line_list.cursor_line == 120 and log.line_list.search.current == 2
        await pilot.press("N", "N")
        await pilot.pause()
        assert log.line_list.cursor_line == 20
        assert not log.follow
        # every visible match is highlighted with the match styles
        styles = log.line_list._line_styles()
        row = next(y for y, text in enumerate(screen_text(log)) if "Needle@1" in text)
        segments = log.line_list.rendered_segments()[row]
        highlighted = "".join(s.text for s in segments if s.style and s.style.bgcolor in (styles.match.bgcolor, styles.match_current.bgcolor))
        assert highlighted.lower() == "needle"


async def test_esc_clears_the_highlight_and_n_takes_the_last_search_up_again() -> None:
    """As in less and vim: the pattern outlives the highlight (issue 12: n did nothing after Esc)."""
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        lines = make_lines(100)
        lines[30] = make_line(30, "a needle here")
        lines[70] = make_line(70, "another needle")
        log.append_lines(lines)
        await pilot.pause()
        await pilot.press("slash", *"needle", "enter")
        await pilot.pause()
        assert log.line_list.search.total == 2
        await pilot.press("escape")
        await pilot.pause()
        assert not log.search_query and log.line_list.search.total == 0
        await pilot.press("n")
        await pilot.pause()
        assert log.search_query == "needle" and log.line_list.search.total == 2
        assert log.line_list.cursor_line in (30, 70)


async def test_L_with_nothing_missing_says_so() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines(make_lines(5))
        await pilot.pause()
        await pilot.press("L")
        await pilot.pause()
        assert any("Nothing missing: all 5 lines are here" in str(n.message) for n in app._notifications)


async def test_search_regex_and_invalid_pattern() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines(make_lines(30))
        log.search_regex = True
        log.search_query = r"line 1\d$"
        await pilot.pause()
        assert log.line_list.search.total == 10
        log.search_query = "line ("
        await pilot.pause()
        assert log.line_list.search.total == 0
        assert log.line_list.search.label() == "invalid pattern"


async def test_filter_shows_only_matches_and_clears() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        lines = make_lines(300)
        for i in (5, 150, 299):
            lines[i] = make_line(i, f"ERR! failure {i}", "stderr", error=True)
        log.append_lines(lines)
        await pilot.pause()
        log.search_query = "err!"
        await pilot.press("f")
        await pilot.pause()
        assert log.filter_active
        rows = [row for row in screen_text(log) if row]
        assert rows == ["! ERR! failure 5", "! ERR! failure 150", "! ERR! failure 299"]
        assert log.line_list.virtual_size.height == 3
        assert "3 shown" in str(log.border_subtitle)
        # lines arriving while filtered are filtered too
        log.append_lines([make_line(300, "ERR! late"), make_line(301, "fine")])
        await pilot.pause()
        assert [row for row in screen_text(log) if row][-1] == "│ ERR! late"
        assert log.all_text().splitlines() == ["ERR! failure 5", "ERR! failure 150", "ERR! failure 299", "ERR! late"]
        await pilot.press("f")
        await pilot.pause()
        assert not log.filter_active
        assert log.line_list.virtual_size.height == 302


async def test_wrap_changes_virtual_height() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines([make_line(0, "short"), make_line(1, "x" * 300), make_line(2, "tail")])
        await pilot.pause()
        assert log.line_list.virtual_size.height == 3
        assert log.line_list.virtual_size.width > 300
        await pilot.press("w")
        await pilot.pause()
        body = log.line_list.body_width
        assert log.line_list.virtual_size.height == 2 + -(-300 // body)
        rows = screen_text(log)
        assert rows[0] == "│ short"
        assert rows[1] == "│ " + "x" * body
        rest = 300 - body
        assert rows[2] == "┆ " + "x" * min(body, rest)  # a wrapped continuation, not a new line
        assert "tail" in rows[1 + -(-300 // body)]
        await pilot.press("w")
        await pilot.pause()
        assert log.line_list.virtual_size.height == 3


async def test_wrap_survives_resize() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines([make_line(0, "y" * 500)])
        log.wrap = True
        await pilot.pause()
        wide = log.line_list.virtual_size.height
        await pilot.resize_terminal(40, 24)
        await pilot.pause()
        assert log.line_list.virtual_size.height == -(-500 // log.line_list.body_width) > wide


async def test_timestamps_prefix() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines(make_lines(3))
        await pilot.press("t")
        await pilot.pause()
        rows = screen_text(log)
        # T0 is 2023-11-14 22:13:20 UTC; the dashboard's tests run in UTC (tests/tui/conftest.py).
        assert rows[:3] == ["│ 22:13:20.000 line 0", "│ 22:13:20.037 line 1", "│ 22:13:20.074 line 2"]


def test_timestamps_are_local_time(monkeypatch) -> None:
    monkeypatch.setenv("TZ", "Asia/Kolkata")  # UTC+05:30, no daylight saving
    time.tzset()
    assert format_timestamp(T0) == "03:43:20.000"
    assert format_timestamp(None).strip() == ""


async def test_markup_and_sgr_render_literally_and_in_colour() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines([make_line(0, "[bold]x[/] \x1b[31mred\x1b[0m [link=http://e]y[/link]")])
        await pilot.pause()
        assert screen_text(log)[0] == "│ [bold]x[/] red [link=http://e]y[/link]"
        segments = log.line_list.rendered_segments()[0]
        red = [s for s in segments if s.text == "red"]
        assert red and red[0].style.color.name == "red"
        assert not any(s.style and s.style.bold for s in segments if "x" in s.text)


async def test_no_escape_sequences_survive_rendering() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        hostile = [
            "\x1b[2J\x1b[Hclear screen",
            "\x1b]0;title\x07title",
            "\x1b]52;c;ZXZpbA==\x07clipboard",
            "\x9b31mc1 csi",
            "tab\there\rcarriage",
            "\x1b[?1049halt screen",
        ]
        log.append_lines([make_line(i, raw, "stderr") for i, raw in enumerate(hostile)])
        log.search_query = "e"
        log.timestamps = True
        await pilot.pause()
        await pilot.press("k")
        for wrap in (False, True):
            log.wrap = wrap
            await pilot.pause()
            for row in log.line_list.rendered_segments():
                for segment in row:
                    assert not re.search(r"[\x00-\x1f\x7f-\x9f]", segment.text), segment
        assert "\x1b" not in log.all_text()
        # the safety net holds even if a line skipped the sanitizer
        from deploytui.client.ansi import SafeText

        rogue = InstallLine(99, None, "stdout", SafeText("\x1b[2Jboom"), None, "npm", False, False)
        log.append_lines([rogue])
        await pilot.pause()
        assert all("\x1b" not in row for row in log.line_list.rendered_text())


async def test_stdout_and_stderr_differ() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines([make_line(0, "out"), make_line(1, "err", "stderr"), make_line(2, "npm ERR! bad", "stderr", error=True)])
        await pilot.pause()
        rows = screen_text(log)
        assert rows[:3] == ["│ out", "! err", "! npm ERR! bad"]
        segments = log.line_list.rendered_segments()
        style_of = lambda row, text: next(s.style for s in segments[row] if s.text.startswith(text))
        assert style_of(0, "out").color != style_of(1, "err").color
        assert style_of(2, "npm").bgcolor != style_of(0, "out").bgcolor
        assert "3 lines · 2 stderr · 1 error" in str(log.border_subtitle)


async def test_jump_to_first_error() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        lines = make_lines(500)
        lines[42] = make_line(42, "npm ERR! code E404", "stderr", error=True)
        lines[400] = make_line(400, "npm ERR! later", "stderr", error=True)
        log.append_lines(lines)
        await pilot.pause()
        await pilot.press("e")
        await pilot.pause()
        assert log.line_list.cursor_line == 42
        assert not log.follow
        assert any("npm ERR! code E404" in row for row in screen_text(log))
        assert log.current_line_text() == "npm ERR! code E404"


async def test_gap_separator_and_L_posts_load_history() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines(make_lines(3))
        log.add_gap(Gap(after_index=2, dropped_events=4821))
        log.append_lines(make_lines(3, start=3))
        await pilot.pause()
        rows = screen_text(log)
        assert rows[3].startswith("──── 4 821 events")
        assert "4 821 events not kept by the server · press L to load the full history" in rows[3]
        assert rows[4] == "│ line 3"
        await pilot.press("L")
        await pilot.pause()
        assert any(isinstance(m, InstallLog.LoadHistoryRequested) for m in app.messages)
        # the full history replaces the lines and the gap goes away
        log.replace_lines(make_lines(10))
        await pilot.pause()
        assert not log.line_list.gaps
        assert [row for row in screen_text(log) if row][-1] == "│ line 9"


async def test_gap_before_buffered_lines_waits_for_them() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines(make_lines(2))
        log.add_gap(Gap(after_index=4, dropped_events=7))
        assert not log.line_list.gaps
        log.append_lines(make_lines(4, start=2))
        await pilot.pause()
        rows = screen_text(log)
        assert "7 events not kept" in rows[5] and rows[6] == "│ line 5"


async def test_cursor_moves_and_copy_helpers() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines(make_lines(50))
        await pilot.pause()
        assert log.current_line_text() == "line 49"
        await pilot.press("k")
        assert log.line_list.cursor_line == 49
        await pilot.press("k", "k", "up")
        assert log.current_line_text() == "line 46"
        await pilot.press("j", "down")
        assert log.line_list.cursor_line == 48
        await pilot.press("g")
        assert log.line_list.cursor_line == 0 and log.line_list.scroll_y == 0
        assert log.all_text() == "\n".join(f"line {i}" for i in range(50))
        log.clear()
        await pilot.pause()
        assert log.all_text() == "" and log.current_line_text() == ""
        assert log.line_list.virtual_size.height == 0


async def test_line_buffer_batches_into_one_append() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        calls: list[int] = []
        original = log.append_lines
        log.append_lines = lambda lines: (calls.append(len(lines)), original(lines))  # type: ignore[method-assign]
        buffer = LineBuffer(log, interval=0.02)
        for line in make_lines(500):
            buffer.add(line)
        assert len(buffer) == 500 and not calls
        for _ in range(100):  # the timer fires after ~20 ms; allow for a busy machine
            await pilot.pause(0.02)
            if calls:
                break
        assert calls == [500] and len(buffer) == 0
        assert len(log.lines) == 500


def test_search_query_is_case_insensitive_and_literal() -> None:
    query = SearchQuery("a.b")
    assert query.spans("A.B axb a.b") == [(0, 3), (8, 11)]
    assert SearchQuery("a.b", regex=True).count("axb") == 1
    assert not SearchQuery("").active


def test_messages_nested_in_the_widget_keep_their_handler_names() -> None:
    """Screens and apps handle them as ``on_install_log_…``: Textual derives that from the nesting class."""
    assert InstallLog.FollowChanged.handler_name == "on_install_log_follow_changed"
    assert InstallLog.LoadHistoryRequested.handler_name == "on_install_log_load_history_requested"
    assert InstallLog.SearchChanged.handler_name == "on_install_log_search_changed"


async def test_e_is_offered_once_an_error_line_is_held() -> None:
    app = LogApp()
    async with app.run_test(size=(80, 24)) as pilot:
        log = app.query_one(InstallLog)
        log.append_lines(make_lines(5))
        await pilot.pause()
        assert not log.check_action("first_error", ())
        log.append_lines([make_line(5, "npm ERR! code E404", "stderr", error=True)])
        await pilot.pause()
        assert log.check_action("first_error", ())
        log.clear()
        assert not log.check_action("first_error", ())
