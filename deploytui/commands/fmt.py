"""Small human formats for headless output: byte counts, durations, "3m ago"."""

from __future__ import annotations

import time

__all__ = ["human_bytes", "human_duration", "relative_time", "now_ms"]


def now_ms() -> int:
    """The current time in epoch milliseconds, as rows store it."""
    return int(time.time() * 1000)


def human_bytes(n: int) -> str:
    """``532 B``, ``14.0 KiB``, ``1.2 MiB``, ``3.4 GiB``."""
    if n < 1024:
        return f"{n} B"
    value = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        value /= 1024
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}"
    raise AssertionError("unreachable")


def human_duration(seconds: float) -> str:
    """``0.4s``, ``4.2s``, ``59s``, ``3m 12s``, ``1h 02m``: precise when short, coarse when long."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f}s"
    if seconds < 60:
        return f"{int(seconds)}s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {minutes:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def relative_time(epoch_ms: int | None, now: int | None = None) -> str:
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
