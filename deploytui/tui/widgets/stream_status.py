"""One line saying where the deployment's stream stands: replaying, live, reconnecting, done.

Fed with ``AttachState`` values (``deploytui.client.attach``); shows the reconnect attempt and the
countdown to the next try, and how many events were backfilled from the final row.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from deploytui.tui.widgets.formatting import clean

_LOOK = {
    "connecting": ("◌", "connecting", "yellow"),
    "replaying": ("⟲", "replaying", "cyan"),
    "live": ("●", "live", "bold green"),
    "reconnecting": ("↻", "reconnecting", "bold yellow"),
    "verifying": ("…", "verifying", "yellow"),
    "done": ("■", "done", "dim"),
    "failed": ("✗", "stream failed", "bold red"),
    "offline": ("○", "not attached", "dim"),
}


class StreamStatus(Static):
    """``● live · 1 204 lines · following`` — the stream state and the follow state."""

    DEFAULT_CSS = """
    StreamStatus { height: 1; padding: 0 1; background: $panel; }
    """

    state: reactive[Any] = reactive(None, always_update=True)
    follow: reactive[bool] = reactive(True)
    lines: reactive[int] = reactive(0)
    search: reactive[str] = reactive("")

    def render(self) -> Text:
        state = self.state
        kind = getattr(state, "kind", None) or "connecting"
        glyph, label, style = _LOOK.get(kind, ("?", kind, ""))
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{glyph} {label}", style=style)
        attempt = getattr(state, "attempt", 0)
        next_retry = getattr(state, "next_retry_s", None)
        if kind == "reconnecting":
            text.append(f" (attempt {attempt}", style="yellow")
            if next_retry is not None:
                text.append(f", next in {next_retry:.0f}s", style="yellow")
            text.append(")", style="yellow")
        backfilled = getattr(state, "backfilled", 0)
        if backfilled:
            text.append(" · ")
            text.append(f"backfilled {backfilled}", style="cyan")
        if getattr(state, "ids", True) is False:
            text.append(" · no event ids (Harper wire)", style="dim")
        message = getattr(state, "message", None)
        if message and kind in ("failed", "reconnecting", "verifying"):
            text.append(" · " + clean(message), style="dim")
        noun = "line" if self.lines == 1 else "lines"
        text.append(f" · {self.lines:,} {noun}".replace(",", " "), style="dim")
        if self.follow:
            text.append(" · following", style="green")
        else:
            text.append(" · paused (G: live)", style="bold yellow")
        if self.search:
            text.append(f" · {clean(self.search)}", style="cyan")
        return text
