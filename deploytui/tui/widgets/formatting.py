"""Pure formatting helpers shared by the dashboard's widgets: times, durations, sizes, safe text.

Everything a server sends is shown literally: :func:`safe` strips control characters (so an OSC
title or a ``ESC[2J`` never reaches the terminal) and returns a ``rich.text.Text`` built without
markup parsing (so ``[bold red]x[/]`` stays those characters).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text

from deploytui.client import humanize
from deploytui.client.safe_text import has_unsafe
from deploytui.protocol.deployment import Status, is_underway
from deploytui.tui.widgets.status_glyphs import status_text

if TYPE_CHECKING:
    from collections.abc import Mapping

    from rich.style import Style


def clean(value: Any, default: str = "") -> str:
    """A server value as one line of plain text with no control characters."""
    if value is None:
        return default
    text = value if isinstance(value, str) else str(value)
    if not has_unsafe(text):
        return text
    # Only text with a control character in it needs the ANSI parser: its import (~3 ms: regexes,
    # dataclasses) stays off the list's way to its first frame.
    from deploytui.client.ansi import strip_controls

    return strip_controls(text)


def safe(value: Any, style: str | Style = "", default: str = "") -> Text:
    """A server value as a literal Text (no markup, no control characters)."""
    return Text(clean(value, default), style=style, no_wrap=True, overflow="ellipsis")


def shown_status(status: str | None, phase: str | None) -> str:
    """The status to draw: a Harper row reads ``pending`` all through prepare (contract §3.2), so a
    pending row whose phase has begun is drawn as installing — the work, not the word."""
    return Status.INSTALLING if status == Status.PENDING and is_underway(status, phase) else (status or "")


def status_badge(
    status: str | None, variables: Mapping[str, str] | None = None, phase: str | None = None, *, mono: bool = False
) -> Text:
    """``✓ success`` in the status's theme colour (``mono``: without colour, a failure in reverse
    video); a pending row whose work has begun reads ``running``."""
    if shown_status(status, phase) != (status or ""):
        return status_text(Status.INSTALLING, variables, label="running", mono=mono)
    return status_text(status or "", variables, label=clean(status, "unknown").replace("_", " "), mono=mono)


def short_id(deployment_id: str | None) -> str:
    """The first 8 characters of a deployment id (what people read and type)."""
    return clean(deployment_id)[:8]


def relative_time(t_ms: int | float | None, now_s: float) -> str:
    """``12s ago``, ``5m ago`` … (:func:`deploytui.client.humanize.relative_time`); ``now_s`` in seconds."""
    return humanize.relative_time(t_ms, now_s * 1000)


def duration(start_ms: int | float | None, end_ms: int | float | None, now_s: float) -> str:
    """How long it took, measured to now while it runs; ``now_s`` in seconds."""
    return humanize.elapsed(start_ms, end_ms, now_s * 1000)


size = humanize.size


def clock(t_ms: int | float | None, *, with_date: bool = False) -> str:
    """Local wall-clock time of an epoch-ms instant."""
    if not isinstance(t_ms, (int, float)):
        return "-"
    moment = datetime.fromtimestamp(t_ms / 1000)
    return moment.strftime("%Y-%m-%d %H:%M:%S" if with_date else "%H:%M:%S.%f")[: 19 if with_date else 12]


def compact_json(data: Any, limit: int = 400) -> str:
    """Event data as one line of JSON, control characters stripped, cut at ``limit`` characters."""
    try:
        text = json.dumps(data, separators=(",", ":"), ensure_ascii=False, default=str)
    except (TypeError, ValueError):
        text = repr(data)
    text = clean(text)
    return text if len(text) <= limit else text[: limit - 1] + "…"
