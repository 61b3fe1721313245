"""Recording a deployment's events and fanning them out to live subscribers.

One :class:`EventHub` per server. The engine calls ``hub.start_recording(row)`` and then
:meth:`Recorder.emit` for every phase and peer result, :meth:`Recorder.emit_many` for the install
lines of each read of the install's output. ``emit`` is synchronous and cheap: it numbers the
event, updates the in-memory row (phase, status, Harper's bounded ``event_log``) and queues the
event for the store's writer thread, which commits in the background at a slow cadence
(store.COMMIT_INTERVAL; at once for a flush, a finish or a phase change). The row itself is
written at most once per commit (like Harper's coalesced puts).

Subscribers get events from memory, as Harper's do: the events a loop turn emitted become one
:class:`Batch`, published once that turn is over, whose SSE bytes are encoded once and shared by
all watchers. A published seq must never be used again, even after a crash that lost it before it
was committed: while someone watches, the row carries a committed seq reservation
(``_seq_reserved``, taken in blocks of 1,000 growing to :data:`RESERVE_BLOCK`, one commit each),
and no event above the committed seqs or that reservation is published. Every later recording of
the deployment (a restart, crash recovery's ``error``) numbers its events after the reservation, so
a crash shows as a gap in the seqs, never as a re-used seq. Events nobody watches wait in memory
until they are committed (or a watcher comes and a reservation is taken for them). A finished
recording gives back what it did not use (everything it numbered is committed by then).

A subscriber's queue is bounded; one that falls behind, or comes late, catches up from an in-memory
window (every published event not yet committed, plus the newest committed ones while someone
watches) or from the store (committed history), then goes back to live: each event exactly once,
in seq order, and a slow client costs bounded memory.
"""

from __future__ import annotations

import asyncio
import gc
import sys
from collections import deque
from collections.abc import Awaitable, Callable, Hashable, Sequence
from itertools import repeat
from time import time_ns
from typing import Any, TypeVar

from deploytui.protocol.clock import now_ms
from deploytui.protocol.deployment import PHASE_START_STATUS, Status
from deploytui.protocol.event_log import append_bounded, extend_bounded
from deploytui.protocol.events import PHASE, RECORDER_FINISHED

from .store import Store

T = TypeVar("T")

# Internal row key: the seq of the newest event the row's event_log holds. The harper wire replays
# the event_log (as Harper does) and continues live after exactly this seq.
LOG_SEQ = "_log_seq"

# Internal row key: the committed seq reservation. No event above it is published before it is
# committed, and a new recording (or crash recovery) numbers its events after it.
SEQ_RESERVED = "_seq_reserved"
# Seqs reserved per reservation write: as many as the recording numbered so far, at least
# RESERVE_FIRST and at most RESERVE_BLOCK (one commit per block: a handful per install, however
# long), asked for when half the last block is used (publishing never waits in a steady stream).
# A crash leaves at most one block's unused seqs as a gap.
RESERVE_FIRST = 1_000
RESERVE_BLOCK = 10_000

# The interpreter's switch interval while a loop turn emits (the default is 5 ms): see
# EventHub._turn_emits.
EMITTING_SWITCH_INTERVAL = 0.0005

# Returned by Subscription.get() when nothing arrived within the timeout.
TIMEOUT = object()

# Committed events of a watched recording kept in memory for catching up slow watchers: a few MiB.
# Events not yet committed are kept whatever this says.
WINDOW_EVENTS = 10_000


