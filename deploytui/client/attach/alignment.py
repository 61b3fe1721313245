"""Exactly-once stitching without event ids: aligning a Harper replay with what was delivered.

Pure: no I/O. :mod:`.attachment` feeds every event of a connection that carries no
``id:`` (Harper, or our server's ``--wire harper``) through a :class:`ReplayAligner`, which says
which events are new. The final row's ``event_log`` is compared with the delivered history by
:func:`missing_from_log` to backfill what a stream missed (contract §6.2).

The model
---------
A deployment's history is a sequence ``E[0], E[1], …`` of ``(event, data)`` pairs. We have
delivered a prefix of it, ``D = E[0..n)`` (kept by :class:`DeliveredLog`: its first 20 entries
and the last :data:`WINDOW`, plus the count ``n``). Every Harper reconnect sends the row's bounded
``event_log`` and then live events, so the new connection's stream is one of:

* untruncated: ``E[0..m)`` then ``E[m..]`` live — one contiguous run from position 0;
* truncated: ``E[0..20)``, a ``truncated`` marker, ``E[s..s+179)`` (``s = m - 179``), then live.

``m``, where the row's log ends, is usually at or past ``n``, but not always: a row is persisted
behind what was streamed (Harper coalesces its writes; so does our server), so a reconnect in a
burst replays a tail that ends well before ``n``, and then live events from ``m`` (our server) or
from wherever the stream happened to subscribe (Harper, contract §6.2).

Our own server in ``--wire harper`` replays its full events table, which is the first shape.

The algorithm
-------------
1. **Positions first.** Events are numbered by stream position from 0. While ``pos < n`` the event
   must equal ``D[pos]`` and is skipped; from ``pos >= n`` on everything is new and delivered.
   Identical lines are no problem here: a repeated line is skipped or delivered by its *position*,
   never by its content (the comparison with ``D[pos]`` only checks that we are still in step).
2. **The marker** at stream position 20 is a known discontinuity: the tail starts at an unknown
   history position ``s``.

   * When the marker's count is cumulative (our server: ``dropped_events = s - 20``) and so is
     *trusted*, ``s`` is exact: continue positionally from ``pos = s``. If ``s > n`` the events
     ``E[n..s)`` are not in this replay: a :class:`Gap` asks the caller to fetch them (our server's
     ``get_deployment_events``), or to report them as missing.
   * Harper's count is useless (it always reads 2), so ``s`` is found by content: buffer the tail
     and find the **longest overlap** ``o`` such that the tail's first ``o`` events equal the last
     ``o`` delivered ones (``o <= 179`` and ``o <= n - 20``); then ``s = n - o`` and step 1 goes on.
     When none is found the tail may be older than what was delivered (a lagging row): it is
     looked for in the whole kept window, ``179 < o``, the nearest match to ``n`` first; then step 1
     goes on from ``s + 179`` and re-aligns (step 3) if the live events that follow do not continue
     there. A tail that repeats delivered events and then goes on differently (a crashed server
     lost events it had streamed, and its recovery ended the history otherwise) is in step up to
     where it diverges, and re-aligns there (step 3). Only when none of these matches is the tail
     new (``o = 0``). Candidates are filtered as tail events arrive. A match counts only when it
     includes an event seen once in the kept history (else it is a guess, marked as such); the
     decision is taken as soon as the preferred candidate is so shown, at the latest at the tail's
     end, so at most 179 events wait.
3. **Losing step.** If an event at ``pos < n`` differs from ``D[pos]`` (a Harper ``event_log``
   lagging behind what it streamed, or a read-before-subscribe hole), the same longest-overlap
   search runs against the delivered events from ``pos`` on (within the kept window), starting
   with that event. A stream that continues nowhere in them (it jumped past what was delivered,
   or the seam is a guess) gets a ``truncated`` marker of its own, without a count.
4. **After the end**, :func:`missing_from_log` diffs the final ``event_log`` (head and tail apart)
   against the delivered head and tail window with :class:`difflib.SequenceMatcher` (no
   auto-junk, so repeated lines count; the tail is matched from the end backwards, since both end
   at the last persisted event). What the log has and we lack is backfilled.

Limits
------
* Content alignment (Harper's marker, step 2; and step 3) cannot tell identical events apart. With a
  run of identical lines straddling the reconnect, the longest overlap assumes as many of them were
  already delivered as possible: never a duplicate, but lines of such a run may be dropped. At a
  marker, its ``truncated`` event is therefore delivered, to say that events may be missing where
  the log was cut, when no overlap was found *or* when a shorter one was as consistent (the seam
  is a run of identical events, so the choice was a guess). Our server avoids both with its
  cumulative count and ``get_deployment_events``.
* A tail older than the kept :data:`WINDOW` cannot be recognised: it is taken as new (a row
  persisted more than ~4,000 events behind what its stream had sent).
* Events evicted from a truncated ``event_log`` while we were disconnected cannot be recovered
  from Harper at all (only our server keeps them); they are reported by the marker.
* Backfilled events are delivered at the end, not in their original place; the caller sees them
  marked ``backfilled=True``.
"""

