"""Row geometry of the install log when lines wrap.

With wrap on, an item (a line or a gap separator) can take several rows. :class:`WrappedRows` keeps
the prefix sums of row counts for one body width, so mapping a screen row to an item is a bisect. It
is built lazily, extended in O(batch) on append, and dropped when the width, the wrap setting or the
displayed items change.
"""

from __future__ import annotations

from bisect import bisect_right
from itertools import accumulate
from typing import TYPE_CHECKING

from deploytui.tui.widgets.install_log.render import wrapped_rows

if TYPE_CHECKING:
    from collections.abc import Sequence


class WrappedRows:
    """Prefix sums of the rows each displayed item takes at one body width."""

    def __init__(self) -> None:
        self._starts: list[int] | None = None
        self._width = -1

    def invalidate(self) -> None:
        """Forget the sums (the items or the widths changed)."""
        self._starts = None

    def _rows(self, item: int, cells: Sequence[int], width: int) -> int:
        return 1 if item & 1 else wrapped_rows(cells[item >> 1], width)

    def starts(self, items: Sequence[int], cells: Sequence[int], width: int) -> list[int]:
        """``starts[p]`` is the first row of ``items[p]``; ``starts[-1]`` the total. Rebuilt if stale."""
        if self._starts is None or self._width != width:
            self._width = width
            self._starts = list(accumulate((self._rows(i, cells, width) for i in items), initial=0))
        return self._starts

    def extend(self, added: Sequence[int], cells: Sequence[int]) -> None:
        """Account for items appended at the end (no-op while the sums are not built)."""
        if self._starts is None or not added:
            return
        total = self._starts[-1]
        self._starts.extend(accumulate((self._rows(i, cells, self._width) for i in added), initial=total))
        del self._starts[-len(added) - 1]  # ``initial`` repeated the old total

    @staticmethod
    def locate(starts: list[int], row: int) -> tuple[int, int]:
        """``(item position, row within the item)`` of virtual row ``row``."""
        position = bisect_right(starts, row) - 1
        return position, row - starts[position]