class Batch:
    """Consecutive events of one deployment, as one loop turn published them.

    One Batch object is shared by the hub's window and every subscriber's queue, and its SSE bytes
    are encoded once per wire (:meth:`encoded`), so a watcher costs a reference and a write per
    batch, not a JSON encoding and an SSE frame per event. A published batch holds what emit()
    was given, ``(t, event, data)`` per event, and its first seq; the ``{seq, t, event, data}``
    events are built on first use, so a batch nobody reads costs no dict per event.
    """

    __slots__ = ("first", "last", "_len", "_entries", "_events", "_encoded")

    def __init__(self, events: list[dict]) -> None:
        """``events`` in seq order, not necessarily consecutive (a store page may hold a gap)."""
        self._events: list[dict] | None = events
        self._entries: list[tuple[int, str, dict]] | None = None
        self._len = len(events)
        self.first: int = events[0]["seq"] if events else 0
        self.last: int = events[-1]["seq"] if events else -1
        self._encoded: dict[str, bytes] = {}

    @classmethod
    def of_entries(cls, first: int, entries: list[tuple[int, str, dict]]) -> Batch:
        """The events ``first``, ``first + 1`` ... given as ``(t, event, data)``."""
        batch = cls.__new__(cls)
        batch._events = None
        batch._entries = entries
        batch._len = len(entries)
        batch.first = first
        batch.last = first + len(entries) - 1
        batch._encoded = {}
        return batch

    @property
    def events(self) -> list[dict]:
        events = self._events
        if events is None:
            events = self._events = [{"seq": seq, "t": t, "event": event, "data": data}
                                     for seq, (t, event, data) in enumerate(self._entries, self.first)]
            self._entries = None
        return events

    def __len__(self) -> int:
        return self._len

    def after(self, seq: int | None) -> Batch:
        """The events with a seq above ``seq`` (self when that is all of them)."""
        if seq is None or not self._len or self.first > seq:
            return self
        return Batch([e for e in self.events if e["seq"] > seq])

    def encoded(self, wire: str, encode: Callable[[dict, str], bytes]) -> bytes:
        """The SSE bytes of every event for ``wire``, encoded on first use and then shared."""
        data = self._encoded.get(wire)
        if data is None:
            data = self._encoded[wire] = b"".join([encode(e, wire) for e in self.events])
        return data