from __future__ import annotations

import json
from bisect import bisect_left
from collections import Counter, deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from difflib import SequenceMatcher
from typing import Any

from deploytui.protocol.event_log import EVENT_LOG_HEAD_KEEP, EVENT_LOG_TAIL_KEEP
from deploytui.protocol.events import Event, TruncatedEvent, event_name, parse_event

__all__ = [
    "WINDOW",
    "Deliver",
    "DeliveredLog",
    "EventKey",
    "Gap",
    "ReplayAligner",
    "event_key",
    "history_count",
    "log_events",
    "missing_from_log",
    "with_logged_time",
]

# How many of the latest delivered events are kept for alignment: how far behind what was
# delivered a replay's tail can start and still be recognised (a row persisted behind its stream).
WINDOW = 4096

EventKey = tuple[str, str]
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=repr).encode


def event_key(event: Event) -> EventKey:
    """What identifies an event on the wire: its name and its payload (without our ``t``)."""
    raw = event.raw
    return event_name(event), raw if isinstance(raw, str) else _encode(raw)


class DeliveredLog:
    """The history delivered so far, by position: its count, first 20 and last :data:`WINDOW`.

    A ``None`` entry is a placeholder for an event known to exist but never seen (a gap that could
    not be filled); it matches nothing.
    """

    def __init__(self, head_keep: int = EVENT_LOG_HEAD_KEEP, window: int = WINDOW) -> None:
        self.count = 0
        self._head_keep = head_keep
        self._head: list[Event | None] = []
        self._tail: deque[Event | None] = deque(maxlen=window)

    def append(self, event: Event | None) -> None:
        """Record the event at position :attr:`count`."""
        if len(self._head) < self._head_keep:
            self._head.append(event)
        self._tail.append(event)
        self.count += 1

    def extend(self, events: Iterable[Event | None]) -> None:
        for event in events:
            self.append(event)

    def kept(self, index: int) -> bool:
        """True when position ``index`` is still held (so it can be compared)."""
        return 0 <= index < len(self._head) or self.count - len(self._tail) <= index < self.count

    def get(self, index: int) -> Event | None:
        """The event at a kept position (``None`` for a placeholder). IndexError if not kept."""
        if 0 <= index < len(self._head):
            return self._head[index]
        offset = index - (self.count - len(self._tail))
        if 0 <= offset < len(self._tail) and index < self.count:
            return self._tail[offset]
        raise IndexError(index)

    def key(self, index: int) -> EventKey | None:
        """The key at a kept position; ``None`` for a placeholder."""
        event = self.get(index)
        return None if event is None else event_key(event)

    def keys(self, start: int, stop: int) -> list[EventKey | None]:
        """Keys of the kept positions in ``[start, stop)``."""
        return [self.key(i) for i in range(start, stop) if self.kept(i)]

    def kept_positions(self) -> list[int]:
        """Every kept position, in order (the head, then the window; each position once)."""
        window_start = max(len(self._head), self.count - len(self._tail))
        return [*range(len(self._head)), *range(window_start, self.count)]


