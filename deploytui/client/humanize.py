"""Human formats shared by the dashboard and the headless commands: sizes, durations, "3m ago".

One module so a deployment reads the same in the list, the detail screen and a CI log.
"""

from __future__ import annotations

import time

from deploytui.protocol.clock import now_ms  # re-exported: the commands' clock
from deploytui.protocol.deployment import Status

__all__ = ["duration", "elapsed", "now_ms", "relative_time", "size", "status_glyph"]

# Statuses of a deployment that is doing work right now.
RUNNING_STATUSES: frozenset[str] = frozenset({
    Status.EXTRACTING, Status.INSTALLING, Status.LOADING, Status.REPLICATING, Status.RESTARTING,
    Status.STAGING, Status.ACTIVATING, Status.REVERTING,
})
# status -> (glyph, ASCII glyph, tone); a tone is one of success, error, warning, muted, accent.
_STATUS_GLYPHS: dict[str, tuple[str, str, str]] = {
    Status.PENDING: ("○", "o", "muted"),
    Status.STAGED: ("◆", "=", "accent"),
    Status.SUCCESS: ("✓", "+", "success"),
    Status.FAILED: ("✗", "x", "error"),
    Status.ROLLED_BACK: ("↺", "<", "warning"),
}
_RUNNING_GLYPH = ("●", "*", "accent")
_UNKNOWN_GLYPH = ("?", "?", "muted")


def size(n: int | None) -> str:
    """``532 B``, ``14.0 KiB``, ``1.2 MiB``, ``3.4 GiB``; ``-`` when unknown."""
    if not isinstance(n, int):
        return "-"
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            break
    return f"{value:.1f} {unit}"


def duration(ms: int | float | None) -> str:
    """``850ms``, ``4.2s``, ``3m07s``, ``1h02m``, ``2d03h``: precise when short, coarse when long;
    empty when unknown."""
    if not isinstance(ms, (int, float)) or ms < 0:
        return ""
    if ms < 1000:
        return f"{int(ms)}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


def elapsed(start_ms: int | float | None, end_ms: int | float | None, now: int | float) -> str:
    """How long a deployment took, or has been running (``end_ms`` None: measured to ``now``, ms);
    ``-`` when it has no start."""
    if not isinstance(start_ms, (int, float)):
        return "-"
    end = end_ms if isinstance(end_ms, (int, float)) else now
    return duration(max(0, end - start_ms))


def relative_time(epoch_ms: int | float | None, now: int | float | None = None) -> str:
    """``just now``, ``45s ago``, ``3m ago``, ``2h ago``, ``3d ago``; a date beyond 30 days; ``-``
    when unknown. A time in the future (clock skew between hosts) reads ``just now``."""
    if not isinstance(epoch_ms, (int, float)):
        return "-"
    now = now_ms() if now is None else now
    seconds = (now - epoch_ms) / 1000
    if seconds < 5:
        return "just now"
    if seconds < 60:
        return f"{int(seconds)}s ago"
    if seconds < 3600:
        return f"{int(seconds // 60)}m ago"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h ago"
    if seconds < 30 * 86400:
        return f"{int(seconds // 86400)}d ago"
    return time.strftime("%Y-%m-%d", time.localtime(epoch_ms / 1000))


def status_glyph(status: str | None) -> tuple[str, str, str]:
    """``(glyph, ASCII glyph, tone)`` for a deployment status, the same in the dashboard and in
    ``deploytui list``. An unknown status gets ``?`` so a newer server's status still shows."""
    if status in RUNNING_STATUSES:
        return ("●", "*", "warning") if status == Status.REVERTING else _RUNNING_GLYPH
    return _STATUS_GLYPHS.get(status or "", _UNKNOWN_GLYPH)