class Subscription:
    """Published events of one deployment, in seq order, each exactly once.

    Live batches arrive through a queue holding at most ``limit`` events (references to batches
    shared with every other subscriber). When it would overflow, the queue is dropped and the
    subscription catches up from the hub's in-memory window of recent batches, or from the store
    when it has fallen behind even that, before going on with live ones; seq numbers say what is
    missing and what is a repeat. Iteration ends once the recording has finished and everything
    it recorded has been delivered.
    """

    def __init__(self, hub: EventHub, deployment_id: str, *, limit: int, after_seq: int | None,
                 active: bool) -> None:
        self.deployment_id = deployment_id
        # Highest seq handed out (or the seq to resume after); None until the first live event
        # when the caller asked for live events only.
        self.last_seq: int | None = after_seq
        self.overflows = 0
        self.max_queued = 0
        self.store_reads = 0  # catch-ups the window could not serve
        self._hub = hub
        self._limit = max(1, limit)
        self._queue: deque[Batch] = deque()
        self._queued = 0  # events in _queue
        self._from_store: deque[Batch] = deque()
        self._events: deque[dict] = deque()  # the rest of a batch, for the event-wise get()
        self._catch_up = after_seq is not None  # the window or store holds events owed
        self._ended = not active
        self._closed = False
        self._wakeup = asyncio.Event()
        self._timed_out = False

    # ------------------------------------------------------------ producer side (the hub)

    def _push(self, batch: Batch) -> None:
        if self._closed:
            return
        if self.last_seq is None:
            self.last_seq = batch.first - 1
        if self._queued + len(batch) > self._limit:
            # Too slow (or a batch bigger than the queue): forget the queue; the consumer
            # catches up from the window or the store instead.
            self._queue.clear()
            self._queued = 0
            self._catch_up = True
            self.overflows += 1
        else:
            self._queue.append(batch)
            self._queued += len(batch)
            self.max_queued = max(self.max_queued, self._queued)
        self._wakeup.set()

    def _end(self) -> None:
        self._ended = True
        self._wakeup.set()

    # ------------------------------------------------------------ consumer side

    @property
    def queued(self) -> int:
        """Live events waiting in the queue right now."""
        return self._queued

    def close(self) -> None:
        """Unsubscribe now; idempotent."""
        if not self._closed:
            self._closed = True
            self._queue.clear()
            self._queued = 0
            self._from_store.clear()
            self._events.clear()
            self._hub._unsubscribe(self)

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> dict:
        event = await self.get()
        if event is None:
            raise StopAsyncIteration
        return event

    async def get(self, timeout: float | None = None) -> Any:
        """The next event; None at the end; :data:`TIMEOUT` after ``timeout`` seconds of nothing."""
        if not self._events:
            batch = await self.get_batch(timeout)
            if not isinstance(batch, Batch):
                return batch
            self._events.extend(batch.events)
        return self._events.popleft()

    async def get_batch(self, timeout: float | None = None) -> Any:
        """The next events as a shared :class:`Batch`; None at the end; :data:`TIMEOUT` after
        ``timeout`` seconds of nothing. Not to be mixed with :meth:`get` on one subscription.

        A cancelled caller (e.g. a disconnected SSE client) unsubscribes at once.
        """
        try:
            while True:
                batch = await self._next_ready()
                if batch is not None:
                    self.last_seq = batch.last
                    return batch
                if self._ended or self._closed:
                    return None
                if not await self._wait(timeout):
                    return TIMEOUT
        except asyncio.CancelledError:
            self.close()
            raise

    async def _next_ready(self) -> Batch | None:
        """The next deliverable batch, catching up where the live queue has a hole."""
        while not self._closed:
            if self._from_store:
                batch = self._from_store.popleft().after(self.last_seq)
                if batch.events:
                    return batch
                continue
            if self._catch_up:
                self._catch_up = False  # live batches from now on are queued, not lost
                await self._read_missing()
                continue
            if not self._queue:
                return None
            head = self._queue[0]
            if self.last_seq is not None and head.last <= self.last_seq:
                self._pop()  # already delivered from the window or the store
            elif self.last_seq is None or head.first <= self.last_seq + 1:
                return self._pop().after(self.last_seq)
            elif not await self._read_missing():
                return self._pop()  # a real hole in the store: nothing to recover
        return None

    def _pop(self) -> Batch:
        batch = self._queue.popleft()
        self._queued -= len(batch)
        return batch

    async def _read_missing(self) -> bool:
        """Queue the published events after :attr:`last_seq`: from the hub's window when it reaches
        back that far, else up to ``limit`` committed ones from the store, after which catching up
        goes on from there (more may be committed, the rest is in the window); True when some were
        found (or when it is worth looking again).

        When the store holds nothing after :attr:`last_seq` and the window starts later, the seqs
        between are a real gap (a crash lost them before they were committed): the window's events
        come next.
        """
        after = self.last_seq or 0
        hub = self._hub
        window = hub._window_after(self.deployment_id, after)
        if window is not None:
            self._from_store.extend(window)
            return bool(window)
        # Everything the window let go before this moment is committed, so the read below sees it.
        starts = hub._window_first(self.deployment_id)
        self.store_reads += 1
        page = await hub.store.events(self.deployment_id, after_seq=after, limit=self._limit)
        if page:
            self._from_store.append(Batch(page))
            window = hub._window_after(self.deployment_id, page[-1]["seq"])
            if window is not None:
                self._from_store.extend(window)  # the window goes on where the page ends
            else:
                self._catch_up = True
            return True
        if starts is None:
            return False  # nothing published after `after` yet: live batches bring it
        if hub._window_first(self.deployment_id) != starts:
            self._catch_up = True  # the window moved on while the store was read: look again
            return True
        gap_after = hub._window_after(self.deployment_id, starts - 1) or []
        self._from_store.extend(gap_after)
        return bool(gap_after)

    async def _wait(self, timeout: float | None) -> bool:
        """Wait for a push or the end; False after ``timeout`` seconds of nothing.

        A timer handle rather than ``asyncio.wait_for``, which makes a task per call: this runs
        once per batch for every watcher.
        """
        self._wakeup.clear()
        if timeout is None:
            await self._wakeup.wait()
            return True
        if timeout <= 0:
            return False
        self._timed_out = False
        timer = asyncio.get_running_loop().call_later(timeout, self._time_out)
        try:
            await self._wakeup.wait()
        finally:
            timer.cancel()
        return not self._timed_out

    def _time_out(self) -> None:
        self._timed_out = True
        self._wakeup.set()


