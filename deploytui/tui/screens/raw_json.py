"""A deployment's row as the server sent it, as indented JSON in a scrollable modal (``v`` in the list).

For what the table leaves out (the error's code, peer results, hashes, fields a newer server adds).
The text is :func:`deploytui.client.safe_text.json_dumps`: every character that could control the
terminal is escaped as ``\\uXXXX``, and Rich markup in it is shown literally, never obeyed.
"""

from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from deploytui.client.safe_text import json_dumps
from deploytui.tui.widgets.formatting import clean


class RawJsonScreen(ModalScreen[None]):
    """The row as JSON; ``j``/``k``/arrows/page keys scroll, ``esc``/``q``/``v`` close."""

    DEFAULT_CSS = """
    RawJsonScreen { align: center middle; }
    RawJsonScreen > Vertical {
        width: 100; max-width: 95%; height: 90%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    RawJsonScreen .raw--title { text-style: bold; height: 1; }
    RawJsonScreen VerticalScroll { height: 1fr; }
    RawJsonScreen .raw--hint { height: 1; color: $foreground-muted; }
    """
    BINDINGS = [
        Binding("escape,q,v", "dismiss", "Close", id="raw.close"),
        Binding("j", "scroll('down')", "Down", show=False, id="raw.down"),
        Binding("k", "scroll('up')", "Up", show=False, id="raw.up"),
    ]

    def __init__(self, row: dict[str, Any], title: str = "Deployment row") -> None:
        super().__init__()
        self.row = row
        self.title_text = title
        self.text = json_dumps(row, indent=2, sort_keys=True, default=str)
        """What is shown (and what a test reads): the row, its unsafe characters escaped."""

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(clean(self.title_text), no_wrap=True, overflow="ellipsis"), classes="raw--title")
            with VerticalScroll(id="raw-scroll"):
                yield Static(Text(self.text), id="raw-text")
            yield Static("j/k ↑/↓ pgup/pgdn scroll · esc close", classes="raw--hint")

    def on_mount(self) -> None:
        self.query_one("#raw-scroll").focus()

    def action_scroll(self, direction: str) -> None:
        scroll = self.query_one("#raw-scroll", VerticalScroll)
        if direction == "down":
            scroll.scroll_down(animate=False)
        else:
            scroll.scroll_up(animate=False)

    async def action_dismiss(self, result: None = None) -> None:
        self.dismiss(result)
