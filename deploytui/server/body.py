"""Reading an operation request body from ASGI: bounded, streamed, multipart-aware.

Harper answers a refused deploy while the client is still uploading and drains the rest of the body
so the connection can be reused (contract §2.1.3). Starlette's ``request.form()`` reads the whole
body first, so the operations endpoint reads the body itself: multipart is parsed incrementally with
python-multipart, and JSON goes through :class:`JsonBody`, which keeps at most the JSON limit in
memory: the one long string a JSON deploy may carry (its base64 ``payload``) goes to a spool file
as it arrives, everything else is refused past the limit as the bytes arrive.
"""

from __future__ import annotations

import base64
import errno
import json
import os
import re
import tempfile
from collections import deque
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header
from starlette.types import Receive

FIELD_LIMIT_BYTES = 1024 * 1024
MAX_FIELDS = 64
# All header lines of one multipart part together (a Content-Disposition is a few hundred bytes).
MAX_PART_HEADER_BYTES = 16 * 1024
# A JSON string longer than this is written to a spool file instead of memory (only a base64
# ``payload`` may be that long; anything else is refused once the body is read).
SPOOL_STRING_BYTES = 64 * 1024
SPOOL_READ_BYTES = 256 * 1024
# Spool file names in the payloads dir: a JSON body's long string, a packed ``file:`` package.
SPOOL_PREFIXES = (".incoming-", ".pack-")
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


class SpooledString:
    """Bytes on their way in (a long JSON string's raw text, a packed ``file:`` package), kept in
    an owner-only temp file of the server's payloads dir rather than in memory.

    The server's own disk failing is a :class:`BodyError` (507 when full, else 500) that names no
    path of the server's.
    """

    def __init__(self, directory: Path, prefix: str = SPOOL_PREFIXES[0]) -> None:
        with _spool_errors():
            directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, name = tempfile.mkstemp(prefix=prefix, dir=directory)
        self.path = Path(name)
        self._handle = os.fdopen(fd, "wb")
        self.size = 0

    def write(self, data: bytes) -> None:
        with _spool_errors():
            self._handle.write(data)
        self.size += len(data)

    def close(self) -> None:
        self._handle.close()

    def chunks(self) -> Iterator[bytes]:
        """The raw JSON string content (escapes not yet resolved), in bounded pieces."""
        with open(self.path, "rb") as handle:
            while chunk := handle.read(SPOOL_READ_BYTES):
                yield chunk

    def discard(self) -> None:
        self._handle.close()
        self.path.unlink(missing_ok=True)


def remove_stale_spools(directory: Path) -> None:
    """Delete the spool files a server that stopped mid-request left in ``directory``.

    Called at start, when no request of this data dir can be using one.
    """
    for prefix in SPOOL_PREFIXES:
        for path in directory.glob(prefix + "*"):
            path.unlink(missing_ok=True)


@contextmanager
def _spool_errors() -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        full = exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
        raise BodyError(f"The server could not store the upload: {exc.strerror or type(exc).__name__}",
                        507 if full else 500) from None


# What a spooled string reads as in the parsed body: a NUL-led text no real field would hold.
SPOOLED_MARKER = "\x00deploytui-spooled"
_SPOOLED_JSON = b'\\u0000deploytui-spooled"'
_STRING_SPECIAL = re.compile(rb'["\\]')
# The kept bytes just before a string that may be spooled: the top-level key "payload".
_PAYLOAD_KEY = re.compile(rb'"payload"\s*:\s*"\Z')


