"""The error panel: a failed deployment leads with why — phase, code, message, the first error lines.

Shown at the top of the deployment screen only when the deploy failed. Under the server's message
it quotes the install's first error lines (:func:`deploytui.client.cause.cause_lines`: npm's
``ERR! code E404``, an exception's first line, the exit status), not the end of the log, which for
npm is "A complete log of this run can be found in:". ``E`` swaps them for the last lines (the
tail), and back. ``e`` (jump to the first error line) is offered only when there is one. Every text
comes from the server and is shown literally.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from deploytui.client.ansi import sanitize_lines
from deploytui.tui.widgets.formatting import clean

MAX_MESSAGE_LINES = 2
MAX_TAIL_LINES = 3

Lines = list[tuple[str, str]]
"""Install lines as ``(stream, text)``."""


class ErrorPanel(Static):
    """``✗ failed in prepare (code 500)`` + the message + the first error lines (or the tail)."""

    DEFAULT_CSS = """
    ErrorPanel {
        height: auto;
        max-height: 7;
        padding: 0 1;
        border: round $error;
        border-title-color: $error;
        border-title-style: bold;
        border-subtitle-color: $foreground-muted;
        background: $error 10%;
        display: none;
    }
    ErrorPanel.-visible { display: block; }
    /* The tail was asked for (E): room for the message and every tail line. */
    ErrorPanel.-tail { max-height: 10; }
    /* Without colour the red greys away: a heavy frame and a reverse-video title say "failed". */
    ErrorPanel:nocolor { border: heavy $foreground; border-title-color: $foreground; border-title-style: bold reverse; background: $surface; }
    """

    showing_tail: reactive[bool] = reactive(False)
    """True while the panel quotes the last install lines instead of the first error lines."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._message: Any = None
        self._cause: Lines = []
        self._tail: Lines = []

    @property
    def has_cause(self) -> bool:
        """True when the output has error lines (then ``e`` can jump to the first)."""
        return bool(self._cause)

    def show_error(
        self, message: Any, *, phase: Any = None, code: Any = None, cause: Lines | None = None, tail: Lines | None = None
    ) -> None:
        """Show the failure. ``cause`` holds the first error lines, ``tail`` the last lines of the
        install; stderr is marked ``!`` as in the output pane. All of it is server text."""
        self.add_class("-visible")
        where = f"failed in {clean(phase)}" if phase else "failed"
        if code not in (None, ""):
            where += f" (code {clean(code)})"
        self.border_title = f"✗ {where}"
        self._message = message
        self._cause = list(cause or [])
        self._tail = [(s, t) for s, t in tail or [] if clean(t).strip()][-MAX_TAIL_LINES:]
        self._draw()

    def watch_showing_tail(self, showing: bool) -> None:
        self.set_class(showing, "-tail")
        if self.has_class("-visible"):
            self._draw()

    def toggle_tail(self) -> bool:
        """Swap the first error lines for the tail (or back); False when there is nothing to swap."""
        if not self._tail:
            return False
        self.showing_tail = not self.showing_tail
        return True

    def _draw(self) -> None:
        tail = self.showing_tail or not self._cause
        hints = []
        if self._cause:
            hints.append("e: first error")
        if self._tail and self._cause:
            hints.append("E: first errors" if self.showing_tail else "E: last lines")
        elif self._tail:
            hints.append("E: hide last lines" if self.showing_tail else "E: last lines")
        self.border_subtitle = " · ".join(hints)
        text = Text()
        lines = [line.text for line in sanitize_lines(str(self._message or "unknown error"))]
        for line in lines[:MAX_MESSAGE_LINES]:
            text.append(line + "\n", style="bold")
        if len(lines) > MAX_MESSAGE_LINES:
            text.append(f"… {len(lines) - MAX_MESSAGE_LINES} more lines\n", style="dim")
        # Without error lines the tail is not the cause (bad-config: "found 0 vulnerabilities"): it
        # shows only when asked for.
        quoted = (self._tail if self.showing_tail else []) if tail else self._cause
        if quoted:
            text.append("last lines:\n" if tail else "", style="dim")
        for stream, line in quoted:
            text.append("! " if stream == "stderr" else "│ ", style="bold" if stream == "stderr" else "dim")
            text.append(clean(line) + "\n", style="")
        text.rstrip()
        self.update(text)

    def clear_error(self) -> None:
        self.remove_class("-visible")
