"""Recording a deployment's events and fanning them out to live subscribers.

One :class:`EventHub` per server. The engine calls ``hub.start_recording(row)`` and then
:meth:`Recorder.emit` for every phase, install line and peer result. ``emit`` is synchronous and
cheap: it numbers the event, updates the in-memory row (phase, status, Harper's bounded
``event_log``) and queues the event for the store's writer thread. The row itself is written at most
once per commit (like Harper's coalesced puts, but never behind the events table).

Subscribers see an event only after the batch holding it has committed, so anything a client
receives live is also in the store: a reconnecting client can always resume from its last seq.
Each commit's events become one :class:`Batch` whose SSE bytes are encoded once and shared by all
watchers. A subscriber's queue is bounded; one that falls behind catches up from an in-memory
window of the newest batches (or from the store when it is further behind) and then goes back to
live, so a slow client costs bounded memory and loses nothing.
"""

from __future__ import annotations

import asyncio
from collections import deque
from time import time_ns
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

from deploytui.protocol.clock import now_ms
from deploytui.protocol.deployment import PHASE_START_STATUS, Status
from deploytui.protocol.event_log import EVENT_LOG_HEAD_KEEP, EVENT_LOG_MAX, TRUNCATED, append_bounded
from deploytui.protocol.events import PHASE, RECORDER_FINISHED

from .store import Store

T = TypeVar("T")

# Internal row key: the seq of the newest event the row's event_log holds. The harper wire replays
# the event_log (as Harper does) and continues live after exactly this seq.
LOG_SEQ = "_log_seq"

# Returned by Subscription.get() when nothing arrived within the timeout.
TIMEOUT = object()

# Events of a recording deployment kept in memory for catching up slow watchers: a few MiB.
WINDOW_EVENTS = 10_000


class Batch:
    """Consecutive committed events of one deployment, as one commit published them.

    One Batch object is shared by the hub's window and every subscriber's queue, and its SSE bytes
    are encoded once per wire (:meth:`encoded`), so a watcher costs a reference and a write per
    commit, not a JSON encoding and an SSE frame per event.
    """

    __slots__ = ("events", "_encoded")

    def __init__(self, events: list[dict]) -> None:
        self.events = events
        self._encoded: dict[str, bytes] = {}

    def __len__(self) -> int:
        return len(self.events)

    @property
    def first(self) -> int:
        return self.events[0]["seq"]

    @property
    def last(self) -> int:
        return self.events[-1]["seq"]

    def after(self, seq: int | None) -> Batch:
        """The events with a seq above ``seq`` (self when that is all of them)."""
        if seq is None or not self.events or self.first > seq:
            return self
        return Batch([e for e in self.events if e["seq"] > seq])

    def encoded(self, wire: str, encode: Callable[[dict, str], bytes]) -> bytes:
        """The SSE bytes of every event for ``wire``, encoded on first use and then shared."""
        data = self._encoded.get(wire)
        if data is None:
            data = self._encoded[wire] = b"".join([encode(e, wire) for e in self.events])
        return data