class _Window:
    """The newest published batches of one recording deployment: every batch not yet committed
    (catching up can find those nowhere else), and the newest committed ones up to ``limit``
    events while someone watches (a single bigger batch stays alone), so catching a slow watcher
    up rarely touches SQLite. Contiguous: it only ever loses its oldest, committed batches."""

    __slots__ = ("batches", "events", "limit")

    def __init__(self, limit: int) -> None:
        self.batches: deque[Batch] = deque()
        self.events = 0
        self.limit = limit

    def add(self, batch: Batch, committed: int, keep: int) -> None:
        self.batches.append(batch)
        self.events += len(batch)
        self.trim(committed, keep)

    def trim(self, committed: int, keep: int) -> None:
        """Drop the oldest committed batches while the window holds more than ``keep`` events."""
        batches = self.batches
        while self.events > keep and len(batches) > 1 and batches[0].last <= committed:
            self.events -= len(batches.popleft())
        if keep == 0 and batches and batches[-1].last <= committed:
            batches.clear()
            self.events = 0

    def clear(self) -> None:
        self.batches.clear()
        self.events = 0

    def after(self, seq: int) -> list[Batch] | None:
        """Every batch holding an event above ``seq``, or None when the window starts later."""
        if not self.batches or self.batches[0].first > seq + 1:
            return None
        return [b for b in self.batches if b.last > seq]


class _LogEntries:
    """The event_log entries ``{t, event, data}`` of one :meth:`Recorder.emit_many`, made only
    when sliced out (:func:`extend_bounded` slices out only those the log keeps)."""

    __slots__ = ("datas", "event", "t")

    def __init__(self, t: int, event: str, datas: Sequence[dict]) -> None:
        self.t, self.event, self.datas = t, event, datas

    def __len__(self) -> int:
        return len(self.datas)

    def __getitem__(self, index: slice) -> list[dict]:
        t, event = self.t, self.event
        return [{"t": t, "event": event, "data": data} for data in self.datas[index]]


