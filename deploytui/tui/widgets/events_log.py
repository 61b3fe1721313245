"""The Events tab: every event of the deployment — seq, time, name, data — one line each.

Times are the server's when known (the event's own or its row ``event_log`` entry's); a time this
client only received is marked ``~``.

A chatty install sends a hundred thousand events; a DataTable row per event costs tens of
microseconds and megabytes of renderables, so this is a :class:`~textual.widgets.Log` (about 3 µs
a line, lines kept as strings) fed in batches, with the event names coloured by a highlighter.
Event data comes from the server: it is shown as compact JSON with control characters stripped.
"""

from __future__ import annotations

from collections.abc import Iterable
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

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(highlight=True, auto_scroll=True, id=id)
        self.highlighter = _EventLineHighlighter()
        self.count = 0

    def add_events(self, events: Iterable[Any]) -> None:
        """Append a batch of typed events."""
        lines = []
        for event in events:
            self.count += 1
            lines.append(event_line(event, self.count))
        if lines:
            self.write_lines(lines)

    def reset(self) -> None:
        self.clear()
        self.count = 0
