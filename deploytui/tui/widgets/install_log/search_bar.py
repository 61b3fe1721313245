"""The ``/`` search bar docked under the install log."""

from __future__ import annotations

from typing import Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import Input, Label

__all__ = ["SearchBar"]


class SearchBar(Horizontal):
    """The ``/`` bar docked under the log: query input, match counter, regex/filter state."""

    DEFAULT_CSS = """
    SearchBar {
        dock: bottom;
        height: 1;
        display: none;
        background: $panel;
        & > .search-bar--prompt { width: 2; color: $accent; text-style: bold; padding-left: 1; }
        & > Input { width: 1fr; height: 1; border: none; padding: 0; background: $panel; }
        & > Input:focus { background: $panel; }
        & > #search-status { width: auto; padding: 0 1; color: $foreground-muted; }
    }
    SearchBar.-open { display: block; }
    """
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+r", "toggle_regex", "Regex", id="log.search.regex"),
        Binding("ctrl+f", "toggle_filter", "Filter", id="log.search.filter"),
        Binding("escape", "close", "Close", id="log.search.close"),
    ]

    class Closed(Message):
        """The user closed the bar (escape)."""

    class Submitted(Message):
        """The user pressed enter: go to the next match and back to the log."""

    _status = ""  # the text the status label shows

    def compose(self) -> ComposeResult:
        yield Label("/", classes="search-bar--prompt")
        yield Input(placeholder="search (ctrl+r regex, ctrl+f filter)", compact=True, select_on_focus=False)
        yield Label("", id="search-status")

    def set_status(self, text: str) -> None:
        """Show the match counter and mode flags on the right (a label update costs a layout pass:
        only when the text changes, not on every batch of lines)."""
        if text != self._status:
            self._status = text
            self.query_one("#search-status", Label).update(text)

    def action_toggle_regex(self) -> None:
        log = self._log
        if log is not None:
            log.search_regex = not log.search_regex

    def action_toggle_filter(self) -> None:
        log = self._log
        if log is not None:
            log.filter_active = not log.filter_active

    def action_close(self) -> None:
        self.post_message(self.Closed())

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.post_message(self.Submitted())

    @property
    def _log(self) -> Any:
        """The InstallLog this bar belongs to (its parent)."""
        return self.parent