class Recorder:
    """The live recording of one deployment: numbers, applies, queues and publishes its events."""

    def __init__(self, hub: EventHub, row: dict, last_seq: int) -> None:
        self.deployment_id: str = row["deployment_id"]
        self.row: dict = {**row, "event_log": list(row.get("event_log") or [])}
        self.row.setdefault("peer_results", [])
        self._hub = hub
        self._store = hub.store
        # Bound once: emit() runs once per event.
        self._enqueue_event, self._enqueue_events = hub.store.enqueue_event, hub.store.enqueue_events
        self._seq = last_seq
        self._dirty: set[str] = set()
        self._in_flight = 0  # row writes queued but not yet committed
        self._sync_scheduled = False
        self._finished = False
        # Publishing: events emitted but not yet published, and up to which seq they may be.
        self._pending: list[tuple[int, str, dict]] = []  # (t, event, data)
        self._publish_scheduled = False
        self._committed = last_seq  # highest committed seq (known on the loop)
        self._reserved = last_seq  # highest committed reservation
        self._reserving = last_seq  # highest reservation asked for
        self._reserve_at = last_seq  # past this seq, a watched recording asks for the next block
        self._first_seq = last_seq + 1
        self._commit_asked = False  # a commit was requested for a watcher waiting on the gate

    @property
    def seq(self) -> int:
        """The seq of the last emitted event."""
        return self._seq

    @property
    def publishable(self) -> int:
        """The highest seq that may be published: committed, or below a committed reservation."""
        return self._committed if self._committed > self._reserved else self._reserved

    def emit(self, event: str, data: dict) -> int:
        """Record one event and return its seq. Must be called on the event loop's thread.

        The caller must not mutate ``data`` afterwards: it is shared with the row and subscribers.
        """
        if self._finished:
            raise RuntimeError(f"deployment {self.deployment_id} has finished recording")
        seq = self._seq = self._seq + 1
        t = time_ns() // 1_000_000  # now_ms(), inlined: emit() runs once per event
        phase = event == PHASE
        if phase:
            self._apply_phase(data)
        append_bounded(self.row["event_log"], {"t": t, "event": event, "data": data}, t)
        self._enqueue_event(self.deployment_id, seq, t, event, data)
        self._pending.append((t, event, data))  # the newest len(_pending) seqs, up to self._seq
        self._emitted(seq, phase)
        return seq

    def emit_many(self, event: str, datas: Sequence[dict]) -> int:
        """Record consecutive events of one kind, e.g. the lines of one read of an install's
        output, and return the seq of the last. Must be called on the event loop's thread.

        The same as one :meth:`emit` each, at the same time, in one pass: a burst of install
        output costs list operations per read, not a call per line, for numbering, the row's
        event_log and the store. The caller must not mutate the ``datas`` afterwards.
        """
        if self._finished:
            raise RuntimeError(f"deployment {self.deployment_id} has finished recording")
        if not datas:
            return self._seq
        first = self._seq + 1
        seq = self._seq = self._seq + len(datas)
        t = time_ns() // 1_000_000
        phase = event == PHASE
        if phase:
            for data in datas:
                self._apply_phase(data)
        # Entries for the row's event_log only for the events it keeps (~200 of a big read).
        extend_bounded(self.row["event_log"], _LogEntries(t, event, datas), t)
        self._enqueue_events(self.deployment_id, first, t, event, datas)
        self._pending += zip(repeat(t), repeat(event), datas)
        self._emitted(seq, phase)
        return seq

    def _emitted(self, seq: int, phase: bool) -> None:
        """What every emit does once its events up to ``seq`` are numbered, logged and queued:
        the row, publishing at the end of the turn, the seq reservation a watcher needs."""
        self.row[LOG_SEQ] = seq
        if phase:
            # A handful per deploy: the phase event and the row with its phase and status commit
            # now (crash recovery names the phase from the events; lists show the row's status).
            self._dirty.update(("event_log", LOG_SEQ))
            self._write_row()
            self._store.request_commit()
        if not self._publish_scheduled:  # the first event of this loop turn
            self._publish_scheduled = True
            asyncio.get_running_loop().call_soon(self._publish)
            self._hub._turn_emits()
        if seq > self._reserve_at and self.deployment_id in self._hub._subscribers:
            self._reserve()  # watched: the next block, before publishing has to wait for it
        if "event_log" not in self._dirty or not (self._in_flight or self._sync_scheduled):
            self._mark_dirty("event_log", LOG_SEQ)

    def update(self, **fields: Any) -> None:
        """Change row fields; they are written with the next batch."""
        if "deployment_id" in fields:
            raise ValueError("deployment_id cannot change")
        self.row.update(fields)
        self._mark_dirty(*fields)

    async def flush(self) -> None:
        """Wait until everything emitted or updated so far is committed (and published)."""
        if self._dirty and not self._finished:
            self._write_row()
        await self._store.barrier()

    async def finish(self, status: str, *, error: dict | None = None, **fields: Any) -> dict:
        """Write the terminal row, then end the live stream; returns the final internal row.

        ``completed_at`` is now, except for ``activating`` (Harper leaves it null there) or when
        given in ``fields``.
        """
        if self._finished:
            raise RuntimeError(f"deployment {self.deployment_id} has already finished")
        if self._hub.recorder_finished:  # before the terminal write, in the log, as Harper 5.1
            self.emit(RECORDER_FINISHED, {"status": getattr(status, "value", status)})
        self._finished = True
        completed = None if status == Status.ACTIVATING else now_ms()
        self.row.update({"completed_at": completed, **fields, "status": status, "error": error})
        if self._reserving > self._first_seq - 1 or SEQ_RESERVED in self.row:
            # Every seq numbered so far commits with this write: the unused reservation goes back.
            self.row[SEQ_RESERVED] = self._seq
        terminal = {k: v for k, v in self.row.items() if k != "deployment_id"}
        try:
            # FIFO: every event and row write queued before this one commits first.
            await self._hub.store.update_row(self.deployment_id, terminal)
            self._commits_reached(self._seq)
        finally:
            self._hub._finished(self)
        return dict(self.row)

    # ------------------------------------------------------------ publishing

    def _publish(self) -> None:
        """Once per loop turn that emitted: publish the pending events the gate lets through."""
        self._publish_scheduled = False
        pending = self._pending
        if not pending:
            return
        first = self._seq - len(pending) + 1
        ready = self.publishable - first + 1
        if ready >= len(pending):
            self._pending = []
        else:
            if self.deployment_id in self._hub._subscribers:
                self._open_gate()
            if ready <= 0:
                return
            self._pending = pending[ready:]
            pending = pending[:ready]
        self._hub._publish(self, Batch.of_entries(first, pending))

    def _open_gate(self) -> None:
        """A watcher waits for events above the gate: reserve seqs for them unless a reservation
        asked for already covers them, and have it committed now."""
        if self._finished:
            return  # the terminal write, awaited, commits everything and gives the rest back
        if self._seq > self._reserve_at:
            self._reserve()
        elif not self._commit_asked:
            self._commit_asked = True
            self._store.request_commit()

    def _reserve(self) -> None:
        """Reserve the next block of seqs and have it committed now (only while watched: events
        nobody can see need no reservation, they are published once committed)."""
        block = min(RESERVE_BLOCK, max(RESERVE_FIRST, self._seq - self._first_seq + 1))
        value = self._reserving = max(self._reserving, self._seq) + block
        self._reserve_at = value - block // 2
        self._store.enqueue_update(self.deployment_id, {SEQ_RESERVED: value},
                                   lambda exc: self._reservation_committed(value, exc))
        self._commit_asked = True
        self._store.request_commit()

    def _reservation_committed(self, value: int, exc: BaseException | None) -> None:
        if exc is None and value > self._reserved:
            self._reserved = value
            self._commit_asked = False
            self._publish()

    def _commits_reached(self, seq: int) -> None:
        """The store committed this recording's events up to ``seq``."""
        if seq > self._committed:
            self._committed = seq
            self._commit_asked = False
            if self._pending:
                self._publish()

    # ------------------------------------------------------------ the row

    def _apply_phase(self, data: dict) -> None:
        phase = data.get("phase")
        if not isinstance(phase, str):
            return
        self.row["phase"] = phase
        self._dirty.add("phase")
        if data.get("status") == "start" and phase in PHASE_START_STATUS:
            self.row["status"] = str(PHASE_START_STATUS[phase])
            self._dirty.add("status")

    def _mark_dirty(self, *fields: str) -> None:
        self._dirty.update(fields)
        # At most one row write in flight: a burst of events costs one row write per commit.
        if self._in_flight == 0 and not self._sync_scheduled:
            self._sync_scheduled = True
            asyncio.get_running_loop().call_soon(self._sync_row)

    def _sync_row(self) -> None:
        self._sync_scheduled = False
        if self._dirty and self._in_flight == 0 and not self._finished:
            self._write_row()

    def _write_row(self) -> None:
        fields = {k: self.row.get(k) for k in self._dirty}
        self._dirty.clear()
        self._in_flight += 1
        self._store.enqueue_update(self.deployment_id, fields, self._row_committed)

    def _row_committed(self, exc: BaseException | None) -> None:
        self._in_flight -= 1
        if self._dirty and self._in_flight == 0 and not self._finished:
            self._write_row()