class JsonBody:
    """Collects a JSON body as it arrives, keeping at most ``limit`` bytes of it in memory.

    A tiny scanner that tracks only strings and nesting depth: a string longer than
    :data:`SPOOL_STRING_BYTES` (or half the limit) that is the value of the top-level ``payload``
    goes to a :class:`SpooledString` and is replaced by a marker. Any other long string, or more
    than ``limit`` bytes of everything else, is a 413 as soon as it is seen.
    """

    def __init__(self, limit: int, spool_dir: Path) -> None:
        self.limit = limit
        self.spool: SpooledString | None = None
        self._spool_dir = spool_dir
        self._spool_from = min(SPOOL_STRING_BYTES, limit // 2)  # a payload must spool below any limit
        self._kept = bytearray()
        self._string = bytearray()
        self._in_string = self._escaped = self._spooling = False
        self._depth = 0

    def feed(self, chunk: bytes) -> None:
        pos, end = 0, len(chunk)
        while pos < end:
            if not self._in_string:
                quote = chunk.find(b'"', pos)
                stop = end if quote < 0 else quote + 1
                outside = chunk[pos:stop]
                self._depth += outside.count(b"{") + outside.count(b"[") - outside.count(b"}") - outside.count(b"]")
                self._keep(outside)
                self._in_string, pos = quote >= 0, stop
            elif self._escaped:
                self._string_bytes(chunk[pos : pos + 1])
                self._escaped, pos = False, pos + 1
            else:
                special = _STRING_SPECIAL.search(chunk, pos)
                if special is None:
                    self._string_bytes(chunk[pos:])
                    return
                self._string_bytes(chunk[pos : special.start()])
                pos = special.end()
                if special.group() == b"\\":
                    self._string_bytes(b"\\")
                    self._escaped = True
                else:
                    self._close_string()

    def _keep(self, data: bytes) -> None:
        self._kept += data
        if len(self._kept) + len(self._string) > self.limit:
            raise self._too_large()

    def _string_bytes(self, data: bytes) -> None:
        if self._spooling:
            assert self.spool is not None
            self.spool.write(data)
            return
        self._string += data
        if len(self._string) <= self._spool_from:
            self._keep(b"")
            return
        if self.spool is not None or self._depth != 1 or not _PAYLOAD_KEY.search(self._kept[-64:]):
            raise self._too_large()
        self.spool = SpooledString(self._spool_dir)
        self.spool.write(bytes(self._string))
        self._string.clear()
        self._spooling = True

    def _close_string(self) -> None:
        self._in_string = False
        if self._spooling:
            assert self.spool is not None
            self.spool.close()
            self._spooling = False
            self._keep(_SPOOLED_JSON)
        else:
            string, self._string = bytes(self._string), bytearray()
            self._keep(string + b'"')

    def _too_large(self) -> BodyError:
        return BodyError(
            f"JSON body exceeds the limit of {self.limit} bytes (only a base64 'payload' may be longer; "
            "or upload it as multipart)",
            413,
        )

    def result(self) -> dict[str, Any]:
        """The parsed object; the spooled string, if any, must be its top-level ``payload``."""
        fields = decode_json_object(bytes(self._kept))
        if self.spool is not None:
            if fields.get("payload") != SPOOLED_MARKER:
                raise self._too_large()
            fields["payload"] = self.spool
        return fields

    def discard(self) -> None:
        if self.spool is not None:
            self.spool.discard()


class Base64Decoder:
    """Decodes base64 text that arrives in pieces, as strictly as ``b64decode(validate=True)``.

    The text is a JSON string's raw content, so the one escape base64 may carry, ``\\/``, is
    resolved (even when a piece ends between its two characters). Invalid text raises ValueError.
    """

    def __init__(self) -> None:
        self._pending = b""
        self._padded = False

    def decode(self, piece: bytes) -> bytes:
        text = self._pending + piece
        split_escape = text.endswith(b"\\") and not text.endswith(b"\\\\")
        head, tail = (text[:-1], text[-1:]) if split_escape else (text, b"")
        head = head.replace(b"\\/", b"/")
        usable = len(head) - len(head) % 4
        self._pending = head[usable:] + tail
        return self._quads(head[:usable])

    def finish(self) -> bytes:
        if self._pending:
            raise ValueError("base64 text ends with an incomplete group")
        return b""

    def _quads(self, text: bytes) -> bytes:
        if not text:
            return b""
        if self._padded:
            raise ValueError("base64 text continues after its padding")
        self._padded = text.endswith(b"=")
        return base64.b64decode(text, validate=True)


def decode_json_object(raw: bytes) -> dict[str, Any]:
    """Harper's rule: an empty or non-object body is ``Invalid JSON.`` (so is one nested too deep)."""
    try:
        value = json.loads(raw) if raw.strip() else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise BodyError("Invalid JSON.")
    return _utf8_only(value)


def decode_field_value(text: str) -> Any:
    """Harper's multipart rule: JSON-decode values that look like JSON, keep the rest as strings."""
    if text in ("true", "false", "null") or (text and (text[0] in '{["-' or text[0].isdigit())):
        try:
            return _utf8_only(json.loads(text))
        except (ValueError, RecursionError):
            return text
    return text


def _utf8_only(value: Any) -> Any:
    """``value`` unless one of its strings holds a lone surrogate (JSON's ``"\\ud800"`` escape):
    no store, file name or answer can hold one, so it is the client's mistake, said plainly."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BodyError("Invalid JSON: a string holds an unpaired surrogate escape (\\ud800-\\udfff)") from None
    return value


def multipart_boundary(content_type: str) -> bytes | None:
    kind, params = parse_options_header(content_type)
    if kind != b"multipart/form-data":
        return None
    return params.get(b"boundary") or None


@contextmanager
def _malformed_multipart() -> Iterator[None]:
    try:
        yield
    except FormParserError as exc:
        raise BodyError(f"Malformed multipart body: {exc}") from None


class MultipartUpload:
    """Streams ``multipart/form-data``: the text fields, then the ``payload`` file part as chunks.

    Fields after the file part are ignored, as in Harper.
    """

    def __init__(self, body: RequestBody, boundary: bytes, fields_limit: int = MAX_FIELDS * FIELD_LIMIT_BYTES) -> None:
        self._body = body
        self._fields_limit = fields_limit
        self._fields_bytes = 0
        self._part_header_bytes = 0
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
        with _malformed_multipart():  # e.g. a boundary longer than the parser takes
            self._parser = self._make_parser(boundary)

    def _make_parser(self, boundary: bytes) -> MultipartParser:
        return MultipartParser(
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
        self._part_header_bytes += len(data)
        if self._part_header_bytes > MAX_PART_HEADER_BYTES:
            raise BodyError(f"A multipart part's headers exceed {MAX_PART_HEADER_BYTES} bytes")
        setattr(self, attr, getattr(self, attr) + data)

    def _on_part_begin(self) -> None:
        self._headers = {}
        self._part_data = bytearray()
        self._part_header_bytes = 0

    def _on_header_end(self) -> None:
        name = self._header_field.decode("latin-1").lower()
        # Header bytes as latin-1, as HTTP has them: the parameters are decoded from the raw bytes.
        self._headers[name] = self._header_value.decode("latin-1")
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
            self._fields_bytes += end - start
            if len(self._part_data) > FIELD_LIMIT_BYTES:
                raise BodyError(f"Field '{self._current_name}' exceeds {FIELD_LIMIT_BYTES} bytes")
            if self._fields_bytes > self._fields_limit:
                raise BodyError(f"The text fields exceed {self._fields_limit} bytes together", 413)

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
            with _malformed_multipart():
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
