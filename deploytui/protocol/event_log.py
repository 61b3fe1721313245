"""Harper's bounded ``event_log``: a deployment's events, head and tail kept (contract §5).

At most :data:`EVENT_LOG_MAX` entries: the first :data:`EVENT_LOG_HEAD_KEEP`, one ``truncated``
marker, and the newest entries. Unlike Harper, whose marker always reads ``dropped_events: 2`` once
the log is full, our marker's count is cumulative: it says how many events the log has left out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

EVENT_LOG_MAX = 200
EVENT_LOG_HEAD_KEEP = 20
EVENT_LOG_TAIL_KEEP = EVENT_LOG_MAX - EVENT_LOG_HEAD_KEEP - 1  # 179
TRUNCATED = "truncated"


def append_bounded(log: list[dict[str, Any]], entry: dict[str, Any], now_ms: int) -> None:
    """Append ``entry`` to ``log`` in place, keeping Harper's head + marker + tail shape.

    The marker sits at index :data:`EVENT_LOG_HEAD_KEEP`; its ``t`` is the truncation time, as in
    Harper, so ``t`` is not monotonic at that position.
    """
    extend_bounded(log, (entry,), now_ms)


def extend_bounded(log: list[dict[str, Any]], entries: Sequence[dict[str, Any]], now_ms: int) -> None:
    """Append ``entries`` to ``log`` in place: the same log as appending them one by one with
    :func:`append_bounded` at ``now_ms``, in a few list operations whatever their number.

    The marker is replaced, never changed in place: a copy of the log may share it.
    """
    marker_index = EVENT_LOG_HEAD_KEEP
    added = len(entries)
    if not added:
        return
    if len(log) == EVENT_LOG_MAX and added <= EVENT_LOG_TAIL_KEEP and log[marker_index].get("event") == TRUNCATED:
        # The steady state of a long deploy: the oldest tail entries make room.
        dropped = int(log[marker_index]["data"].get("dropped_events", 0)) + added
        del log[marker_index + 1 : marker_index + 1 + added]
        log[marker_index] = {"t": now_ms, "event": TRUNCATED, "data": {"dropped_events": dropped}}
        log.extend(entries)
        return
    log.extend(entries)
    if len(log) <= EVENT_LOG_MAX:
        return
    dropped_before = 0
    if log[marker_index].get("event") == TRUNCATED:
        dropped_before = int(log[marker_index]["data"].get("dropped_events", 0))
        del log[marker_index]
    excess = len(log) - EVENT_LOG_HEAD_KEEP - EVENT_LOG_TAIL_KEEP
    del log[marker_index : marker_index + excess]
    marker = {"t": now_ms, "event": TRUNCATED, "data": {"dropped_events": dropped_before + excess}}
    log.insert(marker_index, marker)
