"""``attach()``: one deployment's events as one stitched, resumable, exactly-once stream.

It replays the history, tails live events, and ends at ``done`` (or at the ``error`` of a failed
deploy). Under it, connections come and go:

* **Resuming.** A dropped connection, a restarted server or a cut proxy is reconnected with capped,
  jittered backoff whose base is the server's ``retry:`` (:func:`~deploytui.client.sse.backoff_delays`).
  With event ids (our server) the reconnect sends ``Last-Event-ID`` and events are deduplicated by
  seq; a seq jump is filled from ``get_deployment_events``. Without ids (Harper: every reconnect
  replays the bounded ``event_log`` then live) the replay is aligned with what was already
  delivered by :class:`~deploytui.client.attach_align.ReplayAligner` — see that module for the
  algorithm and its limits.
* **Reconciling.** At the end the final row's ``event_log`` is compared with what was delivered
  and anything the stream missed (Harper's read-before-subscribe gap, contract §6.2) is delivered
  with ``backfilled=True`` *before* the ``done`` event, so the caller sees the whole story, then done.
* **Stalls.** No byte for ``stall_timeout`` seconds (our server sends a keepalive every 15 s, Harper
  none) puts the attachment in ``verifying``: ``get_deployment`` says whether the deploy is over
  (then it finishes from the row) or still running (then it reconnects).
* **Errors.** 401/403/404, a non-SSE answer and other refusals are permanent: state ``failed``
  and the typed error is raised. Network errors and 5xx are retried until
  :attr:`RetryPolicy.give_up_after_s` pass without progress. A 204 ends the stream quietly.

States (:class:`AttachState`, via ``on_state`` and ``.state``): ``connecting``; ``replaying`` while
the connection is still sending history — until the position reached the history length the row
reported just before connecting (with ids, our server's cumulative ``event_log`` count gives it;
against Harper, until as many events arrived as its ``event_log`` holds), or to the end when the
row was already terminal; ``live``; ``reconnecting`` (attempt, next try in s); ``verifying``;
``done`` (``message`` set when the deploy failed or the server stopped the stream); ``failed``.

The deploy case: pass deploy_component's own event stream as ``initial_stream`` (unread); it is
consumed first and, if it drops, the deployment is followed through ``get_deployment`` — its id
from our server's ``X-Deployment-Id`` header, the events, or :func:`find_deployment_id`.

No Textual here: this module is used by the dashboard and the headless commands alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, replace
from typing import Any, Literal, Self

import httpx

from deploytui.client.api import OperationsClient
from deploytui.client.attach_align import (
    Deliver,
    DeliveredLog,
    Gap,
    ReplayAligner,
    history_count,
    missing_from_log,
)
from deploytui.client.errors import (
    ConnectionFailed,
    DeploytuiError,
    NotSupported,
    ProtocolError,
    ServerError,
    StreamClosed,
)
from deploytui.client.sse import EventStream, backoff_delays, connection_failed
from deploytui.protocol.deployment import is_terminal
from deploytui.protocol.events import (
    DoneEvent,
    ErrorEvent,
    Event,
    TruncatedEvent,
    parse_event,
)
from deploytui.protocol.sse import SSEMessage

__all__ = ["AttachState", "Attachment", "RetryPolicy", "attach", "find_deployment_id"]

StateKind = Literal["connecting", "replaying", "live", "reconnecting", "verifying", "done", "failed"]
_QUEUE_SIZE = 256
_EVENTS_PAGE = 10_000


@dataclass(frozen=True)
class AttachState:
    """What the attachment is doing, for the UI."""

    kind: StateKind
    attempt: int = 0  # reconnect attempt number (reconnecting)
    next_retry_s: float | None = None
    backfilled: int = 0  # events recovered out of band (final event_log, events API)
    message: str | None = None  # human detail (the error for "failed")
    ids: bool = True  # False when the server sends no event ids (Harper)


@dataclass(frozen=True)
class RetryPolicy:
    """Reconnect timing. ``initial_delay_ms`` applies until the server sends ``retry:``;
    delays grow exponentially up to ``cap_ms`` with jitter. Give up after ``give_up_after_s``
    without progress (a delivered event), or after ``max_attempts`` consecutive failures."""

    initial_delay_ms: int = 1000
    cap_ms: int = 30_000
    give_up_after_s: float = 300.0
    max_attempts: int | None = None


async def find_deployment_id(client: OperationsClient, project: str,
                             started_after_ms: int | None = None) -> str | None:
    """The id of ``project``'s newest deployment started at or after ``started_after_ms`` (epoch
    ms), for a Harper deploy stream that dropped before naming its deployment."""
    listing = await client.list_deployments(project=project, limit=5)
    for row in listing.get("deployments") or []:
        if started_after_ms is None or (row.get("started_at") or 0) >= started_after_ms:
            return row.get("deployment_id")
    return None


# ---- one connection, read by a background task -----------------------------------------------

_OPENED, _EOF, _STALLED = object(), object(), object()


@dataclass(frozen=True, slots=True)
class _Failure:
    error: DeploytuiError
    opened: bool  # True when the stream had been accepted (a drop), False when opening failed


class _ActivityStream(httpx.AsyncByteStream):
    """Wraps a response body to note the time of every chunk (keepalive comments included)."""

    def __init__(self, inner: Any, touch: Callable[[], None]) -> None:
        self._inner, self._touch = inner, touch

    async def __aiter__(self) -> AsyncIterator[bytes]:
        async for chunk in self._inner:
            self._touch()
            yield chunk

    async def aclose(self) -> None:
        await self._inner.aclose()


class _Connection:
    """One event stream pumped into a bounded queue, so a stall can be noticed without
    cancelling a read in the middle (the pump task is cancelled as a whole instead)."""

    def __init__(self, open_stream: Callable[[], Any] | None, stream: EventStream | None = None) -> None:
        self.stream = stream
        self.last_activity = time.monotonic()
        self.prev_id = ""
        self.mode: Literal["ids", "positions"] | None = None
        self.aligner: ReplayAligner | None = None
        self.replay_target: int | None = None  # history count when connected (None: unknown)
        self.replay_len: int | None = None  # event_log length when connected
        self.all_replay = False  # the row was terminal when connected
        self._owned = stream is None
        self._queue: asyncio.Queue[Any] = asyncio.Queue(_QUEUE_SIZE)
        self._task = asyncio.create_task(self._pump(open_stream))

    def _touch(self) -> None:
        self.last_activity = time.monotonic()

    async def _pump(self, open_stream: Callable[[], Any] | None) -> None:
        opened = False
        try:
            if self.stream is not None:
                opened = True
                await self._read(self.stream)
            else:
                async with open_stream() as stream:  # type: ignore[misc]
                    self.stream, opened = stream, True
                    await self._read(stream)
            await self._queue.put(_EOF)
        except DeploytuiError as exc:
            await self._queue.put(_Failure(exc, opened))
        except (httpx.TransportError, httpx.StreamError) as exc:
            url = self.stream.response.url if self.stream else "the server"
            await self._queue.put(_Failure(connection_failed(exc, str(url), doing="keep reading from"), opened))
        except Exception as exc:  # noqa: BLE001 - a bug must reach the reader, not die with the task
            await self._queue.put(_Failure(ProtocolError(f"reading the event stream failed: {exc!r}"), opened))

    async def _read(self, stream: EventStream) -> None:
        response = stream.response
        if not isinstance(response.stream, _ActivityStream):
            response.stream = _ActivityStream(response.stream, self._touch)
        self._touch()
        await self._queue.put(_OPENED)
        async for message in stream:
            await self._queue.put(message)

    async def next(self, stall_timeout: float) -> Any:
        """The next message or marker; :data:`_STALLED` after ``stall_timeout`` s without a byte."""
        queue = self._queue
        if not queue.empty():
            return queue.get_nowait()
        while True:
            remaining = self.last_activity + stall_timeout - time.monotonic()
            if remaining <= 0:
                return _STALLED
            try:
                return await asyncio.wait_for(queue.get(), remaining)
            except TimeoutError:
                continue  # maybe bytes (a keepalive) arrived meanwhile: check again

    async def close(self) -> None:
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        if not self._owned and self.stream is not None:
            await self.stream.aclose()


# ---- the attachment ----------------------------------------------------------------------------


class _Outcome:
    """How reading one connection ended."""

    def __init__(self, kind: str, *, error: DeploytuiError | None = None, done: DoneEvent | None = None) -> None:
        self.kind = kind  # "done" | "error_end" | "stalled" | "dropped" | "refused"
        self.error = error
        self.done = done


class Attachment:
    """An async iterator of a deployment's typed events (see the module docstring).

    ``state`` is the latest :class:`AttachState`; ``final_row`` the terminal row once known.
    Use ``async for event in attachment`` (optionally inside ``async with``) and :meth:`aclose`.
    """

    def __init__(self, client: OperationsClient, deployment_id: str | None, *,
                 on_state: Callable[[AttachState], None] | None = None,
                 initial_stream: EventStream | None = None, stall_timeout: float = 30.0,
                 retry: RetryPolicy = RetryPolicy(), project: str | None = None,
                 started_after_ms: int | None = None, trust_marker_count: bool | None = None) -> None:
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
        self._retry = retry
        self._project, self._started_after = project, started_after_ms
        self._trust = trust_marker_count  # None: decided by asking the server what it is
        self._events_api: bool | None = None  # does the server offer get_deployment_events?
        self._log = DeliveredLog()
        self._last_seq = 0
        self._ids = True
        self._backfilled = 0
        self._errored = False
        self._retry_ms: int | None = None
        self._attempt = 0
        self._last_progress = time.monotonic()
        self._conn: _Connection | None = None
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
        self._attempt = 0
        self._last_progress = time.monotonic()

    # -- the main loop --------------------------------------------------------------------

    async def _run(self) -> AsyncIterator[Event]:
        try:
            if self._initial is not None:
                self._set_state("live")
                self._conn = _Connection(None, self._initial)
                self._adopt_deployment_id(self._initial)
            while True:
                if self._conn is None:
                    opened = await self._open()
                    if isinstance(opened, dict):  # over, and everything was delivered already
                        async for event in self._finish(None, row=opened):
                            yield event
                        return
                    self._conn = opened
                outcome = _Outcome("dropped")
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
                    await self._backoff(None)
                    continue
                error = outcome.error
                if isinstance(error, StreamClosed):
                    self._set_state("done", message=str(error))
                    return
                if error is not None and not _retryable(error):
                    raise error
                await self._backoff(error)
        except DeploytuiError as exc:
            self._set_state("failed", message=str(exc))
            raise
        finally:
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

    async def _open(self) -> _Connection | dict[str, Any]:
        """Check the row, then open ``get_deployment``'s event stream (retrying what is retryable).

        Returns the row instead when it is terminal and every event it counts was delivered: a
        reconnect just before ``done`` then needs no replay at all.
        """
        while True:
            try:
                deployment_id = await self._require_id()
                row = await self.client.get_deployment(deployment_id)
                await self._learn_server()
                if is_terminal(row.get("status")) and self._delivered_all(row):
                    return row
                body = {"operation": "get_deployment", "deployment_id": deployment_id}
                resume = str(self._last_seq) if self._last_seq else None
                conn = _Connection(functools.partial(self.client.stream_events, body, last_event_id=resume))
                self._plan_replay(conn, row)
                return conn
            except DeploytuiError as exc:
                if not _retryable(exc):
                    raise
                await self._backoff(exc)

    def _delivered_all(self, row: dict[str, Any]) -> bool:
        log = row.get("event_log") if isinstance(row.get("event_log"), list) else []
        total = history_count(log, trust_marker_count=bool(self._trust))
        if total is None or (self._log.count == 0 and total > 0):
            return False
        return (self._last_seq if self._ids else self._log.count) >= total

    def _plan_replay(self, conn: _Connection, row: dict[str, Any]) -> None:
        log = row.get("event_log") if isinstance(row.get("event_log"), list) else []
        conn.all_replay = is_terminal(row.get("status"))
        conn.replay_len = len(log)
        conn.replay_target = history_count(log, trust_marker_count=bool(self._trust))

    async def _learn_server(self) -> None:
        """Once: is this our server (cumulative truncation counts, an events API) or Harper?"""
        if self._events_api is not None:
            return
        try:
            info = await self.client.registration_info()
            ours = isinstance(info, dict) and info.get("product") == "deploytui"
        except DeploytuiError as exc:
            if not _retryable(exc):
                ours = False
            else:
                raise
        self._events_api = ours
        if self._trust is None:
            self._trust = ours

    async def _backoff(self, error: DeploytuiError | None) -> None:
        """Wait before the next attempt, or give up (raising) when the policy says so."""
        policy = self._retry
        out_of_time = time.monotonic() - self._last_progress > policy.give_up_after_s
        out_of_attempts = policy.max_attempts is not None and self._attempt >= policy.max_attempts
        if out_of_time or out_of_attempts:
            why = error or ConnectionFailed("the event stream kept stalling")
            raise ConnectionFailed(f"gave up reconnecting after {self._attempt} attempts: {why}") from error
        base = self._retry_ms if self._retry_ms is not None else policy.initial_delay_ms
        delay = backoff_delays(base, self._attempt, cap_ms=policy.cap_ms)
        self._attempt += 1
        self._set_state("reconnecting", attempt=self._attempt, next_retry_s=delay,
                        message=str(error) if error else None)
        await asyncio.sleep(delay)

    # -- reading one connection -----------------------------------------------------------

    async def _read(self, conn: _Connection, outcome: _Outcome) -> AsyncIterator[Event]:
        while True:
            item = await conn.next(self._stall)
            if isinstance(item, SSEMessage):
                if item.event == DoneEvent.name:
                    for event in self._flush(conn):
                        yield event
                    outcome.kind, outcome.done = "done", parse_event(item.event, item.data)  # type: ignore[assignment]
                    return
                for event in await self._accept(conn, item):
                    yield event
                if self.state.kind == "replaying" and self._caught_up(conn):
                    self._set_state("live")
                continue
            if item is _OPENED:
                self._on_opened(conn)
                continue
            if self._errored:  # the failed deploy's stream is over, however it ended
                outcome.kind = "error_end"
            elif item is _STALLED:
                outcome.kind = "stalled"
            elif isinstance(item, _Failure):
                outcome.kind = "dropped" if item.error.retryable else "refused"
                outcome.error = item.error
            # _EOF: the server closed the stream without done: reconnect
            return

    def _on_opened(self, conn: _Connection) -> None:
        if conn.stream is not None and conn.stream.retry_ms is not None:
            self._retry_ms = conn.stream.retry_ms
        if conn.replay_len is None:  # the initial (deploy) stream: live from the start
            return
        self._set_state("replaying")
        if not conn.all_replay and conn.replay_target == 0:
            self._set_state("live")

    def _caught_up(self, conn: _Connection) -> bool:
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

    async def _accept(self, conn: _Connection, message: SSEMessage) -> list[Event]:
        """The new events one message brings (none when it repeats what was delivered)."""
        if conn.stream is not None and message.retry is not None:
            self._retry_ms = message.retry
        numbered = message.id != conn.prev_id and message.id.isdigit()
        conn.prev_id = message.id
        if conn.mode is None:
            self._choose_mode(conn, numbered)
        if conn.mode == "ids":
            seq = int(message.id) if numbered else None
            event = parse_event(message.event, message.data, seq=seq)
            return await self._accept_numbered(event)
        event = parse_event(message.event, message.data)
        assert conn.aligner is not None
        return await self._apply(conn.aligner.feed(event))

    def _choose_mode(self, conn: _Connection, numbered: bool) -> None:
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
        filled = await self._fetch_events(self._last_seq, seq - 1) or []
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
        return self._deliver([replace(gap.marker, dropped_events=gap.stop - gap.start)])

    def _deliver(self, events: list[Event]) -> list[Event]:
        """Record delivered events in the history (a ``truncated`` notice is no position there)."""
        for event in events:
            if not isinstance(event, TruncatedEvent):
                self._log.append(event)
        if events:
            if self.deployment_id is None:
                self._adopt_id_from(events)
            if any(isinstance(e, ErrorEvent) for e in events):
                self._errored = True
            self._progress()
        return events

    def _flush(self, conn: _Connection) -> list[Event]:
        """At done: settle a pending alignment (no I/O: a gap cannot arise from a flush)."""
        if conn.aligner is None:
            return []
        out = [d.event for d in conn.aligner.flush() if isinstance(d, Deliver)]
        return self._deliver(out)

    async def _fetch_events(self, after: int, upto: int) -> list[Event] | None:
        """Events with seq in ``(after, upto]`` from ``get_deployment_events`` (our server), marked
        backfilled; None when the server has no such operation or they cannot all be read."""
        if not self._events_api or self.deployment_id is None or upto <= after:
            return None if upto > after else []
        found: list[Event] = []
        cursor = after
        try:
            while cursor < upto:
                page = await self.client.get_deployment_events(
                    self.deployment_id, after_seq=cursor, limit=min(_EVENTS_PAGE, upto - cursor))
                rows = page.get("events") or []
                if not rows:
                    break
                for row in rows:
                    found.append(parse_event(row["event"], row["data"], t=row.get("t"),
                                             seq=row["seq"] if self._ids else None))
                cursor = rows[-1]["seq"]
        except NotSupported:
            self._events_api = False
            return None
        except DeploytuiError:
            return None
        if len(found) != upto - after:
            return None
        self._backfilled += len(found)
        return [replace(e, backfilled=True) for e in found]

    # -- the end ----------------------------------------------------------------------------

    async def _verify(self) -> dict[str, Any] | None:
        """A stalled stream: the terminal row if the deploy is over, else None (reconnect)."""
        self._set_state("verifying")
        try:
            row = await self.client.get_deployment(await self._require_id())
        except DeploytuiError as exc:
            if not _retryable(exc):
                raise
            return None
        return row if is_terminal(row.get("status")) else None

    async def _finish(self, done: DoneEvent | None, *, row: dict[str, Any] | None = None,
                      fetch_rest: bool = False) -> AsyncIterator[Event]:
        """Backfill from the final row, then the done event; set the final state."""
        if row is None:
            row = await self._final_row(done)
        if row is not None:
            self.final_row = row
            if fetch_rest:
                for event in await self._fetch_rest(row):
                    yield event
            missing = [replace(e, backfilled=True) for e in missing_from_log(self._log, row.get("event_log") or [])]
            self._backfilled += len(missing)
            for event in self._deliver(missing):
                yield event
        if done is None and row is not None and row.get("status") != "failed" and not self._errored:
            done = DoneEvent(result=row)
        if done is not None:
            yield done
        error = (row or {}).get("error") if row else None
        message = None
        if isinstance(error, dict) and error.get("message") and (row or {}).get("status") == "failed":
            message = f"the deployment failed: {error['message']}"
        self._set_state("done", message=message)

    async def _fetch_rest(self, row: dict[str, Any]) -> list[Event]:
        """After a stall: everything after what was delivered, from our server's events API."""
        last = history_count(row.get("event_log") or [], trust_marker_count=True) or 0
        after = self._last_seq if self._ids else self._log.count
        rest = await self._fetch_events(after, last) or []
        if self._ids and rest:
            self._last_seq = last
        return self._deliver(rest)

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
        deadline = time.monotonic() + max(self._stall, 1.0)
        delay = 0.02
        row: dict[str, Any] | None = None
        while True:
            try:
                row = await self.client.get_deployment(self.deployment_id)
            except DeploytuiError as exc:
                if not _retryable(exc) or time.monotonic() > deadline:
                    return row
            else:
                if is_terminal(row.get("status")) or time.monotonic() > deadline:
                    return row
            await asyncio.sleep(delay)
            delay = min(delay * 2, 0.5)

    # -- the deployment id ------------------------------------------------------------------

    def _adopt_deployment_id(self, stream: EventStream) -> None:
        if self.deployment_id is None:
            self.deployment_id = stream.response.headers.get("x-deployment-id") or None

    def _adopt_id_from(self, events: list[Event]) -> None:
        for event in events:
            if isinstance(event, ErrorEvent) and event.deployment_id:
                self.deployment_id = event.deployment_id
                return

    async def _require_id(self) -> str:
        if self.deployment_id is None and self._project is not None:
            self.deployment_id = await find_deployment_id(self.client, self._project, self._started_after)
        if self.deployment_id is None:
            raise DeploytuiError("the deploy stream ended early and did not name its deployment; "
                                 "look it up with list_deployments")
        return self.deployment_id


def _retryable(error: DeploytuiError) -> bool:
    """Network failures and server errors (a restarting server) are worth another try."""
    return error.retryable or isinstance(error, ServerError)


def attach(client: OperationsClient, deployment_id: str | None, *,
           on_state: Callable[[AttachState], None] | None = None,
           initial_stream: EventStream | None = None,
           stall_timeout: float = 30.0,
           retry: RetryPolicy = RetryPolicy(),
           project: str | None = None,
           started_after_ms: int | None = None,
           trust_marker_count: bool | None = None) -> Attachment:
    """Follow a deployment's events: replay, then live, exactly once, across reconnects.

    ``initial_stream`` is deploy_component's own (unread) event stream, consumed first;
    ``deployment_id`` may then be None (taken from ``X-Deployment-Id``, the events, or
    ``project`` + ``started_after_ms`` through :func:`find_deployment_id`). ``trust_marker_count``
    overrides the detection of our server's cumulative ``truncated`` counts (None: ask the server).
    """
    return Attachment(client, deployment_id, on_state=on_state, initial_stream=initial_stream,
                      stall_timeout=stall_timeout, retry=retry, project=project,
                      started_after_ms=started_after_ms, trust_marker_count=trust_marker_count)
