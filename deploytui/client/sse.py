"""Opening a Server-Sent Events stream over httpx, checked before it is read.

Harper's event streams are a ``POST`` of the operation JSON with ``Accept: text/event-stream``
(contract §4.1). :func:`open_event_stream` sends that request and, *before* anything is iterated,
applies the spec's "fail the connection" rules (WHATWG HTML §9.2.3): the status must
be 200 and the content type's essence ``text/event-stream``. Harper's own refusals (401, 403, …) are
JSON, so they become the typed errors of :mod:`deploytui.client.errors`; 204 is the server saying
"stop" and raises :class:`StreamClosed`. The body is parsed by our spec-correct
:class:`~deploytui.protocol.sse.SSEDecoder` rather than httpx-sse's event parser, which departs
from the spec (see :mod:`deploytui.protocol.sse`).

Timeouts: streams can be silent for minutes (Harper sends no keepalives; a long install prints
nothing), so pass a client or request timeout with no short read limit —
:data:`STREAM_TIMEOUT` (connect 10 s, read unlimited) is the recommended one. Detecting a stalled
stream is the caller's job (:mod:`deploytui.client.attach`), which knows what silence means.

Reconnection is the caller's too, through :class:`~deploytui.client.retry.Backoff`: the server's
``retry:`` (:attr:`EventStream.retry_ms`) as the base, exponential growth after repeated failures,
a cap, and jitter.
"""

from __future__ import annotations

import socket
import ssl
from collections import deque
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import httpx

from deploytui.client.errors import (
    ConnectionFailed,
    ProtocolError,
    StreamClosed,
    decode_body,
    error_from_response,
)
from deploytui.protocol.sse import SSEDecoder, SSEMessage

__all__ = [
    "STREAM_TIMEOUT",
    "EventStream",
    "StreamClosed",
    "open_event_stream",
    "sendable_event_id",
    "is_event_stream",
    "connection_failed",
]

# Recommended timeout for event streams: fail fast on connect, never on a silent stream.
STREAM_TIMEOUT = httpx.Timeout(connect=10.0, read=None, write=30.0, pool=10.0)
# How much of an error body is read before giving up on it (an error could be an endless stream).
_ERROR_BODY_LIMIT = 64 * 1024


def is_event_stream(content_type: str | None) -> bool:
    """True when the MIME essence is ``text/event-stream`` (case-insensitive; parameters allowed)."""
    if not content_type:
        return False
    return content_type.partition(";")[0].strip().lower() == "text/event-stream"


def connection_failed(exc: Exception, url: str | httpx.URL, *, doing: str = "connect to") -> ConnectionFailed:
    """A plain :class:`ConnectionFailed` for an httpx (or OS) network exception."""
    cause = _describe_network_error(exc)
    error = ConnectionFailed(f"could not {doing} {url}: {cause}", url=str(url))
    error.__cause__ = exc
    return error


