"""``attach()``: one deployment's events as one stitched, resumable, exactly-once stream.

It replays the history, tails live events, and ends at ``done`` (or at the ``error`` of a failed
deploy). Under it, connections come and go:

* **Resuming.** A dropped connection, a restarted server or a cut proxy is reconnected with capped,
  jittered backoff whose base is the server's ``retry:`` (:class:`~deploytui.client.retry.Backoff`).
  With event ids (our server) the reconnect sends ``Last-Event-ID`` and events are deduplicated by
  seq; a seq jump is filled from ``get_deployment_events``. Without ids (Harper: every reconnect
  replays the bounded ``event_log`` then live) the replay is aligned with what was already
  delivered by :class:`~deploytui.client.attach.alignment.ReplayAligner` — see that module for the
  algorithm and its limits; what the bounded log no longer holds is read from
  ``get_deployment_events`` on our server (pages that shrink when the path cuts long answers,
  retried through the backoff, each page counting as progress), and reported by a ``truncated``
  notice against Harper.
* **Reconciling.** At the end the final row's ``event_log`` is compared with what was delivered
  and anything the stream missed (Harper's read-before-subscribe gap, contract §6.2) is delivered
  with ``backfilled=True`` *before* the ``done`` event, so the caller sees the whole story, then done.
* **Stalls.** No byte for ``stall_timeout`` seconds while the reader waits on the network (our server
  sends a keepalive every 15 s, Harper none) puts the attachment in ``verifying``:
  ``get_deployment`` says whether the deploy is over (then it finishes from the row: with ids the
  rest comes from the events API; without, the row's ``event_log`` is aligned as a replay would
  be) or still running (then it reconnects; a running deploy restarts the give-up clock, since
  silence is no failure).
* **Errors.** 401/403/404, a non-SSE answer and other refusals are permanent: state ``failed``
  and the typed error is raised. Network errors and 5xx are retried until
  :attr:`RetryPolicy.give_up_after_s` pass without progress. A 204 ends the stream quietly.
  ``get_deployment`` refusing in-band (HTTP 200, an ``error`` with a ``code`` but neither a deploy
  ``phase`` nor a ``deployment_id``: Harper's answer to an unknown id) is the same refusal: a 4xx
  raises its typed error (``NotFoundError`` for an unknown id), a 5xx is retried. Only a deploy's
  own ``error`` is delivered as the deployment's failure.
* **Times.** Every event leaves with the best time known (``t``, ``t_source``): its own; else,
  on a replay without times (Harper), the time of the row's ``event_log`` entry at the same
  position with the same content (the row read just before connecting); else the time it was
  received. Harper's final ``done`` may carry a stale row (still ``pending``, no ``completed_at``):
  it is delivered with the row read again once terminal.

States (:class:`AttachState`, via ``on_state`` and ``.state``): ``connecting``; ``replaying`` while
the connection is still sending history — until the position reached the history length the row
reported just before connecting (with ids, our server's cumulative ``event_log`` count gives it;
against Harper, until as many events arrived as its ``event_log`` holds), or to the end when the
row was already terminal; ``live``; ``reconnecting`` (attempt, next try in s); ``verifying``;
``done`` (``message`` set when the deploy failed or the server stopped the stream); ``failed``.

The deploy case: pass deploy_component's own event stream as ``initial_stream`` (unread); it is
consumed first and, if it drops, the deployment is followed through ``get_deployment`` — its id
from our server's ``X-Deployment-Id`` header, the events, or :func:`find_deployment_id`.

Its parts: :mod:`.connection` (one stream read into a queue, the stall clock),
:mod:`.alignment` (what of an id-less replay is new), :mod:`.backfill` (out-of-band reads: the
events API, the terminal row), :mod:`.state` (:class:`AttachState`).

No Textual here: this module is used by the dashboard and the headless commands alike.
"""

from __future__ import annotations

import contextlib
import functools
import weakref
from collections.abc import AsyncIterator, Callable
from dataclasses import replace
from typing import Any, Self

