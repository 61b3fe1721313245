"""The tail of an install's output that a failed deploy's body carries (contract §2.1.5)."""

from __future__ import annotations

from collections import deque
from typing import Any

# Harper keeps the last 200 lines / 16 KiB of install output for the failure body.
INSTALL_OUTPUT_LINES = 200
INSTALL_OUTPUT_BYTES = 16 * 1024


class InstallOutput:
    """The last :data:`INSTALL_OUTPUT_LINES` lines / :data:`INSTALL_OUTPUT_BYTES` of install output."""

    def __init__(self, max_lines: int = INSTALL_OUTPUT_LINES, max_bytes: int = INSTALL_OUTPUT_BYTES) -> None:
        self._lines: deque[dict[str, str]] = deque()
        self._bytes = 0
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self.dropped = 0

    def add(self, manager: str, stream: str, line: str) -> None:
        size = len(line.encode("utf-8", "replace"))
        if size > self._max_bytes:  # one huge line keeps its tail, as a ring buffer would
            line = line[-self._max_bytes:]
            size = len(line.encode("utf-8", "replace"))
        self._lines.append({"manager": manager, "stream": stream, "line": line})
        self._bytes += size
        while len(self._lines) > self._max_lines or self._bytes > self._max_bytes:
            old = self._lines.popleft()
            self._bytes -= len(old["line"].encode("utf-8", "replace"))
            self.dropped += 1

    def add_lines(self, manager: str, stream: str, lines: list[str]) -> None:
        """The same as :meth:`add` for each line; the lines no later line leaves room for are only
        counted."""
        skip = max(0, len(lines) - self._max_lines)
        self.dropped += skip
        for line in lines[skip:]:
            self.add(manager, stream, line)

    def as_dict(self) -> dict[str, Any]:
        return {"lines": list(self._lines), "truncated": self.dropped > 0, "dropped_lines": self.dropped}
