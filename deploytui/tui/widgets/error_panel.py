"""The error panel: a failed deployment leads with why — phase, code, message, last install lines.

Shown at the top of the deployment screen only when the deploy failed. The message and lines come
from the server and are shown literally; ``e`` jumps to the first error line of the output.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.widgets import Static

from deploytui.client.ansi import sanitize_lines
from deploytui.tui.widgets.formatting import clean

MAX_MESSAGE_LINES = 3
MAX_TAIL_LINES = 2


class ErrorPanel(Static):
    """``✗ failed in prepare (code 500)`` + the message + the last install lines."""

    DEFAULT_CSS = """
    ErrorPanel {
        height: auto;
        max-height: 7;
        padding: 0 1;
        border: round $error;
        border-title-color: $error;
        border-title-style: bold;
        background: $error 10%;
        display: none;
    }
    ErrorPanel.-visible { display: block; }
    """

    def show_error(
        self, message: Any, *, phase: Any = None, code: Any = None, tail: list[tuple[str, str]] | None = None
    ) -> None:
        """Show the failure; every argument is server text, displayed literally. ``tail`` holds the
        last install lines as ``(stream, text)``: stderr is marked ``!`` as in the output pane."""
        self.add_class("-visible")
        where = f"failed in {clean(phase)}" if phase else "failed"
        if code not in (None, ""):
            where += f" (code {clean(code)})"
        self.border_title = f"✗ {where}"
        self.border_subtitle = "e: first error line"
        text = Text()
        lines = [line.text for line in sanitize_lines(str(message or "unknown error"))]
        for line in lines[:MAX_MESSAGE_LINES]:
            text.append(line + "\n", style="bold")
        if len(lines) > MAX_MESSAGE_LINES:
            text.append(f"… {len(lines) - MAX_MESSAGE_LINES} more lines\n", style="dim")
        for stream, line in [(s, t) for s, t in tail or [] if clean(t).strip()][-MAX_TAIL_LINES:]:
            text.append("! " if stream == "stderr" else "│ ", style="bold" if stream == "stderr" else "dim")
            text.append(clean(line) + "\n", style="")
        text.rstrip()
        self.update(text)

    def clear_error(self) -> None:
        self.remove_class("-visible")
