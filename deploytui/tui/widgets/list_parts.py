"""The small parts of the deployments screen around its table: the ``/`` filter bar, the status
line under the table, and what an empty server shows."""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Horizontal
from textual.widgets import Input, Label, Static

from deploytui.tui.glyphs import pick

if TYPE_CHECKING:
    from deploytui.tui.widgets.deployments_table import DeploymentsTable

STATUS_FILTER_NAMES = {"all": "1 all", "running": "2 running", "failed": "3 failed", "success": "4 success"}


class FilterBar(Horizontal):
    """The ``/`` filter input above the table; text matches project, id, status, phase, user, origin."""

    DEFAULT_CSS = """
    FilterBar { height: 1; display: none; background: $panel; }
    FilterBar.-open { display: block; }
    FilterBar > Label { width: 2; color: $accent; text-style: bold; padding-left: 1; }
    FilterBar > Input { width: 1fr; height: 1; border: none; padding: 0; background: $panel; }
    """

    def compose(self) -> ComposeResult:
        yield Label("/")
        yield Input(placeholder="filter: project, id, status, user… (enter: keep, esc: clear)", compact=True, id="filter-input")


class ListStatus(Static):
    """One line under the table: shown/total, the status filter, the sort."""

    DEFAULT_CSS = """
    ListStatus { height: 1; padding: 0 1; color: $foreground-muted; background: $surface; }
    """

    def show(self, table: DeploymentsTable, *, paused: bool, server_total: int) -> None:
        """``[paused ·] shown/total · status · sort [· filter] [· how many are not loaded yet]``."""
        shown, total = table.row_count, len(table.rows_by_id)
        parts = [f"{shown}/{total} shown", "status: " + STATUS_FILTER_NAMES[table.status_filter]]
        arrow = pick("↓", "v") if table._reverse else pick("↑", "^")
        parts.append(f"sort: {table.sort_column} {arrow}")
        if table.text_filter:
            parts.append(f"filter: {table.text_filter}")
        if paused:
            parts.insert(0, pick("⏸", "||") + " paused (p resumes)")
        if server_total > total:
            # Not every row is here (Harper ignores search, and older pages load as you scroll).
            parts.append(f"newest {total} of {server_total} loaded: scroll down for more")
        self.update(Text(" · ".join(parts)))


class EmptyState(Static):
    """What an empty server shows: how to get a first deployment (the demos: one key)."""

    DEFAULT_CSS = """
    EmptyState { height: 1fr; margin: 1 2; padding: 1 2; border: round $accent; display: none; content-align: center middle; }
    EmptyState.-visible { display: block; }
    """

    def explain(self, *, demos: bool) -> None:
        """How to get a first deployment: the demos (when installed, one key) or a directory."""
        text = Text("No deployments yet.\n\n", style="bold")
        if demos:
            text.append("Press ", style="")
            text.append(" D ", style="reverse bold")
            text.append(" to deploy the bundled demo components (a quick success, a chatty install, "
                        "a failing install, a broken config, a slow one), or ")
        else:
            text.append("Press ")
        text.append(" d ", style="reverse bold")
        text.append(" to deploy a directory.")
        self.update(text)
