"""Harper's bounded event_log: appending a batch at once gives the log of appending one by one."""

from __future__ import annotations

import copy
import random

from deploytui.protocol.event_log import (
    EVENT_LOG_HEAD_KEEP,
    EVENT_LOG_MAX,
    EVENT_LOG_TAIL_KEEP,
    TRUNCATED,
    append_bounded,
    extend_bounded,
)


def append_reference(log: list[dict], entry: dict, now_ms: int) -> None:
    """The rule spelled out one entry at a time: head, one marker counting what was left out, tail."""
    log.append(entry)
    if len(log) <= EVENT_LOG_MAX:
        return
    dropped = 0
    if log[EVENT_LOG_HEAD_KEEP]["event"] == TRUNCATED:
        dropped = log.pop(EVENT_LOG_HEAD_KEEP)["data"]["dropped_events"]
    excess = len(log) - EVENT_LOG_HEAD_KEEP - EVENT_LOG_TAIL_KEEP
    del log[EVENT_LOG_HEAD_KEEP:EVENT_LOG_HEAD_KEEP + excess]
    log.insert(EVENT_LOG_HEAD_KEEP, {"t": now_ms, "event": TRUNCATED, "data": {"dropped_events": dropped + excess}})


def test_a_batch_gives_the_log_of_one_append_each() -> None:
    rng = random.Random(11)
    sizes = [0, 1, 2, 5, 50, EVENT_LOG_TAIL_KEEP - 1, EVENT_LOG_TAIL_KEEP, EVENT_LOG_TAIL_KEEP + 1,
             EVENT_LOG_MAX - 1, EVENT_LOG_MAX, EVENT_LOG_MAX + 1, 1000]
    for _ in range(500):
        batched: list[dict] = []
        one_by_one: list[dict] = []
        n = 0
        for now in range(rng.randint(1, 10)):
            batch = [{"t": now, "event": "install", "data": {"i": n + i}} for i in range(rng.choice(sizes))]
            n += len(batch)
            for entry in batch:
                append_reference(one_by_one, entry, now)
            extend_bounded(batched, batch, now)
            assert batched == one_by_one
        assert len(batched) == min(n, EVENT_LOG_MAX)


def test_the_marker_is_replaced_not_changed_in_place() -> None:
    log: list[dict] = []
    for i in range(EVENT_LOG_MAX + 5):
        append_bounded(log, {"t": i, "event": "install", "data": {"i": i}}, i)
    copied = list(log)
    before = copy.deepcopy(copied)
    extend_bounded(log, [{"t": 999, "event": "install", "data": {"i": -1}}], 999)
    assert copied == before  # a copy taken earlier keeps its marker as it was
    assert log[EVENT_LOG_HEAD_KEEP] == {"t": 999, "event": TRUNCATED, "data": {"dropped_events": 7}}


class CountingEntries:
    """Entries made on demand, counting how many were made."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.made = 0

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index: slice) -> list[dict]:
        entries = [{"t": 1, "event": "install", "data": {"i": i}} for i in range(self.n)[index]]
        self.made += len(entries)
        return entries


def test_only_the_entries_the_log_keeps_are_made() -> None:
    log: list[dict] = [{"t": 0, "event": "phase", "data": {}}]
    burst = CountingEntries(1_000_000)
    extend_bounded(log, burst, 1)
    assert burst.made == EVENT_LOG_MAX - 2  # the rest of the head, and the tail
    assert log[-1]["data"] == {"i": 999_999} and log[1]["data"] == {"i": 0}
    assert log[EVENT_LOG_HEAD_KEEP]["data"] == {"dropped_events": 1_000_001 - EVENT_LOG_HEAD_KEEP - EVENT_LOG_TAIL_KEEP}
