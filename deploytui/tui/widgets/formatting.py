"""Pure formatting helpers shared by the dashboard's widgets: times, durations, sizes, safe text.

Everything a server sends is shown literally: :func:`safe` strips control characters (so an OSC
title or a ``ESC[2J`` never reaches the terminal) and returns a ``rich.text.Text`` built without
markup parsing (so ``[bold red]x[/]`` stays those characters).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from collections.abc import Mapping

from rich.text import Text

from deploytui.client.ansi import strip_controls
from deploytui.tui.widgets.status_glyphs import glyph_for

# Colours of each status family, as theme variables resolved by Rich styles.
STATUS_STYLE = {
    "success": "bold green",
    "failed": "bold red",
    "rolled_back": "bold magenta",
    "pending": "yellow",
}
RUNNING_STYLE = "bold yellow"


def clean(value: Any, default: str = "") -> str:
    """A server value as one line of plain text with no control characters."""
    if value is None:
        return default
    return strip_controls(value if isinstance(value, str) else str(value))


def safe(value: Any, style: str = "", default: str = "") -> Text:
    """A server value as a literal Text (no markup, no control characters)."""
    return Text(clean(value, default), style=style, no_wrap=True, overflow="ellipsis")


def status_style(status: str | None) -> str:
    """The Rich style of a status: green success, red failure, yellow while running."""
    return STATUS_STYLE.get(status or "", RUNNING_STYLE)


def resolve_colour(colour: str, variables: Mapping[str, str] | None) -> str:
    """A ``$name`` theme colour as a Rich colour (via the app's theme variables); others unchanged."""
    if not colour.startswith("$"):
        return colour
    name = colour[1:].split()[0]
    if variables and name in variables:
        return variables[name]
    return {"success": "green", "error": "red", "warning": "yellow", "accent": "cyan"}.get(name, "default")


def status_glyph(status: str | None, variables: Mapping[str, str] | None = None) -> Text:
    """The status glyph in its colour (``glyph_for`` of the status glyph module)."""
    glyph, colour = glyph_for(status or "")
    return Text(glyph, style=f"bold {resolve_colour(colour, variables)}")


def status_badge(status: str | None, variables: Mapping[str, str] | None = None) -> Text:
    """``✓ success`` in the status colour."""
    glyph, colour = glyph_for(status or "")
    style = f"bold {resolve_colour(colour, variables)}"
    return Text(f"{glyph} {clean(status, 'unknown').replace('_', ' ')}", style=style)


def short_id(deployment_id: str | None) -> str:
    """The first 8 characters of a deployment id (what people read and type)."""
    return clean(deployment_id)[:8]


def relative_time(t_ms: int | float | None, now_s: float) -> str:
    """``12s ago``, ``5m ago``, ``3h ago``, ``2d ago``; ``-`` when unknown."""
    if not isinstance(t_ms, (int, float)):
        return "-"
    delta = now_s - t_ms / 1000
    if delta < 0:
        delta = 0
    if delta < 60:
        return f"{int(delta)}s ago"
    if delta < 3600:
        return f"{int(delta // 60)}m ago"
    if delta < 86400:
        return f"{int(delta // 3600)}h ago"
    return f"{int(delta // 86400)}d ago"


def duration(start_ms: int | float | None, end_ms: int | float | None, now_s: float) -> str:
    """``850ms``, ``4.2s``, ``3m07s``, ``1h02m``; measured to now while the deploy runs."""
    if not isinstance(start_ms, (int, float)):
        return "-"
    end = end_ms if isinstance(end_ms, (int, float)) else now_s * 1000
    ms = max(0, int(end - start_ms))
    if ms < 1000:
        return f"{ms}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, sec = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m"


def size(n: int | None) -> str:
    """``512 B``, ``4.0 KiB``, ``1.2 MiB``; ``-`` when unknown."""
    if not isinstance(n, int):
        return "-"
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{int(value)} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{n} B"


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
