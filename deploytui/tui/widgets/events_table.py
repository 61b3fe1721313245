"""The Events tab: every event of the deployment — time, name, data — fed in batches.

Event data comes from the server: it is shown as compact JSON with control characters stripped,
as literal text.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.binding import Binding
from textual.widgets import DataTable

from deploytui.protocol import events as ev
from deploytui.tui.widgets import formatting as fmt

_NAME_STYLE = {"error": "bold red", "phase": "bold cyan", "peer": "magenta", "done": "bold green", "warning": "yellow"}


class EventsTable(DataTable):
    """One row per event; :meth:`add_events` takes a batch (one call per frame at most)."""

    DEFAULT_CSS = """
    EventsTable { height: 1fr; }
    """
    BINDINGS = [
        Binding("j", "cursor_down", "Down", show=False, id="events.down"),
        Binding("k", "cursor_up", "Up", show=False, id="events.up"),
        Binding("g", "scroll_top", "Top", show=False, id="events.top"),
        Binding("G", "scroll_bottom", "Bottom", show=False, id="events.bottom"),
    ]

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.count = 0

    def on_mount(self) -> None:
        self.add_column("#", key="seq", width=5)
        self.add_column("Time", key="time", width=12)
        self.add_column("Event", key="event", width=10)
        self.add_column("Data", key="data")

    def add_events(self, events: Iterable[Any]) -> None:
        """Append a batch of typed events."""
        rows = []
        for event in events:
            name = ev.event_name(event)
            data = event.wire_data() if hasattr(event, "wire_data") else getattr(event, "raw", None)
            seq = event.seq if event.seq is not None else self.count + 1
            label = Text(fmt.clean(name), style=_NAME_STYLE.get(name, ""))
            if getattr(event, "backfilled", False):
                label.append(" ↺", style="cyan")
            rows.append((Text(str(seq), style="dim", justify="right"), Text(fmt.clock(event.t), style="dim"), label, Text(fmt.compact_json(data), no_wrap=True, overflow="ellipsis")))
            self.count += 1
        if rows:
            at_bottom = self.cursor_row >= self.row_count - 1
            self.add_rows(rows)
            if at_bottom and self.row_count > len(rows):
                self.move_cursor(row=self.row_count - 1, animate=False)

    def reset(self) -> None:
        self.clear()
        self.count = 0
