"""Batches install lines into one append per frame, so a chatty install costs one refresh a frame."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterable

    from textual.timer import Timer

    from deploytui.client.view import InstallLine
    from deploytui.tui.widgets.install_log.pane import InstallLog

__all__ = ["LineBuffer"]


class LineBuffer:
    """Collects install lines as they arrive and hands them to an ``InstallLog`` in one batch.

    Message handlers call :meth:`add` per event; the first line of a batch arms a one-shot timer of
    ``interval`` seconds (~one frame at 30 fps), and the timer appends everything collected with one
    call. No timer runs while nothing arrives.
    """

    def __init__(self, install_log: InstallLog, *, interval: float = 1 / 30) -> None:
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
