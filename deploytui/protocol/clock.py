"""The one clock both sides stamp with: wall-clock time in epoch milliseconds.

Harper's events carry ``t`` and its rows ``created_at``/``completed_at`` in epoch ms; the server
writes them and the client compares against them, so both read the time the same way.
"""

from __future__ import annotations

import time

__all__ = ["now_ms"]


def now_ms() -> int:
    """Wall-clock time in epoch milliseconds, Harper's ``t``."""
    return time.time_ns() // 1_000_000
