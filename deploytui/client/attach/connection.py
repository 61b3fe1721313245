"""One event stream read by a background task into a queue, for :mod:`.attachment`.

* :class:`Connection` reads one stream in a background task into a bounded queue, so a stall can
  be noticed without cancelling a read in the middle (the reader task is cancelled as a whole).
  The queue holds a batch of messages per network read: a replay costs a queue round trip per
  read, not per event.
  The stall clock counts *bytes*, keepalive comments included, and only while the reader waits on
  the network: time it spends blocked on a full queue (a slow consumer, e.g. one filling a gap
  out of band) is not silence.
* :func:`in_band_refusal` reads an operation's refusal sent inside its event stream (HTTP 200,
  then an ``error`` with a code) as the typed error of the same HTTP answer.

Nothing here decides what is new: that is :mod:`.alignment` and the attachment.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, Literal

import httpx

from deploytui.client.attach.alignment import ReplayAligner, log_events
from deploytui.client.errors import DeploytuiError, ProtocolError, error_from_response
from deploytui.client.sse import EventStream, connection_failed
from deploytui.protocol.events import Event
from deploytui.protocol.sse import SSEMessage

__all__ = [
    "EOF",
    "OPENED",
    "STALLED",
    "Connection",
    "Failure",
    "Outcome",
    "in_band_refusal",
]

QUEUE_SIZE = 32  # batches of messages, each what one network read (≤ 64 KiB) completed

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
    """One event stream read into a bounded queue (see the module docstring)."""

    def __init__(self, open_stream: Callable[[], Any] | None, stream: EventStream | None = None) -> None:
        self.stream = stream
        self.last_activity = time.monotonic()
        self.prev_id = ""
        self.mode: Literal["ids", "positions"] | None = None
        self.aligner: ReplayAligner | None = None
        self.replay_target: int | None = None  # history count when connected (None: unknown)
        self.replay_len: int | None = None  # event_log length when connected
        self.all_replay = False  # the row was terminal when connected
        self.replay_entries: list[Any] = []  # the row's event_log read just before connecting (its times)
        self._replay_log: list[Event] | None = None
        self._owned = stream is None
        self._queue: asyncio.Queue[Any] = asyncio.Queue(QUEUE_SIZE)
        self._task = asyncio.create_task(self._fill_queue(open_stream))

    @property
    def replay_log(self) -> list[Event]:
        """:attr:`replay_entries` as typed events, parsed when first wanted (only an id-less replay
        takes times from them)."""
        if self._replay_log is None:
            self._replay_log = log_events(self.replay_entries)
        return self._replay_log

    def _touch(self) -> None:
        self.last_activity = time.monotonic()

    async def _fill_queue(self, open_stream: Callable[[], Any] | None) -> None:
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
        while batch := await stream.next_batch():
            if self._queue.full():
                await self._queue.put(batch)
                self._touch()  # blocked by the consumer, not by the network: the wait is no silence
            else:
                self._queue.put_nowait(batch)
                # A replay's bytes are already buffered, so reading does not suspend: without this,
                # one step parsed all of them (~6 ms) beside a frame. A 100,000-line replay's p99
                # loop gap went 27 -> 22 ms at 80x24, 35 -> 27 at 160x48 (6 interleaved replays).
                await asyncio.sleep(0)

    async def next(self, stall_timeout: float) -> Any:
        """The next batch of messages (a non-empty list: what one network read completed) or
        marker; :data:`STALLED` after ``stall_timeout`` s without a byte."""
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
