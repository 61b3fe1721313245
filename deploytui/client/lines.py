"""LineStore: install lines held as columns, not as an object per line.

A million-line install must not cost a million Python objects (each ``InstallLine`` with its
``SafeText`` and boxed ints took ~450 bytes and the cyclic GC walked them all). Here a line is one
``str`` plus a few bytes in packed arrays (its index, seq, time, flags and package manager); colour
spans are kept only for the rare lines that have them. ``InstallLine`` objects are built on demand,
for the few rows a screen draws or a caller iterates.

``maxlen`` bounds the store: the oldest lines are dropped in chunks of ``maxlen // 16`` (a slice
``del`` per chunk, not per line), so at most ``maxlen`` lines are visible through the sequence API
while a little more may sit in memory until the next chunk goes.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import overload

from deploytui.client.ansi import SafeText

__all__ = ["InstallLine", "LineStore"]

STDERR, ERROR, WARNING = 1, 2, 4
_NONE = -(2**63)
"""A seq or time the server did not send."""
_BIT_TABLES = {bit: bytes(1 if value & bit else 0 for value in range(256)) for bit in (STDERR, ERROR, WARNING)}


@dataclass(frozen=True, slots=True)
class InstallLine:
    """One line of install output, sanitised and classified.

    ``index`` is the 0-based position among all install lines of the deployment; it keeps counting
    when old lines are evicted, so it is a stable key for a line.
    """

    index: int
    seq: int | None
    stream: str
    text: SafeText
    t: int | None
    manager: str
    is_error: bool
    is_warning: bool


class LineStore(Sequence["InstallLine"]):
    """Install lines in order, as columns; ``store[i]`` builds the ``InstallLine`` at position ``i``."""

    __slots__ = ("_codes", "_start", "flags", "indexes", "managers", "maxlen", "seqs", "spans", "texts", "times",
                 "_manager_of")

    def __init__(self, maxlen: int | None = None) -> None:
        self.maxlen = maxlen
        self.texts: list[str] = []
        """Each line's plain text (the one object a line costs)."""
        self.indexes = array("q")
        """Each line's ``InstallLine.index`` (its position among all lines of the deployment)."""
        self.seqs = array("q")
        self.times = array("q")
        self.flags = array("B")
        """``STDERR | ERROR | WARNING`` bits of each line."""
        self._manager_of = array("B")
        self.managers: list[str] = []
        self._codes: dict[str, int] = {}
        self.spans: dict[int, tuple] = {}
        """``index -> colour spans`` of the lines that have any."""
        self._start = 0  # physical position of the first visible line (drops are batched)

    # -- adding ------------------------------------------------------------------------------
    def append(self, index: int, seq: int | None, stream: str, text: SafeText, t: int | None, manager: str,
               is_error: bool, is_warning: bool) -> None:
        """Add one line."""
        self.add(index, seq, (stream == "stderr") | (is_error << 1) | (is_warning << 2), text.text, text.spans, t,
                 manager)

    def add(self, index: int, seq: int | None, flags: int, text: str, spans: tuple, t: int | None,
            manager: str) -> None:
        """Add one line from its parts: ``flags`` is ``STDERR | ERROR | WARNING`` bits, ``spans`` its
        colour spans (the reducer's hot path: no object survives but the text)."""
        self.texts.append(text)
        self.indexes.append(index)
        self.seqs.append(_NONE if seq is None else seq)
        self.times.append(_NONE if t is None else t)
        self.flags.append(flags)
        code = self._codes.get(manager)
        if code is None:
            code = self._code(manager)
        self._manager_of.append(code)
        if spans:
            self.spans[index] = spans
        if self.maxlen is not None and len(self.texts) - self._start > self.maxlen:
            self._drop(len(self.texts) - self._start - self.maxlen)

    def _code(self, manager: str) -> int:
        if len(self.managers) >= 255:
            return 255  # an absurd number of package managers: later ones share the last name
        self._codes[manager] = code = len(self.managers)
        self.managers.append(manager)
        return code

    def extend(self, lines: Iterable[InstallLine]) -> None:
        """Add ``InstallLine`` objects (tests and callers that build lines themselves)."""
        for line in lines:
            self.append(line.index, line.seq, line.stream, line.text, line.t, line.manager, line.is_error,
                        line.is_warning)

    def extend_from(self, other: LineStore, start: int = 0) -> None:
        """Add ``other``'s lines from position ``start`` on, column by column (no per-line object)."""
        begin = other._start + max(0, start)
        if begin >= len(other.texts):
            return
        self.texts.extend(other.texts[begin:])
        self.indexes.extend(other.indexes[begin:])
        self.seqs.extend(other.seqs[begin:])
        self.times.extend(other.times[begin:])
        self.flags.extend(other.flags[begin:])
        if other.managers == self.managers[: len(other.managers)]:
            self._manager_of.extend(other._manager_of[begin:])
            for name in other.managers[len(self.managers):]:
                self._code(name)
        else:
            codes = [self._codes[n] if n in self._codes else self._code(n) for n in other.managers]
            self._manager_of.extend(codes[c] for c in other._manager_of[begin:])
        if other.spans:
            first = other.indexes[begin]
            self.spans.update((i, s) for i, s in other.spans.items() if i >= first)
        if self.maxlen is not None and len(self.texts) - self._start > self.maxlen:
            self._drop(len(self.texts) - self._start - self.maxlen)

    def _drop(self, count: int) -> None:
        """Hide the ``count`` oldest lines; free them in chunks (one slice ``del`` per chunk)."""
        self._start += count
        if self._start >= max(1, (self.maxlen or 0) // 16):
            cut, self._start = self._start, 0
            del self.texts[:cut], self.indexes[:cut], self.seqs[:cut], self.times[:cut], self.flags[:cut]
            del self._manager_of[:cut]
            if self.spans:
                first = self.indexes[0] if self.indexes else 0
                self.spans = {i: s for i, s in self.spans.items() if i >= first}

    def clear(self) -> None:
        """Forget every line."""
        self.__init__(self.maxlen)  # type: ignore[misc]

    # -- reading -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.texts) - self._start

    @overload
    def __getitem__(self, position: int) -> InstallLine: ...
    @overload
    def __getitem__(self, position: slice) -> list[InstallLine]: ...
    def __getitem__(self, position: int | slice) -> InstallLine | list[InstallLine]:
        if isinstance(position, slice):
            return [self._line(p) for p in range(*position.indices(len(self)))]
        size = len(self)
        if position < 0:
            position += size
        if not 0 <= position < size:
            raise IndexError("line position out of range")
        return self._line(position)

    def _line(self, position: int) -> InstallLine:

        p = self._start + position
        index, seq, t, flags = self.indexes[p], self.seqs[p], self.times[p], self.flags[p]
        return InstallLine(index, None if seq == _NONE else seq, "stderr" if flags & STDERR else "stdout",
                           SafeText(self.texts[p], self.spans.get(index, ())), None if t == _NONE else t,
                           self.managers[self._manager_of[p]] if self.managers else "",
                           bool(flags & ERROR), bool(flags & WARNING))

    def __iter__(self) -> Iterator[InstallLine]:
        return (self._line(p) for p in range(len(self)))

    def text(self, position: int) -> str:
        """Plain text of the line at ``position``."""
        return self.texts[self._start + position]

    def plain_texts(self, start: int = 0) -> list[str]:
        """Plain texts from position ``start`` on (a list slice: no line object)."""
        return self.texts[self._start + start :]

    def index_at(self, position: int) -> int:
        """``InstallLine.index`` of the line at ``position``."""
        return self.indexes[self._start + position if position >= 0 else len(self.texts) + position]

    def seq_at(self, position: int) -> int | None:
        seq = self.seqs[self._start + position]
        return None if seq == _NONE else seq

    def stream_at(self, position: int) -> str:
        return "stderr" if self.flags[self._start + position] & STDERR else "stdout"

    def position_of_index(self, index: int) -> int:
        """Position of the last line whose index is ``<= index`` (-1 when none)."""
        from bisect import bisect_right

        return bisect_right(self.indexes, index, self._start) - 1 - self._start

    def count_flag(self, bit: int, start: int = 0) -> int:
        """How many lines from ``start`` on have flag ``bit`` (``STDERR``, ``ERROR``, ``WARNING``)."""
        return bytes(self.flags[self._start + start :]).translate(_BIT_TABLES[bit]).count(1)

    def first_with(self, bit: int) -> int | None:
        """Position of the first line with flag ``bit``, or None."""
        found = bytes(self.flags[self._start :]).translate(_BIT_TABLES[bit]).find(1)
        return None if found < 0 else found

    def tail(self, count: int) -> LineStore:
        """A new store of the newest ``count`` lines (columns sliced, texts shared)."""
        store = LineStore()
        store.extend_from(self, max(0, len(self) - count))
        return store

    @property
    def first_index(self) -> int:
        """``InstallLine.index`` of the oldest line held (0 when empty)."""
        return self.indexes[self._start] if len(self) else 0

    def __repr__(self) -> str:
        return f"LineStore({len(self)} lines, maxlen={self.maxlen})"