def _causes(exc: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    return chain


def _describe_network_error(exc: Exception) -> str:
    chain = _causes(exc)
    if any(isinstance(c, ConnectionRefusedError) for c in chain):
        return "connection refused (is the server running?)"
    if any(isinstance(c, socket.gaierror) for c in chain):
        return "host name not found (DNS)"
    if any(isinstance(c, ssl.SSLCertVerificationError) for c in chain):
        return "TLS certificate not trusted; for a self-signed server, turn TLS verification off"
    text = str(exc) or type(exc).__name__
    lowered = text.lower()
    if isinstance(exc, httpx.ConnectTimeout):
        return "timed out while connecting"
    if isinstance(exc, httpx.ReadTimeout):
        return "timed out waiting for data"
    if isinstance(exc, httpx.WriteTimeout):
        return "timed out while sending"
    if isinstance(exc, httpx.PoolTimeout):
        return "timed out waiting for a free connection"
    if "refused" in lowered:
        return "connection refused (is the server running?)"
    if "name or service not known" in lowered or "nodename nor servname" in lowered or "getaddrinfo" in lowered:
        return "host name not found (DNS)"
    if "wrong version number" in lowered or "record layer failure" in lowered:
        # a plain-HTTP server answered a TLS hello: a scheme problem, not a certificate one
        return "TLS handshake failed: the server does not speak https on this port; if it serves plain HTTP, use an http:// URL"
    if "certificate" in lowered or "ssl" in lowered or "tls" in lowered:
        return f"TLS failed ({text}); for a self-signed server, turn TLS verification off"
    if isinstance(exc, httpx.RemoteProtocolError) or "incomplete" in lowered or "peer closed" in lowered:
        return f"the connection was cut off ({text})"
    return text


async def _read_limited(response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_bytes():
        body += chunk
        if len(body) >= _ERROR_BODY_LIMIT:
            break
    return bytes(body[:_ERROR_BODY_LIMIT])


class EventStream:
    """An open, checked event stream: ``async for message in stream`` yields :class:`SSEMessage`.

    Iteration stops when the server ends the body normally (then reconnecting is appropriate);
    a network failure while reading raises :class:`ConnectionFailed`. ``last_event_id`` and
    ``retry_ms`` follow the stream, for the next request's ``Last-Event-ID`` and delay.
    """

    def __init__(self, response: httpx.Response, decoder: SSEDecoder) -> None:
        self.response = response
        self._decoder = decoder
        self._chunks = response.aiter_bytes()
        self._pending: deque[SSEMessage] = deque()
        self._ended = False

    @property
    def last_event_id(self) -> str:
        """The stream's last event ID (what a reconnect sends as ``Last-Event-ID`` when non-empty)."""
        return self._decoder.last_event_id

    @property
    def retry_ms(self) -> int | None:
        """The reconnection time the server set with ``retry:``, if any."""
        return self._decoder.retry_ms

    @property
    def ended(self) -> bool:
        """True once the body has ended (normally or not)."""
        return self._ended

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> SSEMessage:
        if not self._pending:
            await self._fill()
            if not self._pending:
                raise StopAsyncIteration
        return self._pending.popleft()

    async def next_batch(self) -> list[SSEMessage]:
        """Every message the next piece(s) of the body complete, at least one; ``[]`` once the body
        has ended. The same messages as iterating, a network read at a time (cheaper per message)."""
        if not self._pending:
            await self._fill()
        batch = list(self._pending)
        self._pending.clear()
        return batch

    async def _fill(self) -> None:
        """Read until a message is pending or the body has ended."""
        while not self._pending and not self._ended:
            try:
                chunk = await self._chunks.__anext__()
            except StopAsyncIteration:
                self._ended = True
                self._pending.extend(self._decoder.close())
                continue
            except (httpx.TransportError, httpx.StreamError) as exc:
                self._ended = True
                raise connection_failed(exc, self.response.url, doing="keep reading from") from exc
            self._pending.extend(self._decoder.feed_bytes(chunk))

    async def aclose(self) -> None:
        """Stop reading and release the connection."""
        self._ended = True
        await self._chunks.aclose()
        await self.response.aclose()


@asynccontextmanager
async def open_event_stream(
    http: httpx.AsyncClient,
    url: str,
    *,
    json: Any = None,
    content: bytes | AsyncIterable[bytes] | None = None,
    headers: Mapping[str, str] | None = None,
    last_event_id: str | None = None,
    retry_ms: int | None = None,
    timeout: Any = httpx.USE_CLIENT_DEFAULT,
    user: str | None = None,
    operation: str | None = None,
) -> AsyncIterator[EventStream]:
    """POST ``json`` (or a raw ``content`` body, e.g. a multipart upload) to ``url`` asking for an
    event stream; yield it once it is known to be one.

    Sends ``Accept: text/event-stream`` and ``Cache-Control: no-cache``, and ``Last-Event-ID`` only
    when ``last_event_id`` is non-empty. ``headers`` is copied, never changed. The stream's events
    start from ``last_event_id`` / ``retry_ms`` as the spec's reconnect does. ``timeout`` defaults
    to the client's; see :data:`STREAM_TIMEOUT`. ``user`` / ``operation`` only improve error messages.

    Raises, before anything is iterated: :class:`StreamClosed` on 204; the typed error of a
    non-200 answer (401 → ``AuthError`` …); :class:`ProtocolError` when a 200 is not
    ``text/event-stream``; :class:`ConnectionFailed` when the server cannot be reached.
    """
    last_event_id = sendable_event_id(last_event_id)
    request_headers = httpx.Headers(headers)  # a copy: the caller's mapping is never changed
    request_headers["Accept"] = "text/event-stream"
    request_headers["Cache-Control"] = "no-cache"
    request_headers.pop("Last-Event-ID", None)
    try:
        request = http.build_request(
            "POST", url, json=json, content=content, headers=request_headers, timeout=timeout
        )
        if last_event_id:
            # Sent as UTF-8 bytes (ids may be non-ASCII, contract §4.6); httpx would encode a str as ASCII.
            raw = [*request.headers.raw, (b"Last-Event-ID", last_event_id.encode("utf-8"))]
            request.headers = httpx.Headers(raw)
        response = await http.send(request, stream=True)
    except httpx.TransportError as exc:
        raise connection_failed(exc, url) from exc
    except httpx.HTTPError as exc:  # e.g. an invalid URL, too many redirects
        raise ProtocolError(f"could not request {url}: {exc}") from exc
    stream = EventStream(response, SSEDecoder(last_event_id=last_event_id or "", retry_ms=retry_ms))
    try:
        await _check_response(response, url, user=user, operation=operation)
        yield stream
    finally:
        await stream.aclose()


def sendable_event_id(last_event_id: str | None) -> str | None:
    """The ``Last-Event-ID`` to send for a stream's last event ID: trimmed (the spec keeps the
    spaces around an ``id:`` value, HTTP forbids them in a header value), and None when nothing
    sendable is left (a control character would make the request itself fail, every time)."""
    value = (last_event_id or "").strip(" \t")
    if not value or any(ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return None
    return value


async def _check_response(response: httpx.Response, url: str, *, user: str | None, operation: str | None) -> None:
    content_type = response.headers.get("content-type")
    if response.status_code == 204:
        raise StreamClosed(f"{url} answered 204 No Content: the server ended the stream", status_code=204)
    if response.status_code != 200 or not is_event_stream(content_type):
        try:
            body = await _read_limited(response)
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise connection_failed(exc, url, doing="read the answer of") from exc
        if response.status_code != 200:
            raise error_from_response(response.status_code, body, content_type, user=user, operation=operation)
        raise ProtocolError(
            f"{url} did not answer with an event stream (content type: {content_type or 'missing'})",
            status_code=200,
            details=decode_body(body, content_type),
        )