class EventHub:
    """Active recorders and live subscribers of one server."""

    def __init__(self, store: Store, *, subscriber_queue_limit: int = 1000,
                 window_events: int = WINDOW_EVENTS, recorder_finished: bool = False) -> None:
        self.store = store
        # Harper 5.1's recorder emits (and persists) ``_recorder_finished {status}`` as it finishes:
        # the ``harper`` wire does too (contract §4.4).
        self.recorder_finished = recorder_finished
        self.subscriber_queue_limit = subscriber_queue_limit
        self.window_events = window_events
        self._recorders: dict[str, Recorder] = {}
        self._subscribers: dict[str, set[Subscription]] = {}
        self._windows: dict[str, _Window] = {}
        self._shared: dict[Hashable, asyncio.Future[Any]] = {}
        self._append_lock = asyncio.Lock()
        self._turn: tuple[bool, float] | None = None  # (GC on, switch interval) before this turn
        store.add_commit_listener(self._committed)

    def start_recording(self, row: dict, *, last_seq: int | None = None) -> Recorder:
        """Register a recorder for a row already inserted with ``store.insert_row``.

        Seqs continue after ``last_seq``, by default the highest seq in the store (one index probe;
        0 for a new deployment), or after the row's seq reservation when that is higher (a crash
        lost events that may have been published), so a re-recorded deployment never reuses a seq.
        """
        deployment_id = row["deployment_id"]
        if deployment_id in self._recorders:
            raise RuntimeError(f"deployment {deployment_id} is already being recorded")
        if last_seq is None:
            last_seq = self.store.last_seq_blocking(deployment_id)
        recorder = Recorder(self, row, max(last_seq, int(row.get(SEQ_RESERVED) or 0)))
        self._recorders[deployment_id] = recorder
        self._windows[deployment_id] = _Window(self.window_events)
        return recorder

    def recorder(self, deployment_id: str) -> Recorder | None:
        """The active recorder of a deployment, if any."""
        return self._recorders.get(deployment_id)

    def subscribe(self, deployment_id: str, *, after_seq: int | None = None) -> Subscription:
        """Published events of a deployment, ending when its recording finishes.

        With ``after_seq`` the subscription first delivers the events after that seq (committed
        history from the store, the uncommitted tail from memory), then the live ones (replay then
        live, exactly once). Without it, only events published from now on. A deployment not being
        recorded gives a subscription that ends after the replay.
        """
        recorder = self._recorders.get(deployment_id)
        sub = Subscription(self, deployment_id, limit=self.subscriber_queue_limit,
                           after_seq=after_seq, active=recorder is not None)
        if not sub._ended:
            self._subscribers.setdefault(deployment_id, set()).add(sub)
        if recorder is not None and recorder.seq > recorder.publishable:
            recorder._open_gate()  # events wait for a reservation: reserve and commit now
        return sub

    def subscriber_count(self, deployment_id: str | None = None) -> int:
        """Live subscriptions of one deployment, or of all."""
        if deployment_id is not None:
            return len(self._subscribers.get(deployment_id, ()))
        return sum(len(s) for s in self._subscribers.values())

    async def append_event(self, deployment_id: str, event: str, data: dict, *,
                           fields: dict | None = None) -> dict:
        """Append an event to a deployment that is not being recorded (payload_dropped, the
        crash-recovery error), with optional extra row ``fields``; returns the updated row.

        Raises LookupError for an unknown deployment. An active deployment goes through its
        recorder instead.
        """
        active = self._recorders.get(deployment_id)
        if active is not None:
            active.emit(event, data)
            if fields:
                active.update(**fields)
            await active.flush()
            return dict(active.row)
        async with self._append_lock:  # next seq = last + 1 must not race another append
            row = await self.store.get_row(deployment_id)
            if row is None:
                raise LookupError(f"No deployment found with id '{deployment_id}'")
            # After the reservation too: a crash may have lost published events above last_seq.
            seq = max(await self.store.last_seq(deployment_id), int(row.get(SEQ_RESERVED) or 0)) + 1
            t = now_ms()
            event_log = list(row.get("event_log") or [])
            append_bounded(event_log, {"t": t, "event": event, "data": data}, t)
            changes = {**(fields or {}), "event_log": event_log, LOG_SEQ: seq}
            self.store.enqueue_event(deployment_id, seq, t, event, data)
            await self.store.update_row(deployment_id, changes)
        row.update(changes)
        return row

    # ------------------------------------------------------------ internal

    def _publish(self, recorder: Recorder, batch: Batch) -> None:
        """One loop turn's events of ``recorder``, into its window and to each of its subscribers."""
        deployment_id = recorder.deployment_id
        subscribers = self._subscribers.get(deployment_id)
        window = self._windows.get(deployment_id)
        if window is not None:
            window.add(batch, recorder._committed, self.window_events if subscribers else 0)
        for sub in subscribers or ():
            sub._push(batch)

    def _committed(self, seqs: dict[str, int]) -> None:
        """Commit listener: the recorders' gates open, and the windows let committed batches go
        (all of them when nobody watches: the store has them)."""
        for deployment_id, seq in seqs.items():
            recorder = self._recorders.get(deployment_id)
            if recorder is None:
                continue
            recorder._commits_reached(seq)
            window = self._windows.get(deployment_id)
            if window is not None and window.events:
                keep = self.window_events if deployment_id in self._subscribers else 0
                window.trim(recorder._committed, keep)

    async def shared(self, key: Hashable, make: Callable[[], Awaitable[T]]) -> T:
        """``await make()``, one run for every caller asking under ``key`` while it runs.

        When a deployment ends, all its watchers want the same terminal row and ``done`` at once:
        one read (a ~200-entry event_log to decode) and one encoding instead of N keep their
        ``done`` quick. Callers get the same object: share only immutable results.
        """
        pending = self._shared.get(key)
        if pending is None:
            pending = self._shared[key] = asyncio.ensure_future(make())
            pending.add_done_callback(lambda _f: self._shared.pop(key, None))
        return await asyncio.shield(pending)

    async def shared_row(self, deployment_id: str) -> dict | None:
        """``store.get_row`` through :meth:`shared`, a copy for each caller."""
        row = await self.shared(("row", deployment_id), lambda: self.store.get_row(deployment_id))
        return None if row is None else dict(row)

    def _turn_emits(self) -> None:
        """Until the end of this loop turn, which emits: keep CPython's cyclic GC off, and have
        the interpreter hand the GIL over every EMITTING_SWITCH_INTERVAL rather than 5 ms.

        emit() leaves a few long-lived containers per event (the log entry, the row to store), and
        in a burst every young collection re-walks those not yet promoted, then the older
        generations walk them all again: 40 % of emit()'s time in a 100,000-line burst. Deferred
        to the end of the turn, one collection finds what the burst left (cyclic garbage waits one
        turn at most; reference counting frees the rest as usual). Left alone if someone else
        turned the GC off.

        The store's writer thread releases the GIL for each SQLite statement and then waits for
        it while emit() runs: up to the switch interval each time, which left it behind emit() and
        most of a burst's inserts for after it (the flush took 0.15-0.23 s of a 100,000-event
        burst at 5 ms, 0.05-0.09 s at 0.5 ms).
        """
        if self._turn is not None:
            return
        self._turn = (gc.isenabled(), sys.getswitchinterval())
        gc.disable()
        sys.setswitchinterval(min(self._turn[1], EMITTING_SWITCH_INTERVAL))
        asyncio.get_running_loop().call_soon(self._turn_ended)

    def _turn_ended(self) -> None:
        if self._turn is not None:
            gc_was_on, interval = self._turn
            self._turn = None
            sys.setswitchinterval(interval)
            if gc_was_on:
                gc.enable()

    def window_size(self, deployment_id: str) -> int:
        """Events the in-memory window of a recording deployment holds (0 when none)."""
        window = self._windows.get(deployment_id)
        return window.events if window is not None else 0

    def _window_after(self, deployment_id: str, seq: int) -> list[Batch] | None:
        window = self._windows.get(deployment_id)
        return window.after(seq) if window is not None else None

    def _window_first(self, deployment_id: str) -> int | None:
        """The first seq the window of a recording deployment holds; None when it is empty."""
        window = self._windows.get(deployment_id)
        return window.batches[0].first if window is not None and window.batches else None

    def _finished(self, recorder: Recorder) -> None:
        """The terminal row is committed: end the live streams and forget the recorder."""
        if self._recorders.get(recorder.deployment_id) is recorder:
            del self._recorders[recorder.deployment_id]
            self._windows.pop(recorder.deployment_id, None)
        for sub in self._subscribers.pop(recorder.deployment_id, set()):
            sub._end()

    def _unsubscribe(self, sub: Subscription) -> None:
        subs = self._subscribers.get(sub.deployment_id)
        if subs is not None:
            subs.discard(sub)
            if not subs:
                del self._subscribers[sub.deployment_id]