@dataclass(frozen=True, slots=True)
class Deliver:
    """Deliver this event: it is new (its position is the log's current count)."""

    event: Event


@dataclass(frozen=True, slots=True)
class Gap:
    """History positions ``[start, stop)`` are not in this replay (evicted from the bounded log).

    The caller fills them (appending ``stop - start`` entries to the log, events or placeholders)
    before handling the next decision. ``marker`` is the replay's ``truncated`` event.
    """

    start: int
    stop: int
    marker: TruncatedEvent


Decision = Deliver | Gap


class _Overlap:
    """Longest-overlap search: which prefix of the incoming events repeats the delivered suffix.

    Candidate overlaps ``o`` (``lo <= o <= hi``) survive while the incoming events seen so far
    match ``D[n - o ..]``. Decided once the longest survivor is fully checked.

    With a replay's tail (``tail``, the number of incoming events compared at most), a candidate
    that stops matching after two or more events is kept aside as *diverged*: the tail repeated
    delivered events and then went on differently (a server that crashed lost events it had
    streamed, and recovery ended its history otherwise). The stream is then in step up to the
    divergence, and the caller re-aligns from there.
    """

    def __init__(self, log: DeliveredLog, hi: int, *, tail: int | None = None) -> None:
        self.n = log.count
        hi = max(0, min(hi, self.n))
        # Only overlaps whose delivered side is still kept can be checked.
        while hi > 0 and not log.kept(self.n - hi):
            hi -= 1
        self._log = log
        # In order of preference. Without a tail: the longest first. A replay's tail of ``tail``
        # events (the incoming events compared, at most) usually reaches what was delivered, so
        # those overlaps come first, the longest first; then a tail that ends before it (a row
        # persisted behind what was streamed), the nearest first; then none.
        reaching = min(hi, tail) if tail is not None else hi
        self.candidates = [*range(reaching, 0, -1), *range(reaching + 1, hi + 1), 0]
        self.diverged: dict[int, int] = {}  # overlap -> how many incoming events matched before it stopped
        self._limit = tail
        self._unique: list[int] | None = None  # kept positions whose key occurs once among them
        self._keys: dict[int, EventKey | None] = {}  # delivered keys by position, each computed once
        self.buffer: list[Event] = []

    def _key(self, index: int) -> EventKey | None:
        """The delivered key at a kept position; with thousands of candidates (a window of one
        identical line) each position is asked for once per candidate."""
        keys = self._keys
        if index not in keys:
            keys[index] = self._log.key(index)
        return keys[index]

    def feed(self, event: Event) -> int | None:
        """Add the next incoming event; return the overlap once decided."""
        j = len(self.buffer)
        self.buffer.append(event)
        key = event_key(event)
        survivors = []
        delivered_key, n = self._key, self.n
        for o in self.candidates:
            if o <= j or delivered_key(n - o + j) == key:
                survivors.append(o)
            elif self._limit is not None and j >= 2:
                self.diverged[o] = j
        self.candidates = survivors
        return self.decided()

    def decided(self) -> int | None:
        """The overlap, once it can no longer change: the most preferred consistent one when it is
        fully checked (and, against a replay's tail, shown by a distinctive event), or the best
        guess at the tail's end."""
        best = self.candidates[0]  # 0, always consistent, is never filtered out
        checked = len(self.buffer)
        if self._limit is None:
            return best if best <= checked else None
        if checked >= self._limit or best == 0:
            return self.best_guess()
        return best if best <= checked and self._distinctive(best) else None

    def _matched(self, overlap: int) -> int:
        """How many incoming events matched delivered ones under ``overlap``."""
        return self.diverged.get(overlap, min(overlap, len(self.buffer)))

    def _distinctive(self, overlap: int) -> bool:
        """True when the events ``overlap`` says were repeated include one whose key occurs once in
        what is kept of the delivered history (a line not seen repeated cannot be a chance match)."""
        if self._unique is None:
            positions = self._log.kept_positions()
            counts = Counter(key for i in positions if (key := self._key(i)) is not None)
            self._unique = [i for i in positions if (key := self._key(i)) is not None and counts[key] == 1]
        start = self.n - overlap
        first = bisect_left(self._unique, start)
        return first < len(self._unique) and self._unique[first] < start + self._matched(overlap)

    def ambiguous(self, overlap: int) -> bool:
        """True when the choice of ``overlap`` is a guess, so events may be missing at the seam:
        no distinctive event shows it. Another overlap as consistent (a run of identical events
        at the seam) or none at all (the incoming events may be new ones that repeat the delivered
        suffix) can then not be ruled out."""
        return overlap > 0 and not self._distinctive(overlap)

    def best_guess(self) -> int:
        """At the tail's end (or a terminal event): the most preferred consistent overlap shown by
        a distinctive event; else the diverged one that matched longest, if distinctive; else the
        most preferred consistent one."""
        shown = next((o for o in self.candidates if o and self._distinctive(o)), None)
        if shown is not None:
            return shown
        diverged = [o for o in self.diverged if self._distinctive(o)]
        if diverged:
            return max(diverged, key=lambda o: (self.diverged[o], -o))
        return self.candidates[0]


