"""The Events tab: every event of the deployment — seq, time, name, data — one line each.

Times are the server's when known (the event's own or its row ``event_log`` entry's); a time this
client only received is marked ``~``.

A chatty install sends a hundred thousand events; a DataTable row per event costs tens of
microseconds and megabytes of renderables, so this is a :class:`~textual.widgets.Log` (about 3 µs
a line, lines kept as strings) fed in batches, with the event names coloured by a highlighter.
Event data comes from the server: it is shown as compact JSON with control characters stripped.

Bounded and lazy: the newest :data:`MAX_EVENT_LINES` events are listed (the tab's label counts them
all), and while the tab is hidden a batch is only queued — formatting every event of a replay
nobody looks at cost 8% of the dashboard's time; the queue is formatted when the tab shows or when
:attr:`EventsLog.lines` is read.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from typing import Any

from rich.highlighter import Highlighter
from rich.text import Text
from textual.binding import Binding
from textual.widgets import Log

import deploytui.tui.widgets.formatting as fmt
from deploytui.protocol import events as ev

_NAME_STYLE = {"error": "bold red", "phase": "bold cyan", "peer": "magenta", "done": "bold green", "warning": "yellow"}
_SEQ, _TIME, _NAME = 7, 12, 18
_NAME_START = _SEQ + 2 + _TIME + 2

MAX_EVENT_LINES = 20_000
"""The Events tab lists this many newest events at most (a 1M-event deploy stays bounded)."""


class _EventLineHighlighter(Highlighter):
    """Dims the seq and time columns and colours the event name."""

    def highlight(self, text: Text) -> None:
        text.stylize("dim", 0, _NAME_START)
        name = text.plain[_NAME_START : _NAME_START + _NAME].strip()
        style = _NAME_STYLE.get(name.removesuffix(" ↺"))
        if style:
            text.stylize(style, _NAME_START, _NAME_START + len(name))


def event_time(event: Any) -> str:
    """The event's time; ``~`` marks one this client received, the server's being unknown."""
    shown = fmt.clock(event.t)
    return f"~{shown[:_TIME - 1]}" if getattr(event, "t_source", None) == "received" else shown


def event_line(event: Any, fallback_seq: int) -> str:
    """One event as a fixed-column line of plain text."""
    name = ev.event_name(event)
    if getattr(event, "backfilled", False):
        name += " ↺"
    seq = event.seq if event.seq is not None else fallback_seq
    data = fmt.compact_json(event.wire_data())
    return f"{seq:>{_SEQ}}  {event_time(event):<{_TIME}}  {fmt.clean(name)[:_NAME]:<{_NAME}}  {data}"


class EventsLog(Log):
    """One line per event; :meth:`add_events` takes a batch (one call per frame at most)."""

    DEFAULT_CSS = """
    EventsLog { height: 1fr; }
    """
    BINDINGS = [
        Binding("j", "scroll_down", "Down", show=False, id="events.down"),
        Binding("k", "scroll_up", "Up", show=False, id="events.up"),
        Binding("g", "scroll_home", "Top", show=False, id="events.top"),
        Binding("G", "scroll_end", "Bottom", show=False, id="events.bottom"),
    ]

    def __init__(self, *, id: str | None = None, max_lines: int = MAX_EVENT_LINES) -> None:
        super().__init__(highlight=True, auto_scroll=True, max_lines=max_lines, id=id)
        self.highlighter = _EventLineHighlighter()
        self.count = 0
        self._unformatted: deque[tuple[Any, int]] = deque(maxlen=max_lines)
        """Events added while hidden, with their fallback seq; formatted when shown."""

    def add_events(self, events: Iterable[Any]) -> None:
        """Append a batch of typed events (formatted now only if the log is on screen)."""
        batch = events if isinstance(events, Sequence) else list(events)
        first = self.count + 1
        self.count += len(batch)
        unformatted = self._unformatted
        unformatted.extend(zip(batch, range(first, self.count + 1)))  # one C loop, not one per event
        if unformatted and self._showing():
            self._format_unformatted()

    @property
    def unformatted(self) -> int:
        """How many events wait to be formatted (the tab is hidden)."""
        return len(self._unformatted)

    @property
    def lines(self) -> Sequence[str]:
        """The listed lines, the queued events formatted first."""
        self._format_unformatted()
        return super().lines

    def _showing(self) -> bool:
        """Is every container up to the screen displayed (the Events tab is the active one)?"""
        if not self.is_mounted:
            return False
        node: Any = self
        while node is not None and node is not self.screen:
            if not node.display:
                return False
            node = node.parent
        return node is not None

    def _format_unformatted(self) -> None:
        if self._unformatted:
            queued, self._unformatted = self._unformatted, deque(maxlen=self._unformatted.maxlen)
            self.write_lines([event_line(event, seq) for event, seq in queued])

    def on_show(self) -> None:
        self._format_unformatted()

    def on_unmount(self) -> None:
        # Let the queued events go by refcount now (see DeploymentScreen.on_unmount).
        self._unformatted.clear()

    def reset(self) -> None:
        self.clear()
        self._unformatted.clear()
        self.count = 0
