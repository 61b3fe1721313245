"""Reading an operation request body from ASGI: bounded, streamed, multipart-aware.

Harper answers a refused deploy while the client is still uploading and drains the rest of the body
so the connection can be reused (contract §2.1.3). Starlette's ``request.form()`` reads the whole
body first, so the operations endpoint reads the body itself: JSON is read whole (bounded by the
configured limit), multipart is parsed incrementally with python-multipart.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import AsyncIterator
from typing import Any

from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.types import Receive

FIELD_LIMIT_BYTES = 1024 * 1024
MAX_FIELDS = 64
FORBIDDEN_FIELD_NAMES = frozenset({"__proto__", "constructor", "prototype"})
FILE_FIELD = "payload"


class BodyError(Exception):
    """The request body is refused; ``status_code`` is the HTTP answer (400 or 413)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


class RequestBody:
    """The body of one request, read chunk by chunk from ``receive`` with a size limit."""

    def __init__(self, receive: Receive, limit: int) -> None:
        self._receive = receive
        self._limit = limit
        self.received = 0
        self.complete = False
        self.disconnected = False

    async def chunks(self) -> AsyncIterator[bytes]:
        """Yield the body's chunks; raise a 413 :class:`BodyError` past the limit."""
        while not self.complete:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.complete = self.disconnected = True
                raise BodyError("the client disconnected during the upload", 400)
            chunk = message.get("body", b"")
            self.received += len(chunk)
            self.complete = not message.get("more_body", False)
            if self.received > self._limit:
                raise BodyError(f"Request body exceeds the limit of {self._limit} bytes", 413)
            if chunk:
                yield chunk

    async def read_all(self) -> bytes:
        return b"".join([chunk async for chunk in self.chunks()])

    async def drain(self) -> None:
        """Read and discard whatever the client is still sending, so keep-alive can continue."""
        while not self.complete:
            message = await self._receive()
            if message["type"] == "http.disconnect":
                self.complete = self.disconnected = True
                return
            self.complete = not message.get("more_body", False)


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """Harper's rule: an empty or non-object body is ``Invalid JSON.``"""
    try:
        value = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError):
        value = None
    if not isinstance(value, dict):
        raise BodyError("Invalid JSON.")
    return value


def decode_field_value(text: str) -> Any:
    """Harper's multipart rule: JSON-decode values that look like JSON, keep the rest as strings."""
    if text in ("true", "false", "null") or (text and (text[0] in '{["-' or text[0].isdigit())):
        try:
            return json.loads(text)
        except ValueError:
            return text
    return text


def multipart_boundary(content_type: str) -> bytes | None:
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    return params.get(b"boundary") or None


class MultipartUpload:
    """Streams ``multipart/form-data``: the text fields, then the ``payload`` file part as chunks.

    Fields after the file part are ignored, as in Harper.
    """

    def __init__(self, body: RequestBody, boundary: bytes) -> None:
        self._body = body
        self._chunks = body.chunks()
        self._events: deque[tuple[str, Any]] = deque()
        self._current_name = ""
        self._headers: dict[str, str] = {}
        self._header_field = b""
        self._header_value = b""
        self._part_data = bytearray()
        self._in_file = False
        self._file_done = False
        self._ended = False
        self.fields: dict[str, Any] = {}
        self.has_file = False
        self.filename: str | None = None
        self._parser = MultipartParser(
            boundary,
            {
                "on_part_begin": self._on_part_begin,
                "on_part_data": self._on_part_data,
                "on_part_end": self._on_part_end,
                "on_header_field": lambda d, s, e: self._grow("_header_field", d[s:e]),
                "on_header_value": lambda d, s, e: self._grow("_header_value", d[s:e]),
                "on_header_end": self._on_header_end,
                "on_headers_finished": self._on_headers_finished,
                "on_end": self._on_end,
            },
        )

    def _grow(self, attr: str, data: bytes) -> None:
        setattr(self, attr, getattr(self, attr) + data)

    def _on_part_begin(self) -> None:
        self._headers = {}
        self._part_data = bytearray()

    def _on_header_end(self) -> None:
        name = self._header_field.decode("latin-1").lower()
        self._headers[name] = self._header_value.decode("utf-8", "replace")
        self._header_field = self._header_value = b""

    def _on_headers_finished(self) -> None:
        _, params = parse_options_header(self._headers.get("content-disposition", ""))
        name = params.get(b"name", b"").decode("utf-8", "replace")
        filename = params.get(b"filename")
        self._current_name = name
        if name in FORBIDDEN_FIELD_NAMES:
            raise BodyError(f"Field name '{name}' is not allowed")
        if filename is not None and not self.has_file:
            if name != FILE_FIELD:
                raise BodyError(f'Unexpected file field "{name}"; expected "{FILE_FIELD}"')
            self.has_file = self._in_file = True
            self.filename = filename.decode("utf-8", "replace")
            self._events.append(("file", None))

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._in_file:
            self._events.append(("data", bytes(data[start:end])))
        elif not self._file_done:
            self._part_data += data[start:end]
            if len(self._part_data) > FIELD_LIMIT_BYTES:
                raise BodyError(f"Field '{self._current_name}' exceeds {FIELD_LIMIT_BYTES} bytes")

    def _on_part_end(self) -> None:
        if self._in_file:
            self._in_file = False
            self._file_done = True
            self._events.append(("file_end", None))
        elif not self._file_done:
            if len(self.fields) >= MAX_FIELDS:
                raise BodyError(f"Too many fields (the limit is {MAX_FIELDS})")
            self.fields[self._current_name] = decode_field_value(self._part_data.decode("utf-8", "replace"))

    def _on_end(self) -> None:
        self._ended = True

    async def _next_event(self) -> tuple[str, Any] | None:
        while not self._events:
            if self._ended or self._body.complete:
                return None
            try:
                chunk = await anext(self._chunks)
            except StopAsyncIteration:
                return None
            self._parser.write(chunk)
        return self._events.popleft()

    async def read_fields(self) -> dict[str, Any]:
        """Read up to the start of the file part (or the end); return the text fields."""
        while True:
            event = await self._next_event()
            if event is None or event[0] == "file":
                return self.fields

    async def file_chunks(self) -> AsyncIterator[bytes]:
        """Yield the payload's bytes as they arrive; stops at the end of the file part."""
        while True:
            event = await self._next_event()
            if event is None or event[0] == "file_end":
                if event is None and not self._file_done:
                    raise BodyError("the upload ended before the payload part was complete")
                return
            if event[0] == "data" and event[1]:
                yield event[1]