class ReplayAligner:
    """Decides, event by event, what of one id-less connection is new (see the module docstring).

    Create one per connection with the shared :class:`DeliveredLog`; :meth:`feed` every event
    except ``done``; apply the returned decisions in order (append delivered events to the log).
    ``pos`` is the history position of the next incoming event.
    """

    def __init__(self, log: DeliveredLog, *, trust_marker_count: bool,
                 head_keep: int = EVENT_LOG_HEAD_KEEP, tail_keep: int = EVENT_LOG_TAIL_KEEP) -> None:
        self.log = log
        self.trust_marker_count = trust_marker_count
        self.head_keep = head_keep
        self.tail_keep = tail_keep
        self.pos = 0
        self.received = 0  # events fed on this connection
        self.skipped = 0  # events recognised as already delivered
        self._overlap: _Overlap | None = None
        self._marker: TruncatedEvent | None = None  # an untrusted marker awaiting its tail's overlap

    def feed(self, event: Event) -> list[Decision]:
        """The decisions for the next incoming event (possibly several, once a buffer resolves)."""
        index = self.received
        self.received += 1
        if self._overlap is not None:
            overlap = self._overlap.feed(event)
            return [] if overlap is None else self._resolve(overlap)
        if isinstance(event, TruncatedEvent) and index == self.head_keep and self.pos == self.head_keep:
            return self._on_marker(event)
        return self._positional(event)

    def flush(self) -> list[Decision]:
        """At a terminal event: settle a pending alignment with what was seen."""
        if self._overlap is None:
            return []
        return self._resolve(self._overlap.best_guess())

    def _positional(self, event: Event) -> list[Decision]:
        pos = self.pos
        if pos >= self.log.count:
            self.pos += 1
            return [Deliver(event)]
        if not self.log.kept(pos) or self.log.key(pos) == event_key(event):
            self.pos += 1  # already delivered (unverifiable when no longer kept: trust positions)
            self.skipped += 1
            return []
        # Out of step: find where this event continues the delivered history.
        # It continues at or after ``pos`` (a stream never goes back), so it is looked for in the
        # delivered events from there on, the longest overlap first.
        self._overlap = _Overlap(self.log, self.log.count - pos)
        overlap = self._overlap.feed(event)
        return [] if overlap is None else self._resolve(overlap)

    def _on_marker(self, marker: TruncatedEvent) -> list[Decision]:
        if self.trust_marker_count:
            start = self.head_keep + marker.dropped_events
            if start >= self.log.count - self.tail_keep:  # plausible: the tail reaches what we have
                return self._jump(start, marker)
        self._marker = marker
        self._overlap = _Overlap(self.log, self.log.count - self.head_keep, tail=self.tail_keep)
        decided = self._overlap.decided()
        return [] if decided is None else self._resolve(decided)

    def _jump(self, start: int, marker: TruncatedEvent) -> list[Decision]:
        n = self.log.count
        self.pos = start
        return [Gap(n, start, marker)] if start > n else []

    def _resolve(self, overlap: int) -> list[Decision]:
        assert self._overlap is not None
        buffered, n = self._overlap.buffer, self._overlap.n
        ambiguous = self._overlap.ambiguous(overlap)
        self._overlap = None
        decisions: list[Decision] = []
        if overlap == 0 or ambiguous:  # events may be missing where the stream jumped: say so
            marker = self._marker or TruncatedEvent(dropped_events=0, exact=False, raw={"dropped_events": 0})
            decisions.append(Deliver(marker))
        self._marker = None
        self.pos = n - overlap
        for event in buffered:
            if self._overlap is not None:  # lost step again inside the buffer
                more = self._overlap.feed(event)
                if more is not None:
                    decisions += self._resolve(more)
                continue
            decisions += self._positional(event)
        return decisions


