"""The I/O under :mod:`deploytui.client.attach`: one event stream pumped into a queue, and the
out-of-band reads (our server's ``get_deployment_events``, the terminal row).

* :class:`Connection` reads one stream in a background task into a bounded queue, so a stall can
  be noticed without cancelling a read in the middle (the pump task is cancelled as a whole).
  The stall clock counts *bytes*, keepalive comments included, and only while the pump waits on
  the network: time the pump spends blocked on a full queue (a slow consumer, e.g. one filling a
  gap out of band) is not silence.
* :class:`EventsFetcher` reads a seq range of the full history page by page. A retryable failure
  (a cut connection, a 5xx) halves the page (a path that cuts long answers still lets small pages
  through) and is retried through the caller's backoff, which gives up by its own policy; pages
  already read are kept, and each one counts as progress.
* :func:`in_band_refusal` reads an operation's refusal sent inside its event stream (HTTP 200,
  then an ``error`` with a code) as the typed error of the same HTTP answer.
* :func:`poll_terminal_row` re-reads a row until it is terminal (Harper may end a stream before its
  terminal write, contract §6.2).

Nothing here decides what is new: that is :mod:`deploytui.client.attach_align` and the attachment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from deploytui.client.api import OperationsClient
from deploytui.client.attach_align import ReplayAligner
from deploytui.client.errors import (
    DeploytuiError,
    NotSupported,
    ProtocolError,
    error_from_response,
)
from deploytui.client.retry import retryable
from deploytui.client.sse import EventStream, connection_failed
from deploytui.protocol.events import Event
from deploytui.protocol.sse import SSEMessage
from deploytui.protocol.deployment import is_terminal

__all__ = [
    "EOF",
    "OPENED",
    "STALLED",
    "Connection",
    "EventsFetcher",
    "Failure",
    "Outcome",
    "find_deployment_id",
    "in_band_refusal",
    "poll_terminal_row",
    "retryable",
]

QUEUE_SIZE = 256
EVENTS_PAGE = 10_000  # the largest page asked of get_deployment_events
MIN_EVENTS_PAGE = 25  # pages never shrink below this after failures

OPENED, EOF, STALLED = object(), object(), object()


def in_band_refusal(message: SSEMessage, operation: str) -> DeploytuiError | None:
    """An operation refused in its event stream (HTTP 200, then an ``error`` with an HTTP-style
    ``code`` and neither a deploy ``phase`` nor a ``deployment_id``: Harper's answer to an unknown
    id) as the typed error of the same HTTP answer (400 "No deployment found" is NotFoundError, a
    5xx a retryable ServerError); None for any other message."""
    if message.event != "error":
        return None
    try:
        data = json.loads(message.data)
    except ValueError:
        return None
    if not isinstance(data, dict) or "phase" in data or "deployment_id" in data:
        return None
    code = data.get("code")
    if not isinstance(code, int) or not 400 <= code < 600:
        return None
    return error_from_response(code, message.data.encode(), "application/json", operation=operation)


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


@dataclass(frozen=True, slots=True)
class Failure:
    error: DeploytuiError
    opened: bool  # True when the stream had been accepted (a drop), False when opening failed


class Outcome:
    """How reading one connection ended."""

    def __init__(self, kind: str, *, error: DeploytuiError | None = None, done: Any = None) -> None:
        self.kind = kind  # "done" | "error_end" | "stalled" | "dropped" | "refused"
        self.error = error
        self.done = done


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


class Connection:
    """One event stream pumped into a bounded queue (see the module docstring)."""

    def __init__(self, open_stream: Callable[[], Any] | None, stream: EventStream | None = None) -> None:
        self.stream = stream
        self.last_activity = time.monotonic()
        self.prev_id = ""
        self.mode: Literal["ids", "positions"] | None = None
        self.aligner: ReplayAligner | None = None
        self.replay_target: int | None = None  # history count when connected (None: unknown)
        self.replay_len: int | None = None  # event_log length when connected
        self.all_replay = False  # the row was terminal when connected
        self.replay_log: list[Event] = []  # the row's event_log read just before connecting (its times)
        self._owned = stream is None
        self._queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE)
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
            await self._queue.put(EOF)
        except DeploytuiError as exc:
            await self._queue.put(Failure(exc, opened))
        except (httpx.TransportError, httpx.StreamError) as exc:
            url = self.stream.response.url if self.stream else "the server"
            await self._queue.put(Failure(connection_failed(exc, str(url), doing="keep reading from"), opened))
        except Exception as exc:  # noqa: BLE001 - a bug must reach the reader, not die with the task
            await self._queue.put(Failure(ProtocolError(f"reading the event stream failed: {exc!r}"), opened))

    async def _read(self, stream: EventStream) -> None:
        response = stream.response
        if not isinstance(response.stream, _ActivityStream):
            response.stream = _ActivityStream(response.stream, self._touch)
        self._touch()
        await self._queue.put(OPENED)
        async for message in stream:
            if self._queue.full():
                await self._queue.put(message)
                self._touch()  # blocked by the consumer, not by the network: the wait is no silence
            else:
                self._queue.put_nowait(message)

    async def next(self, stall_timeout: float) -> Any:
        """The next message or marker; :data:`STALLED` after ``stall_timeout`` s without a byte."""
        queue = self._queue
        if not queue.empty():
            return queue.get_nowait()
        while True:
            remaining = self.last_activity + stall_timeout - time.monotonic()
            if remaining <= 0:
                return STALLED
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


# ---- out of band -------------------------------------------------------------------------------


class EventsFetcher:
    """Our server's full history, read in pages that adapt to what the path lets through.

    ``available`` is None until known, False once the server said it has no such operation.
    """

    def __init__(self, client: OperationsClient) -> None:
        self.client = client
        self.available: bool | None = None
        self.page = EVENTS_PAGE

    async def fetch(self, deployment_id: str, after: int, upto: int, *,
                    retry: Callable[[DeploytuiError], Awaitable[None]],
                    progress: Callable[[], None]) -> list[dict[str, Any]] | None:
        """The stored events with seq in ``(after, upto]``, in order; None when they cannot all be
        read (no such operation, a permanent refusal, or fewer stored). A retryable failure is
        retried after ``await retry(error)``, which raises to give up."""
        found: list[dict[str, Any]] = []
        cursor = after
        while cursor < upto:
            try:
                # Sent once (call, not the retried read): a failed page is retried smaller, here.
                page = await self.client.call("get_deployment_events", deployment_id=deployment_id,
                                              after_seq=cursor, limit=min(self.page, upto - cursor))
            except NotSupported:
                self.available = False
                return None
            except DeploytuiError as exc:
                if not retryable(exc):
                    return None
                self.page = max(MIN_EVENTS_PAGE, self.page // 2)
                await retry(exc)
                continue
            rows = [r for r in page.get("events") or []
                    if isinstance(r, dict) and isinstance(r.get("seq"), int) and cursor < r["seq"] <= upto]
            if not rows:
                break
            found += rows
            cursor = rows[-1]["seq"]
            progress()
        return found if len(found) == upto - after else None


async def poll_terminal_row(client: OperationsClient, deployment_id: str, wait_s: float) -> dict[str, Any] | None:
    """``get_deployment`` until it reports a terminal status or ``wait_s`` pass; the last row read."""
    deadline = time.monotonic() + wait_s
    delay = 0.02
    row: dict[str, Any] | None = None
    while True:
        try:
            row = await client.get_deployment(deployment_id)
        except DeploytuiError as exc:
            if not retryable(exc) or time.monotonic() > deadline:
                return row
        else:
            if is_terminal(row.get("status")) or time.monotonic() > deadline:
                return row
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)
