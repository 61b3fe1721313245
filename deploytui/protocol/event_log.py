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

    Only ``len(entries)`` and slices of it are used, and only the entries the log keeps are sliced
    out (at most :data:`EVENT_LOG_MAX`): ``entries`` may make them on demand. The marker is
    replaced, never changed in place: a copy of the log may share it.
    """
    head_keep, tail_keep = EVENT_LOG_HEAD_KEEP, EVENT_LOG_TAIL_KEEP
    added = len(entries)
    if len(log) + added <= EVENT_LOG_MAX:
        if added:
            log.extend(entries[0:added])
        return
    marked = len(log) > head_keep and log[head_keep].get("event") == TRUNCATED
    dropped = int(log[head_keep]["data"].get("dropped_events", 0)) if marked else 0
    if marked and added <= tail_keep and len(log) == EVENT_LOG_MAX:
        # The steady state of a long deploy: the oldest tail entries make room.
        del log[head_keep + 1 : head_keep + 1 + added]
        log[head_keep] = _marker(now_ms, dropped + added)
        log.extend(entries[0:added])
        return
    # Every entry so far, the marker left out, is head + older + entries: the log keeps the first
    # head_keep of them, a marker counting the rest it leaves out, and the last tail_keep.
    head = log[:head_keep]
    older = log[head_keep + 1 :] if marked else log[head_keep:]
    total = len(head) + len(older) + added
    into_head = head_keep - len(head)  # > 0 only while the head is still filling
    if into_head > 0:
        head += entries[0:into_head]
    from_entries = min(tail_keep, added - max(into_head, 0))
    tail = older[len(older) - (tail_keep - from_entries):] if from_entries < tail_keep else []
    tail += entries[added - from_entries : added]
    log[:] = [*head, _marker(now_ms, dropped + total - head_keep - tail_keep), *tail]


def _marker(now_ms: int, dropped: int) -> dict[str, Any]:
    return {"t": now_ms, "event": TRUNCATED, "data": {"dropped_events": dropped}}
