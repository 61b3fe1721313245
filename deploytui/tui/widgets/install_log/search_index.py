"""Search results of the install log: which lines match, how often, and which match is current.

Kept as sorted line indices plus cumulative match counts, so "match 3/41", next/previous and the
filter's index list all come from the same data, and appending a batch only scans the new lines.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from typing import TYPE_CHECKING

from deploytui.tui.widgets.install_log.render import SearchQuery

if TYPE_CHECKING:
    from collections.abc import Sequence


class SearchIndex:
    """Matches of one :class:`SearchQuery` over a growing list of lines."""

    def __init__(self) -> None:
        self.query = SearchQuery("")
        self.lines: list[int] = []
        """Indices of the lines holding at least one match, ascending."""
        self._cumulative: list[int] = [0]
        self.current: int | None = None
        """Ordinal (0-based, over all matches) of the match the user is on, or None."""
        self.generation = 0
        """Bumped whenever the query changes, so rendered rows can be cached per query."""

    def reset(self, query: SearchQuery, texts: Sequence[str]) -> None:
        """Search the lines' plain ``texts`` afresh for ``query``."""
        self.query = query
        self.lines = []
        self._cumulative = [0]
        self.current = None
        self.generation += 1
        self.extend(texts, 0)

    def extend(self, texts: Sequence[str], start: int) -> list[int]:
        """Scan the plain texts of lines just appended, the first being line ``start``; returns the
        indices that match."""
        if not self.query.active:
            return []
        count = self.query.count
        matched = []
        total = self._cumulative[-1]
        for offset, text in enumerate(texts):
            found = count(text)
            if found:
                matched.append(start + offset)
                total += found
                self._cumulative.append(total)
        self.lines.extend(matched)
        return matched

    @property
    def total(self) -> int:
        """Number of matches over all lines."""
        return self._cumulative[-1]

    def line_of(self, ordinal: int) -> tuple[int, int]:
        """``(line index, match number within the line)`` of match ``ordinal``."""
        position = bisect_right(self._cumulative, ordinal) - 1
        return self.lines[position], ordinal - self._cumulative[position]

    def current_in_line(self, index: int) -> int | None:
        """Which match of line ``index`` is current, or None when the current match is elsewhere."""
        if self.current is None:
            return None
        line, number = self.line_of(self.current)
        return number if line == index else None

    def step(self, forward: bool, from_line: int | None) -> tuple[int, int] | None:
        """Move to the next (or previous) match and return its ``(line, number)``.

        Without a current match, start from ``from_line`` (the current line or the top of the list)
        so ``n`` finds the first match below what the user is looking at. Wraps around at the ends.
        """
        total = self.total
        if total == 0:
            self.current = None
            return None
        if self.current is not None:
            self.current = (self.current + (1 if forward else -1)) % total
        elif from_line is None:
            self.current = 0 if forward else total - 1
        elif forward:
            position = bisect_left(self.lines, from_line)
            self.current = self._cumulative[position] % total
        else:
            position = bisect_right(self.lines, from_line) - 1
            self.current = (self._cumulative[position + 1] - 1) % total if position >= 0 else total - 1
        return self.line_of(self.current)

    def label(self) -> str:
        """``"match 3/41"``, ``"41 matches"``, ``"no matches"`` or an invalid-pattern note."""
        if self.query.error:
            return "invalid pattern"
        if not self.query.active:
            return ""
        if self.total == 0:
            return "no matches"
        if self.current is None:
            return f"{self.total} match{'es' if self.total != 1 else ''}"
        return f"match {self.current + 1}/{self.total}"