def history_count(event_log: Sequence[dict[str, Any]], *, trust_marker_count: bool) -> int | None:
    """How many events a row's history holds, from its ``event_log``; None when unknowable
    (a truncated Harper log, whose marker count is not cumulative)."""
    head = EVENT_LOG_HEAD_KEEP
    if len(event_log) > head and event_log[head].get("event") == TruncatedEvent.name:
        if not trust_marker_count:
            return None
        dropped = (event_log[head].get("data") or {}).get("dropped_events")
        return len(event_log) - 1 + dropped if isinstance(dropped, int) else None
    return len(event_log)


def log_events(entries: Iterable[dict[str, Any]]) -> list[Event]:
    """A row's ``event_log`` entries as typed events (``t`` kept, never part of an event's key)."""
    return [parse_event(str(e.get("event")), e.get("data"), t=e.get("t") if isinstance(e.get("t"), int) else None,
                        t_source="event_log")
            for e in entries if isinstance(e, dict)]


def with_logged_time(event: Event, replay_log: Sequence[Event], index: int) -> Event:
    """A replayed event without a time takes the time of the row's ``event_log`` entry at its
    position ``index`` on the connection, when that entry is the same event (a Harper replay *is*
    the log read just before connecting; a live event beyond it keeps no time)."""
    if event.t is not None or index >= len(replay_log):
        return event
    logged = replay_log[index]
    if logged.t is None or event_key(logged) != event_key(event):
        return event
    return replace(event, t=logged.t, t_source="event_log")


def _inserted(delivered: list[Any], logged: list[EventKey]) -> list[int]:
    """Indices of ``logged`` entries that ``delivered`` lacks (SequenceMatcher inserts/replaces)."""
    matcher = SequenceMatcher(None, delivered, logged, autojunk=False)
    return [j for tag, _, _, j1, j2 in matcher.get_opcodes() if tag in ("insert", "replace") for j in range(j1, j2)]


def missing_from_log(log: DeliveredLog, event_log: Sequence[dict[str, Any]], *,
                     slack: int = 64) -> list[Event]:
    """Events of a final ``event_log`` that were never delivered, in log order, as typed events.

    Placeholders in the delivered history never match, so a gap the log does cover is backfilled.
    Truncated logs are handled head and tail apart; a delivered position no longer kept is skipped.
    """
    head_keep = EVENT_LOG_HEAD_KEEP
    entries = log_events(event_log)
    truncated = len(entries) > head_keep and isinstance(entries[head_keep], TruncatedEvent)
    head = entries[:head_keep] if truncated else entries
    tail = entries[head_keep + 1:] if truncated else []
    missing: list[Event] = []

    def sentinel_keys(keys: list[EventKey | None]) -> list[Any]:
        return [k if k is not None else ("\0placeholder", str(i)) for i, k in enumerate(keys)]

    head_span = min(log.count, len(head) + (slack if not truncated else 0))
    d_head = sentinel_keys(log.keys(0, head_span))
    missing += [head[j] for j in _inserted(d_head, [event_key(e) for e in head])]
    if tail:
        start = max(head_keep, log.count - len(tail) - slack)
        d_tail = sentinel_keys(log.keys(start, log.count))[::-1]
        tail_keys = [event_key(e) for e in tail][::-1]
        missing += [tail[len(tail) - 1 - j] for j in sorted(_inserted(d_tail, tail_keys), reverse=True)]
    return missing