from deploytui.client.api import OperationsClient
from deploytui.client.attach.alignment import (
    Deliver,
    DeliveredLog,
    Gap,
    ReplayAligner,
    history_count,
    log_events,
    missing_from_log,
    with_logged_time,
)
from deploytui.client.attach.backfill import EventsFetcher, find_deployment_id, poll_terminal_row
from deploytui.client.attach.connection import OPENED, STALLED, Connection, Failure, Outcome, in_band_refusal
from deploytui.client.attach.state import AttachState, StateKind
from deploytui.client.errors import ConnectionFailed, DeploytuiError, StreamClosed
from deploytui.client.humanize import now_ms
from deploytui.client.retry import Backoff, RetryPolicy, retryable
from deploytui.client.sse import EventStream
from deploytui.protocol.deployment import is_terminal
from deploytui.protocol.events import (
    DoneEvent,
    ErrorEvent,
    Event,
    TruncatedEvent,
    parse_event,
)
from deploytui.protocol.sse import SSEMessage

__all__ = ["Attachment", "attach"]

# Each client's registration_info answer, once read (what kind of server it talks to).
_SERVER_INFO: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()

# ---- the attachment ----------------------------------------------------------------------------


class Attachment:
    """An async iterator of a deployment's typed events (see the module docstring).

    ``state`` is the latest :class:`AttachState`; ``final_row`` the terminal row once known.
    Use ``async for event in attachment`` (optionally inside ``async with``) and :meth:`aclose`.
    """

    def __init__(self, client: OperationsClient, deployment_id: str | None, *,
                 on_state: Callable[[AttachState], None] | None = None,
                 initial_stream: EventStream | None = None, stall_timeout: float = 30.0,
                 retry: RetryPolicy | None = None, project: str | None = None,
                 started_after_ms: int | None = None, trust_marker_count: bool | None = None,
                 events_api: bool | None = None) -> None:
        if deployment_id is None and initial_stream is None:
            raise ValueError("attach needs a deployment id or an initial stream")
        self.client = client
        self.deployment_id = deployment_id
        self.state = AttachState("connecting")
        self.final_row: dict[str, Any] | None = None
        self.duplicates = 0  # events seen again and dropped (for tests and diagnostics)
        self._on_state = on_state
        self._initial = initial_stream
        self._stall = stall_timeout
        # The client's policy by default: its reads use it too.
        self._backoff = Backoff(retry or getattr(client, "retry", None) or RetryPolicy())
        self._project, self._started_after = project, started_after_ms
        self._trust = trust_marker_count  # None: decided by asking the server what it is
        self._events = EventsFetcher(client)  # our server's get_deployment_events
        self._events.available = events_api  # None: decided by asking the server what it is
        self._log = DeliveredLog()
        self._last_seq = 0
        self._ids = True
        self._backfilled = 0
        self._errored = False
        self._conn: Connection | None = None
        self._gen: AsyncIterator[Event] | None = None

    # -- public ---------------------------------------------------------------------------

    def __aiter__(self) -> AsyncIterator[Event]:
        if self._gen is None:
            self._gen = self._run()
        return self._gen

    async def aclose(self) -> None:
        """Stop following and release the connection."""
        if self._gen is not None:
            await self._gen.aclose()  # type: ignore[attr-defined]
        if self._conn is not None:
            await self._conn.close()
            self._conn = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- state ----------------------------------------------------------------------------

    def _set_state(self, kind: StateKind, **fields: Any) -> None:
        state = AttachState(kind, backfilled=self._backfilled, ids=self._ids, **fields)
        if state != self.state:
            self.state = state
            if self._on_state is not None:
                self._on_state(state)

    def _progress(self) -> None:
        self._backoff.progress()

    def _alive(self) -> None:
        """The server answered that the deploy is still running: a silent stream is no failure
        (Harper sends no keepalives), so the give-up clock restarts; the backoff keeps growing."""
        self._backoff.alive()

    # -- the main loop --------------------------------------------------------------------

    async def _run(self) -> AsyncIterator[Event]:
        try:
            if self._initial is not None:
                self._set_state("live")
                self._conn = Connection(None, self._initial)
                self._adopt_deployment_id(self._initial)
            while True:
                if self._conn is None:
                    opened = await self._open()
                    if isinstance(opened, dict):  # over, and everything was delivered already
                        async for event in self._finish(None, row=opened):
                            yield event
                        return
                    self._conn = opened
                outcome = Outcome("dropped")
                async for event in self._read(self._conn, outcome):
                    yield event
                await self._conn.close()
                self._conn = None
                if outcome.kind in ("done", "error_end"):
                    async for event in self._finish(outcome.done):
                        yield event
                    return
                if outcome.kind == "stalled":
                    finished = await self._verify()
                    if finished is not None:
                        async for event in self._finish(None, row=finished, fetch_rest=True):
                            yield event
                        return
                    await self._retry_after(None)
                    continue
                error = outcome.error
                if isinstance(error, StreamClosed):
                    self._set_state("done", message=str(error))
                    return
                if error is not None and not retryable(error):
                    raise error
                await self._retry_after(error)
        except DeploytuiError as exc:
            self._set_state("failed", message=str(exc))
            raise
        finally:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

    async def _open(self) -> Connection | dict[str, Any]:
        """Check the row, then open ``get_deployment``'s event stream (retrying what is retryable).

        Returns the row instead when it is terminal and every event it counts was delivered: a
        reconnect just before ``done`` then needs no replay at all.
        """
        while True:
            conn: Connection | None = None
            try:
                deployment_id = await self._require_id()
                if self._log.count == 0 and self._sends_ids():
                    # Nothing delivered yet, so no row can make the stream unneeded, and with ids
                    # the row only plans the replay (when it is caught up): the stream opens
                    # while the row is read, a round trip sooner.
                    conn = self._connect(deployment_id)
                row = await self.client.get_deployment(deployment_id)
                await self._learn_server()
                if is_terminal(row.get("status")) and self._delivered_all(row):
                    if conn is not None:
                        await conn.close()
                    return row
                if conn is None:
                    conn = self._connect(deployment_id)
                self._plan_replay(conn, row)
                return conn
            except DeploytuiError as exc:
                if conn is not None:
                    await conn.close()
                if not retryable(exc):
                    raise
                await self._retry_after(exc)

    def _connect(self, deployment_id: str) -> Connection:
        """Start reading ``get_deployment``'s event stream, resuming after the last seq delivered."""
        body = {"operation": "get_deployment", "deployment_id": deployment_id}
        resume = str(self._last_seq) if self._last_seq else None
        conn = Connection(functools.partial(self.client.stream_events, body, last_event_id=resume))
        conn.prev_id = resume or ""  # an event without an id inherits it: it is no new seq
        return conn

    def _sends_ids(self) -> bool:
        """True when this client's server is known to be ours on its own wire (events with ids,
        carrying their times): learnt by an earlier attach on the same client."""
        try:
            info = _SERVER_INFO.get(self.client)
        except TypeError:
            return False
        return isinstance(info, dict) and info.get("product") == "deploytui" and info.get("wire") != "harper"

    def _delivered_all(self, row: dict[str, Any]) -> bool:
        log = row.get("event_log") if isinstance(row.get("event_log"), list) else []
        total = history_count(log, trust_marker_count=bool(self._trust))
        if total is None or (self._log.count == 0 and total > 0):
            return False
        if self._ids:
            # Seqs run 1..total when the store holds everything shown. A last seq above the row's
            # count means the store lost events we were shown live (a crash before their commit):
            # the stream, resumed after our last seq, says what follows with the gap marked; the
            # row's log would be compared against history it no longer has.
            return self._last_seq == total
        return self._log.count >= total

    def _plan_replay(self, conn: Connection, row: dict[str, Any]) -> None:
        log = row.get("event_log") if isinstance(row.get("event_log"), list) else []
        conn.all_replay = is_terminal(row.get("status"))
        conn.replay_len = len(log)
        conn.replay_target = history_count(log, trust_marker_count=bool(self._trust))
        conn.replay_entries = log

    async def _learn_server(self) -> None:
        """Once: is this our server (cumulative truncation counts, an events API) or Harper? Known
        once per client (a client talks to one server, whose kind does not change), so a second
        attach on the same client asks nothing."""
        if self._events.available is not None and self._trust is not None:
            return
        try:
            info = _SERVER_INFO.get(self.client)
        except TypeError:  # a client that cannot be weakly referenced: asked each time
            info = None
        if info is None:
            try:
                info = await self.client.registration_info()
            except DeploytuiError as exc:
                if retryable(exc):
                    raise
                info = {}  # refused: not ours (not remembered: a later attach may ask again)
            else:
                if isinstance(info, dict):
                    with contextlib.suppress(TypeError):
                        _SERVER_INFO[self.client] = info
        ours = isinstance(info, dict) and info.get("product") == "deploytui"
        if self._events.available is None:
            self._events.available = ours
        if self._trust is None:  # our server counts dropped events, except as Harper 5.1.14 (its quirk: 2)
            self._trust = ours and info.get("wire") != "harper"

    async def _retry_after(self, error: DeploytuiError | None) -> None:
        """Wait before the next attempt (state ``reconnecting``), or give up (raising) when the
        policy says so."""
        message = str(error) if error else None

        def report(attempt: int, delay: float) -> None:
            self._set_state("reconnecting", attempt=attempt, next_retry_s=delay, message=message)

        if not await self._backoff.wait(report):
            why = error or ConnectionFailed("the event stream kept stalling")
            raise ConnectionFailed(f"gave up reconnecting after {self._backoff.attempt} attempts: {why}") from error

    # -- reading one connection -----------------------------------------------------------

    async def _read(self, conn: Connection, outcome: Outcome) -> AsyncIterator[Event]:
        while True:
            item = await conn.next(self._stall)
            if isinstance(item, list):  # the messages of one network read
                delivered = False
                i, count = 0, len(item)
                while i < count:
                    run, i = self._accept_run(conn, item, i)
                    if run:  # the common case: the next seqs, in a row
                        if not delivered:
                            delivered = True
                            self._progress()
                        for event in run:
                            yield event
                        if self.state.kind == "replaying" and self._caught_up(conn):
                            self._set_state("live")
                        continue
                    message = item[i]
                    i += 1
                    if message.event == DoneEvent.name:
                        for event in self._flush(conn):
                            yield event
                        outcome.kind, outcome.done = "done", parse_event(message.event, message.data)  # type: ignore[assignment]
                        return
                    refusal = self._refusal(conn, message) if message.event == ErrorEvent.name else None
                    if refusal is not None:
                        outcome.kind, outcome.error = ("dropped" if retryable(refusal) else "refused"), refusal
                        return
                    event = self._accept_next(conn, message)
                    if event is not None:
                        if not delivered:
                            delivered = True
                            self._progress()
                        yield event
                    else:
                        for event in await self._accept(conn, message):
                            yield event
                    if self.state.kind == "replaying" and self._caught_up(conn):
                        self._set_state("live")
                continue
            if item is OPENED:
                self._on_opened(conn)
                continue
            if self._errored:  # the failed deploy's stream is over, however it ended
                outcome.kind = "error_end"
            elif item is STALLED:
                outcome.kind = "stalled"
            elif isinstance(item, Failure):
                outcome.kind = "dropped" if item.error.retryable else "refused"
                outcome.error = item.error
            # EOF: the server closed the stream without done: reconnect
            return

    def _refusal(self, conn: Connection, message: SSEMessage) -> DeploytuiError | None:
        """``get_deployment`` refusing in-band, as a typed error (:func:`in_band_refusal`). A
        deploy's own stream is left alone: its errors are the deploy's answer, never repeated."""
        if conn.replay_len is None or self._errored:
            return None
        return in_band_refusal(message, "get_deployment")

    def _on_opened(self, conn: Connection) -> None:
        if conn.stream is not None and conn.stream.retry_ms is not None:
            self._backoff.retry_ms = conn.stream.retry_ms
        if conn.replay_len is None:  # the initial (deploy) stream: live from the start
            return
        self._set_state("replaying")
        if not conn.all_replay and conn.replay_target == 0:
            self._set_state("live")

    def _caught_up(self, conn: Connection) -> bool:
        if conn.all_replay:
            return False
        if conn.mode == "ids":
            return conn.replay_target is not None and self._last_seq >= conn.replay_target
        aligner = conn.aligner
        if aligner is None:
            return False
        if conn.replay_target is not None:
            return aligner.pos >= conn.replay_target
        return aligner.received >= (conn.replay_len or 0)

    def _accept_run(self, conn: Connection, messages: list[SSEMessage], i: int) -> tuple[list[Event], int]:
        """:meth:`_accept_next` over ``messages[i:]`` while each is the next seq (and no ``done``,
        ``error`` or ``retry``): those events, recorded, and the index of the first message left.
        The run ends at the event that reaches the replay target, so ``live`` is still set after
        it is yielded, as when messages were taken one at a time."""
        if conn.mode != "ids":
            return [], i
        out: list[Event] = []
        last, prev_id, count = self._last_seq, conn.prev_id, len(messages)
        target = conn.replay_target if self.state.kind == "replaying" and not conn.all_replay else None
        log_append = self._log.append
        while i < count:
            message = messages[i]
            name, event_id = message.event, message.id
            if name == DoneEvent.name or name == ErrorEvent.name or message.retry is not None or event_id == prev_id \
                    or not (event_id.isascii() and event_id.isdigit()):
                break
            seq = int(event_id)
            if seq != last + 1:
                break
            i += 1
            last, prev_id = seq, event_id
            event = parse_event(name, message.data, seq=seq)
            if event.t is None or isinstance(event, TruncatedEvent):
                event = self._record(event)
            else:
                log_append(event)
            out.append(event)
            if target is not None and seq >= target:
                break
        self._last_seq, conn.prev_id = last, prev_id
        return out, i

    def _accept_next(self, conn: Connection, message: SSEMessage) -> Event | None:
        """The common case of :meth:`_accept` without its coroutine: with ids, the message is the
        next seq (nothing to skip, fill or align). None, having changed nothing, otherwise."""
        event_id = message.id
        if conn.mode != "ids" or message.retry is not None or event_id == conn.prev_id \
                or not (event_id.isascii() and event_id.isdigit()):
            return None
        seq = int(event_id)
        if seq != self._last_seq + 1:
            return None
        conn.prev_id = event_id
        self._last_seq = seq
        return self._record(parse_event(message.event, message.data, seq=seq))

    async def _accept(self, conn: Connection, message: SSEMessage) -> list[Event]:
        """The new events one message brings (none when it repeats what was delivered)."""
        if conn.stream is not None and message.retry is not None:
            self._backoff.retry_ms = message.retry
        event_id = message.id.strip()  # the spec keeps surrounding spaces; a seq has none
        numbered = event_id != conn.prev_id and event_id.isascii() and event_id.isdigit()
        conn.prev_id = event_id
        if conn.mode is None:
            self._choose_mode(conn, numbered)
        if conn.mode == "ids":
            seq = int(event_id) if numbered else None
            event = parse_event(message.event, message.data, seq=seq)
            return await self._accept_numbered(event)
        event = parse_event(message.event, message.data)
        assert conn.aligner is not None
        return await self._apply(conn.aligner.feed(with_logged_time(event, conn.replay_log, conn.aligner.received)))

    def _choose_mode(self, conn: Connection, numbered: bool) -> None:
        conn.mode = "ids" if numbered else "positions"
        if not numbered:
            conn.aligner = ReplayAligner(self._log, trust_marker_count=bool(self._trust))
        if self._ids != numbered:
            self._ids = numbered
            self._set_state(self.state.kind, attempt=self.state.attempt, next_retry_s=self.state.next_retry_s,
                            message=self.state.message)

    async def _accept_numbered(self, event: Event) -> list[Event]:
        seq = event.seq
        if seq is None:  # an event without its own id (e.g. an in-band refusal): not resumable
            return self._deliver([event])
        if seq <= self._last_seq:
            self.duplicates += 1
            return []
        if seq == self._last_seq + 1:
            self._last_seq = seq
            return self._deliver([event])
        filled = await self._fetch_events(self._last_seq, seq - 1)
        if filled is None:  # not to be had: say how many are missing (ids make the count exact)
            missing = seq - 1 - self._last_seq
            filled = [TruncatedEvent(dropped_events=missing, exact=True, raw={"dropped_events": missing})]
        self._last_seq = seq
        return self._deliver([*filled, event])

    async def _apply(self, decisions: list[Deliver | Gap]) -> list[Event]:
        out: list[Event] = []
        for decision in decisions:
            if isinstance(decision, Deliver):
                out += self._deliver([decision.event])
            else:
                out += await self._fill_gap(decision)
        return out

    async def _fill_gap(self, gap: Gap) -> list[Event]:
        """History positions the replay skipped: fetch them, or say they are missing."""
        fetched = await self._fetch_events(gap.start, gap.stop)
        if fetched is not None:
            return self._deliver(fetched)
        self._log.extend([None] * (gap.stop - gap.start))
        return self._deliver([replace(gap.marker, dropped_events=gap.stop - gap.start, exact=True)])

    def _deliver(self, events: list[Event]) -> list[Event]:
        """Record delivered events in the history (a ``truncated`` notice is no position there);
        an event still without a time gets the time it was received."""
        delivered = [self._record(event) for event in events]
        if delivered:
            self._progress()
        return delivered

    def _record(self, event: Event) -> Event:
        """One event on its way out: timed (when it has no time, the time it was received), noted
        in the history (a ``truncated`` notice is no position there) and read for the deployment id."""
        if event.t is None:
            event = replace(event, t=now_ms(), t_source="received")
        if isinstance(event, TruncatedEvent):
            return event
        self._log.append(event)
        if isinstance(event, ErrorEvent):
            self._errored = True
            if self.deployment_id is None and event.deployment_id:
                self.deployment_id = event.deployment_id
        return event

    def _flush(self, conn: Connection) -> list[Event]:
        """At done: settle a pending alignment (no I/O: a gap cannot arise from a flush)."""
        if conn.aligner is None:
            return []
        out = [d.event for d in conn.aligner.flush() if isinstance(d, Deliver)]
        return self._deliver(out)

    async def _fetch_events(self, after: int, upto: int) -> list[Event] | None:
        """Events with seq in ``(after, upto]`` from ``get_deployment_events`` (our server), marked
        backfilled; None when the server has no such operation or they cannot all be read.
        Network failures are retried (pages already read are progress) until the policy gives up."""
        if upto <= after:
            return []
        if not self._events.available or self.deployment_id is None:
            return None
        before = self.state
        rows = await self._events.fetch(self.deployment_id, after, upto, retry=self._retry_after, progress=self._progress)
        if self.state.kind == "reconnecting":  # a retried page: back to what we were doing
            self._set_state(before.kind, message=before.message)
        if rows is None:
            return None
        found = [parse_event(row["event"], row.get("data"), t=row.get("t"), seq=row["seq"] if self._ids else None)
                 for row in rows]
        self._backfilled += len(found)
        return [replace(e, backfilled=True) for e in found]

    # -- the end ----------------------------------------------------------------------------

    async def _verify(self) -> dict[str, Any] | None:
        """A stalled stream: the terminal row if the deploy is over, else None (reconnect)."""
        self._set_state("verifying")
        try:
            row = await self.client.get_deployment(await self._require_id())
        except DeploytuiError as exc:
            if not retryable(exc):
                raise
            return None
        if is_terminal(row.get("status")):
            return row
        self._alive()
        return None

    async def _finish(self, done: DoneEvent | None, *, row: dict[str, Any] | None = None,
                      fetch_rest: bool = False) -> AsyncIterator[Event]:
        """Backfill from the final row, then the done event; set the final state."""
        if row is None:
            row = await self._final_row(done)
        if row is not None:
            self.final_row = row
            if done is not None and isinstance(done.result, dict) and "event_log" in done.result and done.result is not row:
                done = replace(done, result=row, raw={"result": row})  # the stale row Harper sent, read again
            if fetch_rest:
                for event in await self._fetch_rest(row):
                    yield event
            missing = [] if self._complete_by_seq(row) or self._store_behind(row) else \
                [replace(e, backfilled=True) for e in missing_from_log(self._log, row.get("event_log") or [])]
            self._backfilled += len(missing)
            for event in self._deliver(missing):
                yield event
        if done is None and row is not None and row.get("status") != "failed" and not self._errored:
            done = DoneEvent(result=row)
        if done is not None:
            yield done if done.t is not None else replace(done, t=now_ms(), t_source="received")
        error = (row or {}).get("error") if row else None
        message = None
        if isinstance(error, dict) and error.get("message") and (row or {}).get("status") == "failed":
            message = f"the deployment failed: {error['message']}"
        self._set_state("done", message=message)

    def _complete_by_seq(self, row: dict[str, Any]) -> bool:
        """True when the final row can hold no event that was not delivered, without comparing them:
        with ids and no gap, the delivered history is seqs 1..last one position each, and a row
        counting exactly that many events holds those (comparing its ``event_log`` cost ~5-10 ms
        at the end of every replay, a JSON encoding per event key)."""
        if not self._ids or self._log.count != self._last_seq or not self._last_seq:
            return False
        event_log = row.get("event_log")
        if not isinstance(event_log, list):
            return False
        return history_count(event_log, trust_marker_count=bool(self._trust)) == self._last_seq

    def _store_behind(self, row: dict[str, Any]) -> bool:
        """True when, with ids, the final row counts fewer events than the last seq delivered: the
        store lost events that were shown live (a crash before their commit; the seqs it skipped
        came as a marked gap). Every event it still holds was delivered then (a seq is never skipped
        unmarked), so its ``event_log`` has nothing to add, and comparing its tail with ours (which
        goes on past it) would deliver that tail twice."""
        event_log = row.get("event_log")
        if not self._ids or not self._last_seq or not isinstance(event_log, list):
            return False
        total = history_count(event_log, trust_marker_count=bool(self._trust))
        return total is not None and total < self._last_seq

    async def _fetch_rest(self, row: dict[str, Any]) -> list[Event]:
        """After a stall: what the terminal row adds to what was delivered. With ids, everything
        after the last seq from our server's events API. Without, the row's ``event_log`` is what a
        reconnect would replay, so it is aligned as one (a gap filled from the events API, else a
        ``truncated`` notice where it cannot be recovered)."""
        event_log = row.get("event_log") or []
        if self._ids:
            last = history_count(event_log, trust_marker_count=True) or 0
            rest = await self._fetch_events(self._last_seq, last) or []
            if rest:
                self._last_seq = last
            return self._deliver(rest)
        aligner = ReplayAligner(self._log, trust_marker_count=bool(self._trust))
        out: list[Event] = []
        for event in log_events(event_log):
            out += await self._apply(aligner.feed(event))
        return out + await self._apply(aligner.flush())

    async def _final_row(self, done: DoneEvent | None) -> dict[str, Any] | None:
        """The terminal row: ``done``'s result when it is one, else ``get_deployment`` until it
        reports a terminal status (Harper may end a stream before its terminal write, §6.2)."""
        result = done.result if done is not None else None
        if isinstance(result, dict) and "event_log" in result and is_terminal(result.get("status")):
            return result
        if self.deployment_id is None and isinstance(result, dict) and isinstance(result.get("deployment_id"), str):
            self.deployment_id = result["deployment_id"]
        if self.deployment_id is None:
            return None
        return await poll_terminal_row(self.client, self.deployment_id, max(self._stall, 1.0))

    # -- the deployment id ------------------------------------------------------------------

    def _adopt_deployment_id(self, stream: EventStream) -> None:
        if self.deployment_id is None:
            self.deployment_id = stream.response.headers.get("x-deployment-id") or None

    async def _require_id(self) -> str:
        if self.deployment_id is None and self._project is not None:
            self.deployment_id = await find_deployment_id(self.client, self._project, self._started_after)
        if self.deployment_id is None:
            raise DeploytuiError("the deploy stream ended early and did not name its deployment; "
                                 "look it up with list_deployments")
        return self.deployment_id


def attach(client: OperationsClient, deployment_id: str | None, *,
           on_state: Callable[[AttachState], None] | None = None,
           initial_stream: EventStream | None = None,
           stall_timeout: float = 30.0,
           retry: RetryPolicy | None = None,
           project: str | None = None,
           started_after_ms: int | None = None,
           trust_marker_count: bool | None = None,
           events_api: bool | None = None) -> Attachment:
    """Follow a deployment's events: replay, then live, exactly once, across reconnects.

    ``initial_stream`` is deploy_component's own (unread) event stream, consumed first;
    ``deployment_id`` may then be None (taken from ``X-Deployment-Id``, the events, or
    ``project`` + ``started_after_ms`` through :func:`find_deployment_id`). ``trust_marker_count``
    overrides the detection of our server's cumulative ``truncated`` counts and ``events_api`` that
    of its ``get_deployment_events`` (None: ask the server; False: behave as against Harper).
    ``retry`` defaults to the client's policy (the one its reads use).
    """
    return Attachment(client, deployment_id, on_state=on_state, initial_stream=initial_stream,
                      stall_timeout=stall_timeout, retry=retry, project=project,
                      started_after_ms=started_after_ms, trust_marker_count=trust_marker_count,
                      events_api=events_api)
