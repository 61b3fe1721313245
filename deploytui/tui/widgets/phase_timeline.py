"""The phase timeline: one row per deployment phase on a shared time axis.

Each row shows the state icon (pending ○, a spinner while running, done ✓, failed ✗, skipped –), the
phase name, its duration (ticking while it runs) and a bar placed on an axis that starts with the
first phase and ends now (or when the last phase ended). Works for the one-shot pipeline, the
two-phase one and any phase the server invents, since it only draws what it is given. One row per
phase keeps it small enough for an 80×24 terminal.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Protocol

from textual.content import Content
from textual.timer import Timer
from textual.widget import Widget

from deploytui.client import humanize
from deploytui.tui.widgets.status_glyphs import phase_glyph, phase_style

if TYPE_CHECKING:
    from collections.abc import Iterable

    from textual.geometry import Size

__all__ = ["PhaseTimeline"]

_EIGHTHS = " ▏▎▍▌▋▊▉"
_BAR_COLOURS = {
    "running": "$accent",
    "done": "$success 70%",
    "failed": "$error",
    "skipped": "$foreground-muted",
    "pending": "$foreground-muted",
}


class PhaseLike(Protocol):
    """The fields of ``deploytui.client.view.Phase`` the timeline reads."""

    name: str
    state: str
    started_at: int | None
    ended_at: int | None


def bar_cells(start: float, end: float, width: int) -> str:
    """A bar from column ``start`` to column ``end`` (fractions allowed) in ``width`` cells.

    The start is rounded down to a cell, the end is drawn in eighths of a cell; a phase always
    gets at least one eighth so that a very short phase is still visible.
    """
    if width <= 0:
        return ""
    first = min(int(start), width - 1)
    end_eighths = min(width * 8, max(first * 8 + 1, round(end * 8)))
    full, partial = divmod(end_eighths - first * 8, 8)
    bar = " " * first + "█" * full + (_EIGHTHS[partial] if partial else "")
    return bar.ljust(width)[:width]


class PhaseTimeline(Widget):
    """Phases of one deployment as rows of icon, name, duration and bar.

    Args:
        phases: Initial phases.
        animate: Animate the running spinner. With ``False`` (or ``App.animation_level == "none"``)
            a static ``●`` is shown: snapshots and slow SSH links need no frames.
        ascii: Use ASCII glyphs and bars.
    """

    DEFAULT_CSS = """
    PhaseTimeline {
        height: auto;
        min-height: 1;
        padding: 0 1;
    }
    """

    SPINNER_INTERVAL = 0.1
    CLOCK_INTERVAL = 1.0

    def __init__(
        self,
        phases: Iterable[PhaseLike] = (),
        *,
        animate: bool = True,
        ascii: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.phases: list[PhaseLike] = list(phases)
        """The phases shown, in display order."""
        self._drawn: list[tuple[str, str, int | None, int | None]] = [
            (p.name, p.state, p.started_at, p.ended_at) for p in self.phases]
        self.animate = animate
        self.ascii = ascii
        self._now_ms: int | None = None
        self._frame = 0
        self._timer: Timer | None = None
        self._timer_interval = 0.0

    def update_phases(self, phases: Iterable[PhaseLike], *, now_ms: int | None = None) -> None:
        """Show ``phases``; ``now_ms`` freezes "now" (tests, replays), None follows the wall clock.
        Nothing is redrawn when nothing changed, and the layout only when the rows did: a stream
        calls this every batch, and a layout pass is the whole screen's."""
        phases = list(phases)
        # What is drawn, by value: a view updates its phases in place, so the objects may be the same.
        drawn = [(p.name, p.state, p.started_at, p.ended_at) for p in phases]
        if drawn == self._drawn and now_ms == self._now_ms:
            return
        rows_changed = len(drawn) != len(self._drawn)
        self._drawn = drawn
        self.phases = phases
        self._now_ms = now_ms
        self._sync_timer()
        self.refresh(layout=rows_changed)

    def on_mount(self) -> None:
        self._sync_timer()

    @property
    def running(self) -> bool:
        """True while any phase is running."""
        return any(phase.state == "running" for phase in self.phases)

    @property
    def _animating(self) -> bool:
        return self.animate and self.is_mounted and self.app.animation_level != "none"

    def _sync_timer(self) -> None:
        """Run a timer only while a phase runs: fast for the spinner, slow for a ticking duration."""
        interval = 0.0
        if self.running and self.is_mounted:
            if self._animating:
                interval = self.SPINNER_INTERVAL
            elif self._now_ms is None:
                interval = self.CLOCK_INTERVAL
        if interval == self._timer_interval:
            return
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        self._timer_interval = interval
        if interval:
            self._timer = self.set_interval(interval, self._tick, name="phase-timeline")

    def _tick(self) -> None:
        self._frame += 1
        self.refresh()

    def now_ms(self) -> int:
        """The "now" used for running durations and the axis end."""
        return self._now_ms if self._now_ms is not None else int(time.time() * 1000)

    def get_content_height(self, container: Size, viewport: Size, width: int) -> int:
        return max(1, len(self.phases))

    def render(self) -> Content:
        """All rows, one per phase."""
        if not self.phases:
            return Content.styled("no phases yet", "$foreground-muted")
        now = self.now_ms()
        starts = [p.started_at for p in self.phases if p.started_at is not None]
        axis_start = min(starts) if starts else now
        ends = [p.ended_at or p.started_at for p in self.phases if p.started_at is not None]
        axis_end = now if self.running or not ends else max(e for e in ends if e is not None)
        span = max(1, axis_end - axis_start)
        name_width = max(8, *(len(p.name) for p in self.phases))
        width = self.content_region.width or self.size.width
        bar_width = width - (2 + name_width + 1 + 7 + 1)
        if bar_width < 8:
            bar_width = 0
        frame = self._frame if self._animating else None
        mono = self.is_mounted and self.app.no_color  # without colour a failed phase is reverse video
        rows = []
        for phase in self.phases:
            glyph, _colour = phase_glyph(phase.state, frame=frame, ascii=self.ascii)
            failed = phase.state == "failed"
            end = phase.ended_at if phase.ended_at is not None else (now if phase.state == "running" else None)
            duration = end - phase.started_at if phase.started_at is not None and end is not None else None
            parts: list[Content | str | tuple[str, str]] = [
                Content.styled(glyph, phase_style(phase.state, mono=mono)),
                " ",
                Content.styled(phase.name.ljust(name_width), ("bold reverse" if mono else "$error bold") if failed else ""),
                " ",
                Content.styled(humanize.duration(duration).rjust(7), "$foreground-muted" if phase.state != "running" else ""),
            ]
            if bar_width:
                parts.append(" ")
                if phase.started_at is not None:
                    left = (phase.started_at - axis_start) / span * bar_width
                    right = ((end if end is not None else phase.started_at) - axis_start) / span * bar_width
                    bar = bar_cells(left, right, bar_width)
                    if self.ascii:
                        bar = "".join("#" if c == "█" else ("=" if c in _EIGHTHS[1:] else c) for c in bar)
                    parts.append(Content.styled(bar, _BAR_COLOURS.get(phase.state, "")))
                else:
                    parts.append(Content.styled("·" * bar_width if not self.ascii else "." * bar_width, "$foreground 15%"))
            rows.append(Content.assemble(*parts))
        return Content("\n").join(rows)
