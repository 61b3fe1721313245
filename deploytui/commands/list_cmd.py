"""``deploytui list``: deployments newest first, as a table fitted to the terminal, or as JSON.

The table shows a status glyph (coloured on a terminal only), the full deployment id (never cut:
scripts pick it out of the output), project, status, phase, relative start time and duration
("running 12s" while a deploy runs). When the terminal is narrow, the project and phase columns
shrink first, then the least useful columns are dropped. ``--json`` prints the server's answer,
``{"deployments": [...], "total": N}``, untouched but for the characters that could control a
terminal, escaped as ``\\uXXXX`` (:func:`~deploytui.client.safe_text.json_dumps`). No deployments: a note on stderr, exit 0.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from dataclasses import dataclass
from typing import IO, Any

from deploytui.client.ansi import strip_controls
from deploytui.client.api import OperationsClient
from deploytui.client.safe_text import json_dumps
from deploytui.client.humanize import duration, now_ms, relative_time, status_glyph
from deploytui.commands.common import EXIT_OK, CommandError, run_client_command, use_color
from deploytui.protocol.deployment import Status

__all__ = ["run", "render_table", "Column"]

# tone of a status glyph -> SGR colour
_SGR = {"success": "32", "error": "31", "warning": "33", "muted": "2", "accent": "36"}


@dataclass(frozen=True, slots=True)
class Column:
    """A table column: header, the cells, whether it may be cut, and its drop priority (higher goes first)."""

    header: str
    cells: list[str]
    shrinkable: bool = False
    drop_priority: int = 0
    min_width: int = 8

    @property
    def width(self) -> int:
        return max([len(self.header), *(len(c) for c in self.cells)])


def _glyph(status: str, unicode_ok: bool, color: bool) -> str:
    glyph, ascii_glyph, tone = status_glyph(status)
    text = glyph if unicode_ok else ascii_glyph
    return f"\x1b[{_SGR[tone]}m{text}\x1b[0m" if color else text


def _duration(row: dict[str, Any], now: int) -> str:
    started, completed = row.get("started_at"), row.get("completed_at")
    if not isinstance(started, (int, float)):
        return "-"
    if isinstance(completed, (int, float)):
        return duration(completed - started)
    if row.get("status") in ("success", "failed", "rolled_back"):
        return "-"
    return f"running {duration(now - started)}"


def _text(value: Any) -> str:
    """A cell from a server value: no control characters may reach the terminal."""
    return strip_controls(str(value)) if value not in (None, "") else "-"


def _fit(columns: list[Column], width: int) -> list[tuple[Column, int]]:
    """Column widths that fit ``width`` (2 spaces between columns): shrink, then drop columns."""
    kept = list(columns)
    while True:
        widths = [c.width for c in kept]
        overflow = sum(widths) + 2 * (len(kept) - 1) - width
        for i, col in enumerate(kept):
            if overflow <= 0:
                break
            if col.shrinkable and widths[i] > col.min_width:
                cut = min(overflow, widths[i] - col.min_width)
                widths[i] -= cut
                overflow -= cut
        droppable = [c for c in kept if c.drop_priority > 0]
        if overflow <= 0 or not droppable:
            return list(zip(kept, widths))
        kept.remove(max(droppable, key=lambda c: c.drop_priority))


def _cell(text: str, width: int) -> str:
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def render_table(rows: list[dict[str, Any]], *, width: int, color: bool, unicode_ok: bool, now: int | None = None) -> list[str]:
    """The table's lines (header first) for ``rows``, at most ``width`` columns wide where possible."""
    now = now_ms() if now is None else now
    statuses = [_text(r.get("status")) for r in rows]
    columns = [
        Column("", [" " for _ in rows], min_width=1),
        Column("ID", [_text(r.get("deployment_id")) for r in rows]),
        Column("PROJECT", [_text(r.get("project")) for r in rows], shrinkable=True),
        Column("STATUS", statuses, drop_priority=1),
        Column("PHASE", [_text(r.get("phase")) for r in rows], shrinkable=True, drop_priority=3),
        Column("STARTED", [relative_time(r.get("started_at"), now) for r in rows], drop_priority=2),
        Column("DURATION", [_duration(r, now) for r in rows], drop_priority=0),
    ]
    fitted = _fit(columns, width)
    lines = ["  ".join(_cell(col.header, w).ljust(w) for col, w in fitted).rstrip()]
    for i, status in enumerate(statuses):
        cells = []
        for col, w in fitted:
            if col.header == "":
                cells.append(_glyph(status, unicode_ok, color))  # one column wide whatever its bytes
            else:
                cells.append(_cell(col.cells[i], w).ljust(w))
        lines.append("  ".join(cells).rstrip())
    return lines


def _unicode_ok(stream: IO[str]) -> bool:
    try:
        "✓✗↺○●◇…".encode(stream.encoding or "ascii")
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def check_status(status: str | None) -> None:
    """A ``--status`` the server can hold, else :class:`CommandError` (exit 2) listing the valid ones
    — an unknown one would just list nothing, and look like "no such deploys"."""
    valid = [s.value for s in Status]
    if status is not None and status not in valid:
        raise CommandError(f"unknown status {status!r} for --status; valid statuses: {', '.join(valid)}")


def run(args: argparse.Namespace) -> int:
    """Entry point of ``deploytui list``."""

    async def main(client: OperationsClient) -> int:
        result = await client.list_deployments(project=args.project, status=args.status, limit=args.limit)
        if args.json:
            print(json_dumps(result))
            return EXIT_OK
        rows = (result.get("deployments") or []) if isinstance(result, dict) else []
        if not rows:
            filtered = args.project or args.status
            print("No deployments match these filters." if filtered else "No deployments yet.", file=sys.stderr)
            return EXIT_OK
        out = sys.stdout
        width = shutil.get_terminal_size((100, 24)).columns
        for line in render_table(rows, width=width, color=use_color(out), unicode_ok=_unicode_ok(out)):
            print(line, file=out)
        total = result.get("total")
        if isinstance(total, int) and total > len(rows):
            print(f"showing {len(rows)} of {total}; use --limit to see more", file=sys.stderr)
        return EXIT_OK

    return run_client_command(args, main, prepare=lambda: check_status(args.status))
