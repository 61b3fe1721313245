"""SVG snapshots of the install log and the phase timeline at 80×24.

Regenerate with ``pytest tests/tui/test_widget_snapshots.py --snapshot-update`` and look at the SVGs
before committing. Times are frozen (``now_ms``), the spinner is off and no timestamps are shown,
so the pictures do not depend on the clock or the time zone.
"""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.widgets import Input

from deploytui.client.ansi import sanitize
from deploytui.client.view import Gap, InstallLine, Phase
from deploytui.tui.widgets.install_log import InstallLog
from deploytui.tui.widgets.phase_timeline import PhaseTimeline

T0 = 1_700_000_000_000
SIZE = (80, 24)

_STDOUT = [
    "added 1 package, and audited 2 packages in 812ms",
    "\x1b[1mreify\x1b[22m:fsevents: \x1b[32mtiming\x1b[39m reifyNode:node_modules/fsevents Completed in 12ms",
    "> harper-app@1.4.2 build",
    "> tsc -p tsconfig.json && node scripts/copy-assets.js",
    "[bold]not markup[/bold] is shown as typed",
    "found \x1b[32m\x1b[1m0\x1b[22m\x1b[39m vulnerabilities",
]
_STDERR = [
    "npm \x1b[33mWARN\x1b[39m deprecated inflight@1.0.6: This module is not supported, and leaks memory.",
    "npm \x1b[33mWARN\x1b[39m deprecated glob@7.2.3: Glob versions prior to v9 are no longer supported",
    "(node:4711) ExperimentalWarning: stripTypeScriptTypes is an experimental feature",
]


def install_lines(count: int, start: int = 0) -> list[InstallLine]:
    """A deterministic mix of stdout, warnings, stderr and a few errors."""
    lines = []
    for index in range(start, start + count):
        if index % 97 == 96:
            raw, stream, error, warning = f"npm \x1b[31mERR!\x1b[39m code E404 (line {index})", "stderr", True, False
        elif index % 7 == 3:
            raw = _STDERR[index % len(_STDERR)]
            stream, error, warning = "stderr", False, "WARN" in raw
        else:
            raw = f"{index:>5}  {_STDOUT[index % len(_STDOUT)]}"
            stream, error, warning = "stdout", False, False
        lines.append(InstallLine(index, index + 1, stream, sanitize(raw), T0 + index * 37, "npm", error, warning))
    return lines


class InstallLogApp(App[None]):
    """One install log filling an 80×24 screen."""

    def __init__(self, count: int = 200, gap_after: int | None = None, long_lines: bool = False) -> None:
        super().__init__()
        self.count = count
        self.gap_after = gap_after
        self.long_lines = long_lines

    def compose(self) -> ComposeResult:
        yield InstallLog()

    def on_mount(self) -> None:
        log = self.query_one(InstallLog)
        log.line_list.focus()
        lines = install_lines(self.count)
        if self.long_lines:
            lines[-3] = InstallLine(
                self.count - 3, None, "stdout", sanitize("long: " + " ".join(f"word{i}" for i in range(60))), None, "npm", False, False
            )
            lines[-2] = InstallLine(
                self.count - 2, None, "stderr", sanitize("npm \x1b[31mERR!\x1b[39m " + "path/segment/" * 14), None, "npm", True, False
            )
        if self.gap_after is None:
            log.append_lines(lines)
        else:
            log.append_lines(lines[: self.gap_after + 1])
            log.add_gap(Gap(self.gap_after, 4821))
            log.append_lines(lines[self.gap_after + 1 :])
        self.query_one(Input).cursor_blink = False


class TimelineApp(App[None]):
    """A running two-phase deployment above a failed one-shot deployment."""

    CSS = """
    Vertical { height: auto; border: round $primary-muted; border-title-color: $foreground; }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="running") as running:
            running.border_title = "deploy 7f3a · running"
            yield PhaseTimeline(animate=False, id="running-timeline")
        with Vertical(id="failed") as failed:
            failed.border_title = "deploy 19c2 · failed"
            yield PhaseTimeline(animate=False, id="failed-timeline")

    def on_mount(self) -> None:
        self.query_one("#running-timeline", PhaseTimeline).update_phases(
            [
                Phase("stage", "done", T0, T0 + 41_200),
                Phase("load", "done", T0 + 41_200, T0 + 44_000),
                Phase("staged", "done", T0 + 44_000, T0 + 44_100),
                Phase("activate", "running", T0 + 44_100),
                Phase("restart", "pending"),
                Phase("success", "pending"),
            ],
            now_ms=T0 + 70_000,
        )
        self.query_one("#failed-timeline", PhaseTimeline).update_phases(
            [
                Phase("prepare", "done", T0, T0 + 12_400),
                Phase("load", "done", T0 + 12_400, T0 + 13_000),
                Phase("replicate", "failed", T0 + 13_000, T0 + 20_000),
                Phase("restart", "skipped"),
                Phase("success", "skipped"),
            ],
            now_ms=T0 + 21_000,
        )


def test_log_following(snap_compare) -> None:
    assert snap_compare(InstallLogApp(gap_after=185), terminal_size=SIZE)


def test_log_paused_with_new_lines_badge(snap_compare) -> None:
    async def scroll_up_then_append(pilot) -> None:
        await pilot.press("pageup", "pageup")
        pilot.app.query_one(InstallLog).append_lines(install_lines(37, start=200))
        await pilot.pause()

    assert snap_compare(InstallLogApp(), terminal_size=SIZE, run_before=scroll_up_then_append)


def test_log_search_active(snap_compare) -> None:
    assert snap_compare(InstallLogApp(), terminal_size=SIZE, press=["slash", *"warn", "enter", "n", "slash"])


def test_log_filter_active(snap_compare) -> None:
    assert snap_compare(InstallLogApp(), terminal_size=SIZE, press=["slash", *"err!", "ctrl+f", "enter"])


def test_log_wrap_on(snap_compare) -> None:
    assert snap_compare(InstallLogApp(long_lines=True), terminal_size=SIZE, press=["w"])


def test_timeline_running_and_failed(snap_compare) -> None:
    assert snap_compare(TimelineApp(), terminal_size=SIZE)
