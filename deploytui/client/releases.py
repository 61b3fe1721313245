"""Which release of a project runs, and which one a revert goes back to, read from its deployments.

A server keeps two links per project (contract §2.6): ``current`` and ``previous``. A successful
deploy makes its release current (the old current becomes previous); ``revert_component`` swaps
the two and records a ``rolled_back`` row whose ``rollback_of`` names the deployment undone (our
server also records ``reverted_to``). Neither Harper nor our server names the links in the API, so
they are replayed here from the project's rows, oldest first. UI-free: the dashboard's revert dialog,
the revert's own screen and the list all ask this one module.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["ReleaseLinks", "release_links", "revert_target"]


class ReleaseLinks:
    """``current`` and ``previous`` deployment ids, None where the rows do not tell."""

    __slots__ = ("current", "previous")

    def __init__(self, current: str | None = None, previous: str | None = None) -> None:
        self.current = current
        self.previous = previous

    def __repr__(self) -> str:
        return f"ReleaseLinks(current={self.current!r}, previous={self.previous!r})"


def _finished_at(row: dict[str, Any]) -> int:
    """When a row moved the links: its end (activation is the deploy's last step), else its start."""
    for key in ("completed_at", "started_at"):
        if isinstance(row.get(key), (int, float)):
            return int(row[key])
    return 0


def release_links(rows: Iterable[dict[str, Any]], *, before: str | None = None) -> ReleaseLinks:
    """The links after the project's ``rows`` (any order; other projects' rows must not be in
    them), or just before the row ``before`` (a deployment id) moved them."""
    links = ReleaseLinks()
    for row in sorted((r for r in rows if isinstance(r, dict)), key=_finished_at):
        if before is not None and row.get("deployment_id") == before:
            break
        status = row.get("status")
        if status == "success" and not row.get("rollback_of"):
            links.previous, links.current = links.current, row.get("deployment_id")
        elif status == "rolled_back":
            to, undone = row.get("reverted_to"), row.get("rollback_of")
            if isinstance(to, str):
                links.current, links.previous = to, undone if isinstance(undone, str) else links.current
            else:
                links.current, links.previous = links.previous, links.current
    return links


def revert_target(rows: Iterable[dict[str, Any]], *, revert_row: dict[str, Any] | None = None) -> str | None:
    """The deployment id a revert goes (or, for ``revert_row``, went) back to; None when unknown."""
    rows = list(rows)
    if revert_row is not None:
        if isinstance(revert_row.get("reverted_to"), str):
            return revert_row["reverted_to"]
        return release_links(rows, before=revert_row.get("deployment_id")).previous
    return release_links(rows).previous
