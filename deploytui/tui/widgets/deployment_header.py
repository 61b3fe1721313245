"""The top of the deployment screen: what was deployed, by whom, when, and how it stands.

Every value comes from the server and is shown literally (rich ``Text``, control characters
stripped). The status badge and the running duration use the app's clock, so they tick. A revert
has no payload by design: its payload line says which release it went back to instead. ``compact``
keeps only the first line (the deployment screen's ``c``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.table import Table
from rich.text import Text
from textual.widgets import Static

import deploytui.tui.widgets.formatting as fmt
from deploytui.protocol.deployment import Status, is_terminal
from deploytui.tui.widgets.status_glyphs import glyph_for, theme_style


class DeploymentHeader(Static):
    """Project, status badge, id; user, origin, started/completed, duration; payload, restart, package."""

    DEFAULT_CSS = """
    DeploymentHeader { height: auto; padding: 0 1; }
    """

    def __init__(self, *, now: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id)
        self.now = now
        self.row: dict[str, Any] = {}
        self.status: str | None = None
        self._revert_note: str | None = None
        self._compact = False

    @property
    def revert_note(self) -> str | None:
        """``revert to release 1a2b3c4d (…)`` once the screen has found it (a revert's row)."""
        return self._revert_note

    @revert_note.setter
    def revert_note(self, note: str | None) -> None:
        if note != self._revert_note:
            self._revert_note = note
            self._redraw()

    @property
    def compact(self) -> bool:
        """Only the title line (project, status, id) is shown."""
        return self._compact

    @compact.setter
    def compact(self, value: bool) -> None:
        if value != self._compact:
            self._compact = value
            self._redraw()

    def _redraw(self) -> None:
        if self.row:
            self._draw()

    def _draw(self) -> None:
        """Show the row; lay the screen out again only when the header's height changes (a
        stream redraws it every batch, and a layout pass is the whole screen's)."""
        self.update(self._render_row(), layout=False)
        width, height = self.content_size
        if not width or self.get_content_height(self.content_size, self.screen.size, width) != height:
            self.refresh(layout=True)

    def show(self, row: dict[str, Any], status: str | None = None) -> None:
        """Show ``row`` (``status`` overrides the row's while the stream knows better); nothing is
        redrawn when neither changed (a stream calls this every batch)."""
        status = status or row.get("status")
        if row == self.row and status == self.status:
            return
        self.row = dict(row)
        self.status = status
        self._draw()

    def tick(self) -> None:
        if self.row and not is_terminal(self.status):
            self._draw()

    def _render_row(self) -> Table:
        row, status = self.row, self.status
        variables = self.app.theme_variables if self.is_attached else None
        title = Text(no_wrap=True, overflow="ellipsis")
        title.append(fmt.clean(row.get("project"), "?"), style="bold")
        title.append("  ")
        title.append_text(fmt.status_badge(status, variables, phase=row.get("phase"), mono=self.is_attached and self.app.no_color))
        title.append("  ")
        title.append(fmt.clean(row.get("deployment_id")), style="dim")
        if row.get("rollback_of"):
            revert_style = theme_style(glyph_for(Status.REVERTING)[1], variables)
            title.append(f"  revert of {fmt.short_id(row.get('rollback_of'))}", style=revert_style)
        now = self.now()
        who = Text(no_wrap=True, overflow="ellipsis")
        who.append("by ", style="dim")
        who.append(fmt.clean(row.get("user"), "-"))
        who.append(" on ", style="dim")
        who.append(fmt.clean(row.get("origin_node"), "-"))
        if row.get("restart_mode"):
            who.append(" · restart ", style="dim")
            who.append(fmt.clean(row.get("restart_mode")))
        when = Text(no_wrap=True, overflow="ellipsis")
        when.append(fmt.clock(row.get("started_at"), with_date=True))
        when.append(" → ", style="dim")
        completed = row.get("completed_at")
        running_style = theme_style(f"bold {glyph_for(Status.INSTALLING)[1]}", variables)
        when.append(fmt.clock(completed, with_date=True)[11:] if completed else "running", style="" if completed else running_style)
        when.append(f"  {fmt.duration(row.get('started_at'), completed, now)}", style="bold" if not is_terminal(status) else "")
        payload = Text(no_wrap=True, overflow="ellipsis")
        if row.get("rollback_of"):  # a revert uploads nothing: say where it went instead
            revert_style = theme_style(glyph_for(Status.REVERTING)[1], variables)
            payload.append(self._revert_note or "revert to the previous release", style=revert_style)
        else:
            payload.append(fmt.size(row.get("payload_size")))
            if row.get("payload_hash"):
                payload.append(f" · sha256 {fmt.clean(row.get('payload_hash'))[:12]}", style="dim")
            if row.get("payload_blob_present") is False:
                payload.append(" · payload deleted", style="italic yellow")
        package = Text(no_wrap=True, overflow="ellipsis")
        if row.get("package_identifier"):
            package.append("package ", style="dim")
            package.append(fmt.clean(row.get("package_identifier")))
        if lockfiles := install_fingerprint(row.get("install_fingerprint")):
            package.append(" · " if package.plain else "")
            package.append("install ", style="dim")
            package.append(lockfiles)
        outer = Table.grid(expand=True)
        outer.add_column(no_wrap=True, overflow="ellipsis")
        for line in (title,) if self._compact else (title, who, when, payload, package):
            if line.plain:
                outer.add_row(line)
        return outer


def install_fingerprint(fingerprint: Any) -> str:
    """``package-lock.json 3f2a9c1b0d4e`` for each lockfile of a row's ``install_fingerprint`` (its
    sha256, first 12 digits), ``no lockfile`` for an empty one, "" when the server records none."""
    lockfiles = fingerprint.get("lockfiles") if isinstance(fingerprint, dict) else None
    if not isinstance(lockfiles, dict):
        return ""
    if not lockfiles:
        return "no lockfile"
    return ", ".join(f"{fmt.clean(name)} {fmt.clean(digest)[:12]}" for name, digest in sorted(lockfiles.items()))