class Subscription:
    """Committed events of one deployment, in seq order, each exactly once.

    Live batches arrive through a queue holding at most ``limit`` events (references to batches
    shared with every other subscriber). When it would overflow, the queue is dropped and the
    subscription catches up from the hub's in-memory window of recent batches, or from the store
    when it has fallen behind even that, before going on with live ones; seq numbers say what is
    missing and what is a repeat. Iteration ends once the recording has finished and everything
    committed has been delivered.
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
                await self._read_missing(more_after=True)
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

    async def _read_missing(self, *, more_after: bool = False) -> bool:
        """Queue the committed events after :attr:`last_seq`: every one from the hub's window when
        it reaches back that far, else up to ``limit`` from the store; True when some were found.

        With ``more_after`` a full store page means the store may hold more, so catch-up continues.
        """
        after = self.last_seq or 0
        window = self._hub._window_after(self.deployment_id, after)
        if window is not None:
            self._from_store.extend(window)
            return bool(window)
        self.store_reads += 1
        page = await self._hub.store.events(self.deployment_id, after_seq=after, limit=self._limit)
        if page:
            self._from_store.append(Batch(page))
        if more_after and len(page) >= self._limit:
            self._catch_up = True
        return bool(page)

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
    """The newest committed batches of one recording deployment, at most ``limit`` events (a
    single bigger batch stays alone), so catching a slow watcher up rarely touches SQLite."""

    __slots__ = ("batches", "events", "limit")

    def __init__(self, limit: int) -> None:
        self.batches: deque[Batch] = deque()
        self.events = 0
        self.limit = limit

    def add(self, batch: Batch) -> None:
        self.batches.append(batch)
        self.events += len(batch)
        while self.events > self.limit and len(self.batches) > 1:
            self.events -= len(self.batches.popleft())

    def clear(self) -> None:
        self.batches.clear()
        self.events = 0

    def after(self, seq: int) -> list[Batch] | None:
        """Every batch holding an event above ``seq``, or None when the window starts later."""
        if not self.batches or self.batches[0].first > seq + 1:
            return None
        return [b for b in self.batches if b.last > seq]


class Recorder:
    """The live recording of one deployment: numbers, applies and queues its events."""

    def __init__(self, hub: EventHub, row: dict, last_seq: int) -> None:
        self.deployment_id: str = row["deployment_id"]
        self.row: dict = {**row, "event_log": list(row.get("event_log") or [])}
        self.row.setdefault("peer_results", [])
        self._hub = hub
        self._store = hub.store
        self._seq = last_seq
        self._dirty: set[str] = set()
        self._in_flight = 0  # row writes queued but not yet committed
        self._sync_scheduled = False
        self._finished = False

    @property
    def seq(self) -> int:
        """The seq of the last emitted event."""
        return self._seq

    def emit(self, event: str, data: dict) -> int:
        """Record one event and return its seq. Must be called on the event loop's thread.

        The caller must not mutate ``data`` afterwards: it is shared with the row and subscribers.
        """
        if self._finished:
            raise RuntimeError(f"deployment {self.deployment_id} has finished recording")
        seq = self._seq = self._seq + 1
        t = time_ns() // 1_000_000  # now_ms(), inlined: emit() runs once per install line
        if event == PHASE:
            self._apply_phase(data)
        row = self.row
        log = row["event_log"]
        if len(log) == EVENT_LOG_MAX and log[EVENT_LOG_HEAD_KEEP]["event"] == TRUNCATED:
            # append_bounded's steady state (full log, marker in place) in three list operations:
            # the marker counts one more dropped event and the oldest tail entry goes.
            dropped = log[EVENT_LOG_HEAD_KEEP]["data"].get("dropped_events", 0)
            log[EVENT_LOG_HEAD_KEEP] = {"t": t, "event": TRUNCATED, "data": {"dropped_events": int(dropped) + 1}}
            del log[EVENT_LOG_HEAD_KEEP + 1]
            log.append({"t": t, "event": event, "data": data})
        else:
            append_bounded(log, {"t": t, "event": event, "data": data}, t)
        row[LOG_SEQ] = seq
        self._store.enqueue_event(self.deployment_id, seq, t, event, data)
        dirty = self._dirty
        if "event_log" not in dirty or not (self._in_flight or self._sync_scheduled):
            self._mark_dirty("event_log", LOG_SEQ)
        return seq

    def update(self, **fields: Any) -> None:
        """Change row fields; they are written with the next batch."""
        if "deployment_id" in fields:
            raise ValueError("deployment_id cannot change")
        self.row.update(fields)
        self._mark_dirty(*fields)

    async def flush(self) -> None:
        """Wait until everything emitted or updated so far is committed."""
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
        terminal = {k: v for k, v in self.row.items() if k != "deployment_id"}
        try:
            # FIFO: every event and row write queued before this one commits first.
            await self._hub.store.update_row(self.deployment_id, terminal)
        finally:
            self._hub._finished(self)
        return dict(self.row)

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
        store.add_commit_listener(self._publish)

    def start_recording(self, row: dict, *, last_seq: int | None = None) -> Recorder:
        """Register a recorder for a row already inserted with ``store.insert_row``.

        Seqs continue after ``last_seq``, by default the highest seq in the store (one index probe;
        0 for a new deployment), so a re-recorded deployment never reuses a seq.
        """
        deployment_id = row["deployment_id"]
        if deployment_id in self._recorders:
            raise RuntimeError(f"deployment {deployment_id} is already being recorded")
        if last_seq is None:
            last_seq = self.store.last_seq_blocking(deployment_id)
        recorder = Recorder(self, row, last_seq)
        self._recorders[deployment_id] = recorder
        self._windows[deployment_id] = _Window(self.window_events)
        return recorder

    def recorder(self, deployment_id: str) -> Recorder | None:
        """The active recorder of a deployment, if any."""
        return self._recorders.get(deployment_id)

    def subscribe(self, deployment_id: str, *, after_seq: int | None = None) -> Subscription:
        """Committed events of a deployment, ending when its recording finishes.

        With ``after_seq`` the subscription first delivers the stored events after that seq, then
        the live ones (replay then live, exactly once). Without it, only events committed from now
        on. A deployment not being recorded gives a subscription that ends after the replay.
        """
        sub = Subscription(self, deployment_id, limit=self.subscriber_queue_limit,
                           after_seq=after_seq, active=deployment_id in self._recorders)
        if not sub._ended:
            self._subscribers.setdefault(deployment_id, set()).add(sub)
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
            seq = await self.store.last_seq(deployment_id) + 1
            t = now_ms()
            event_log = list(row.get("event_log") or [])
            append_bounded(event_log, {"t": t, "event": event, "data": data}, t)
            changes = {**(fields or {}), "event_log": event_log, LOG_SEQ: seq}
            self.store.enqueue_event(deployment_id, seq, t, event, data)
            await self.store.update_row(deployment_id, changes)
        row.update(changes)
        return row

    # ------------------------------------------------------------ internal

    def _publish(self, events: list[tuple[str, int, int, str, Any]]) -> None:
        """Commit listener: one shared :class:`Batch` per watched deployment, into its window and
        to each of its subscribers. Nobody watching: nothing is built and the window is emptied
        (it must never have a hole), so an unwatched install pays nothing for fan-out."""
        if not self._subscribers:  # the common case: an install nobody watches pays one check
            for window in self._windows.values():
                if window.events:
                    window.clear()
            return
        runs: dict[str, list[dict]] = {}
        for deployment_id, seq, t, name, data in events:
            if deployment_id in self._subscribers:
                runs.setdefault(deployment_id, []).append(
                    {"seq": seq, "t": t, "event": name, "data": data})
            elif (window := self._windows.get(deployment_id)) is not None and window.events:
                window.clear()
        for deployment_id, run in runs.items():
            batch = Batch(run)
            window = self._windows.get(deployment_id)
            if window is not None:
                window.add(batch)
            for sub in self._subscribers.get(deployment_id, ()):
                sub._push(batch)

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

    def window_size(self, deployment_id: str) -> int:
        """Events the in-memory window of a recording deployment holds (0 when none)."""
        window = self._windows.get(deployment_id)
        return window.events if window is not None else 0

    def _window_after(self, deployment_id: str, seq: int) -> list[Batch] | None:
        window = self._windows.get(deployment_id)
        return window.after(seq) if window is not None else None

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
