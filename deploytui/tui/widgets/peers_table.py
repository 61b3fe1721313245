"""The Peers tab: replication per node — node, status, error, times (literal server text).

An empty table says why it is empty (:func:`peers_note`): the deploy has not replicated yet, never
reached replication, was a revert (which does not replicate), or replicated and no peer answered
(a single node).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from rich.text import Text
from textual.widgets import DataTable

import deploytui.tui.widgets.formatting as fmt
from deploytui.protocol.deployment import is_terminal
from deploytui.tui.widgets.status_glyphs import status_text


def peers_note(view: Any, row: dict[str, Any], status: str | None) -> str | None:
    """Why the Peers tab has no rows, from the deployment's phases and row; None when it has some.

    ``view`` is a :class:`~deploytui.client.view.DeploymentView` (its ``peers`` and ``phase()``).
    """
    if view.peers:
        return None
    origin = fmt.clean(row.get("origin_node")) or "the server"
    # Peers answer in the one-shot pipeline's replicate phase, in the two-phase one's activate.
    spread = view.phase("replicate") or view.phase("activate")
    if row.get("rollback_of") or view.phase("revert"):
        return "No peers: a revert swaps the release on this node only, it does not replicate."
    if spread is not None and spread.state == "done":
        return (f"No peers reported: {spread.name} ran on {origin} and no other node answered, so it is a "
                "single node (or a server that does not replicate).")
    if not is_terminal(status):
        return "No peers yet: each node reports here when the deploy replicates to it."
    where = f" (it failed in {fmt.clean(view.error.phase)})" if getattr(view.error, "phase", None) else ""
    return f"No peers: this deploy never replicated{where}."


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
            self.update_cell(key, "glyph", status_text(status, self.app.theme_variables, mono=self.app.no_color))

    def show_peers(self, peers: Iterable[tuple[str, str, Any]]) -> None:
        """``(node, status, error)`` for each peer."""
        variables = self.app.theme_variables
        for node, status, error in peers:
            key = fmt.clean(node) or "unknown"
            self._statuses[key] = status
            cells = (
                status_text(status, variables, mono=self.app.no_color),
                fmt.safe(node, "bold", "unknown"),
                Text(fmt.clean(status)),
                Text(_error_text(error) if error else "", style="red"),
            )
            if key in self.rows:
                for column, cell in zip(("glyph", "node", "status", "error"), cells):
                    self.update_cell(key, column, cell)
            else:
                self.add_row(*cells, key=key)
