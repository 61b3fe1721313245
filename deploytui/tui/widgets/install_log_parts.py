"""The small widgets around the install log view: the "+N new lines" badge, the search bar, and
the :class:`LineBuffer` that batches lines into one append per frame."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.message import Message
from textual.timer import Timer
from textual.widgets import Input, Label, Static

from deploytui.tui.widgets.install_log_render import group_thousands

if TYPE_CHECKING:
    from collections.abc import Iterable

    from textual import events

    from deploytui.client.view import InstallLine

__all__ = ["LineBuffer", "NewLinesBadge", "SearchBar"]


class NewLinesBadge(Static):
    """The "+N new lines" overlay shown while follow is paused; clicking it resumes follow."""

    DEFAULT_CSS = """
    NewLinesBadge {
        layer: overlay;
        width: auto;
        height: 1;
        padding: 0 1;
        margin: 0 2 1 0;
        background: $accent;
        color: auto 90%;
        text-style: bold;
        display: none;
    }
    NewLinesBadge.-visible { display: block; }
    NewLinesBadge:hover { background: $accent-lighten-1; }
    """

    class Clicked(Message):
        """The user clicked the badge."""

    def show_count(self, count: int) -> None:
        """Show ``+count`` (or hide the badge when nothing waits)."""
        self.set_class(count > 0, "-visible")
        if count:
            self.update(f"↓ +{group_thousands(count)} new line{'s' if count != 1 else ''} · G")

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Clicked())


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

    def compose(self) -> ComposeResult:
        yield Label("/", classes="search-bar--prompt")
        yield Input(placeholder="search (ctrl+r regex, ctrl+f filter)", compact=True, select_on_focus=False)
        yield Label("", id="search-status")

    def set_status(self, text: str) -> None:
        """Show the match counter and mode flags on the right."""
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


class LineBuffer:
    """Collects install lines as they arrive and hands them to an ``InstallLog`` in one batch.

    Message handlers call :meth:`add` per event; the first line of a batch arms a one-shot timer of
    ``interval`` seconds (~one frame at 30 fps), and the timer appends everything collected with one
    call. No timer runs while nothing arrives.
    """

    def __init__(self, install_log: Any, *, interval: float = 1 / 30) -> None:
        self.install_log = install_log
        self.interval = interval
        self._pending: list[InstallLine] = []
        self._timer: Timer | None = None

    def add(self, line: InstallLine) -> None:
        """Queue one line."""
        self._pending.append(line)
        self._arm()

    def extend(self, lines: Iterable[InstallLine]) -> None:
        """Queue several lines."""
        self._pending.extend(lines)
        self._arm()

    def _arm(self) -> None:
        if self._timer is None and self._pending:
            self._timer = self.install_log.set_timer(self.interval, self.flush, name="install-log-flush")

    def flush(self) -> None:
        """Append everything queued now (also call it before replacing or clearing the log)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._pending:
            batch, self._pending = self._pending, []
            self.install_log.append_lines(batch)

    def __len__(self) -> int:
        return len(self._pending)
