"""The Peers tab: replication per node — node, status, error, times (literal server text)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

import deploytui.tui.widgets.formatting as fmt
from deploytui.tui.widgets.status_glyphs import status_text


def _error_text(error: Any) -> str:
    if isinstance(error, dict):
        return fmt.clean(error.get("message") or error)
    return fmt.clean(error)


class PeersTable(DataTable):
    """One row per peer node, keyed by node name and updated in place."""

    DEFAULT_CSS = """
    PeersTable { height: 1fr; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row")
        self._statuses: dict[str, str] = {}

    def on_mount(self) -> None:
        self.add_column(" ", key="glyph", width=2)
        self.add_column("Node", key="node", width=24)
        self.add_column("Status", key="status", width=10)
        self.add_column("Error", key="error")
        # The glyphs hold the theme's colour as it was when built: rebuild them when it changes.
        self.app.theme_changed_signal.subscribe(self, self._recolour)

    def _recolour(self, _theme: object) -> None:
        for key, status in self._statuses.items():
            self.update_cell(key, "glyph", status_text(status, self.app.theme_variables))

    def show_peers(self, peers: Iterable[tuple[str, str, Any]]) -> None:
        """``(node, status, error)`` for each peer."""
        variables = self.app.theme_variables
        for node, status, error in peers:
            key = fmt.clean(node) or "unknown"
            self._statuses[key] = status
            cells = (
                status_text(status, variables),
                fmt.safe(node, "bold", "unknown"),
                Text(fmt.clean(status)),
                Text(_error_text(error) if error else "", style="red"),
            )
            if key in self.rows:
                for column, cell in zip(("glyph", "node", "status", "error"), cells):
                    self.update_cell(key, column, cell)
            else:
                self.add_row(*cells, key=key)
