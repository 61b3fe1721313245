"""Spec-correct Server-Sent Events decoding: lines, fields and dispatch, all ours.

Pure: no I/O. :class:`SSEDecoder` takes the body of a ``text/event-stream`` response in pieces
(bytes or text, however the network chunks them) and returns the events the WHATWG HTML standard
(§9.2.5–9.2.6) says a browser dispatches. It is the layer between the bytes and the client.
Lines end at CRLF, LF or CR (:class:`LineSplitter`, which holds a chunk's final CR until the next
chunk says whether an LF completes it). The field and dispatch rules depart from httpx-sse's
(harper-api.md §4.6) in these places:

* the body is always UTF-8 (a ``charset`` parameter is ignored), invalid bytes become U+FFFD;
* exactly one leading BOM is stripped, even when split across chunks;
* a block without ``data`` dispatches nothing (no data-less events, no phantom empty events after
  an ``id``), but an ``id``-only block still updates :attr:`SSEDecoder.last_event_id`;
* ``retry`` is honoured only when it is all ASCII digits;
* an ``id`` containing NULL is ignored;
* at end of stream the pending event is discarded.
"""

from __future__ import annotations

import codecs
import json
import re
from dataclasses import dataclass
from typing import Any

__all__ = ["LineSplitter", "SSEMessage", "SSEDecoder", "decode_all"]

_BOM = "\ufeff"
_ASCII_DIGITS = frozenset("0123456789")
_LINE_END = re.compile(r"\r\n|\r|\n")
# One block of the usual shape: an optional id, an event type and one data line, each with the one
# space the rules strip, then the blank line. Only matched in text without CR ([^\n] is the fast
# class: a set such as [^\r\n] costs sre twice as much).
_USUAL_BLOCK = re.compile(r"(?:id: ([^\n]*)\n)?event: ([^\n]*)\ndata: ([^\n]*)\n\n")


class LineSplitter:
    """Text in pieces to complete lines, split at CRLF, LF or CR and nothing else (§9.2.5:
    ``str.splitlines`` would also split at U+2028, VT, FF…, which are line content here).

    A piece ending in CR holds that CR back: it ends a line either way, but only the next piece
    says whether an LF belongs to it (one CRLF line ending, not a CR and then an empty line).
    Text after the last line ending waits for the rest of its line.
    """

    def __init__(self) -> None:
        self._partial: list[str] = []  # the current line's text so far
        self.pending_cr = False  # the last piece ended in CR

    def feed(self, text: str) -> list[str]:
        """The lines that ``text`` completes, without their line endings."""
        if self.pending_cr:
            text = "\r" + text
        self.pending_cr = text.endswith("\r")
        if self.pending_cr:
            text = text[:-1]
        lines = _LINE_END.split(text) if "\r" in text else text.split("\n")
        if len(lines) == 1:
            if text:
                self._partial.append(text)
            return []
        if self._partial:
            lines[0] = "".join(self._partial) + lines[0]
        last = lines.pop()
        self._partial = [last] if last else []
        return lines

    def finish(self) -> list[str]:
        """End of text: the line a held-back CR ends, if any. A last line without its line ending
        is no line (the spec drops it) and is discarded."""
        lines = ["".join(self._partial)] if self.pending_cr else []
        self._partial, self.pending_cr = [], False
        return lines


@dataclass(frozen=True, slots=True)
class SSEMessage:
    """One dispatched event.

    ``event`` is the type (``"message"`` when the stream gave none); ``data`` is the data lines
    joined with ``\\n``; ``id`` is the stream's *last event ID* at dispatch time, which is sticky:
    an event without an ``id:`` line reports the previous one. ``retry`` is the reconnection time
    (ms) set by a valid ``retry:`` line in this event's own block, else ``None``; the stream-wide
    value is :attr:`SSEDecoder.retry_ms`.
    """

    event: str = "message"
    data: str = ""
    id: str = ""
    retry: int | None = None

    def json(self) -> object:
        """The data decoded as JSON (raises :class:`ValueError` when it is not JSON)."""
        return json.loads(self.data)


def _message(event: str, data: str, id: str, retry: int | None,
             _new: Any = object.__new__, _set: Any = object.__setattr__) -> SSEMessage:
    """``SSEMessage(event, data, id, retry)`` without the frozen dataclass's ``__init__`` (a replay
    dispatches thousands)."""
    message = _new(SSEMessage)
    _set(message, "event", event)
    _set(message, "data", data)
    _set(message, "id", id)
    _set(message, "retry", retry)
    return message


class SSEDecoder:
    """Incremental SSE parser: feed body pieces, get the events they complete.

    ``last_event_id`` starts from the value given (a reconnect resumes from the previous stream's
    last event ID, as browsers do) and is what a reconnect sends as ``Last-Event-ID`` (only when
    non-empty). ``retry_ms`` is the last valid ``retry:`` value seen, or the one given, or ``None``.
    """

    def __init__(self, *, last_event_id: str = "", retry_ms: int | None = None) -> None:
        self.last_event_id: str = last_event_id
        self.retry_ms: int | None = retry_ms
        self._lines = LineSplitter()
        self._utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._at_start = True  # no text seen yet: a leading BOM is still to be stripped
        self._closed = False
        self._data: list[str] = []
        self._event = ""
        self._id_buffer = last_event_id
        self._block_retry: int | None = None

    # -- input -------------------------------------------------------------------------------

    def feed_bytes(self, data: bytes) -> list[SSEMessage]:
        """Decode raw body bytes (always UTF-8) and return the events they complete."""
        return self.feed_text(self._utf8.decode(data))

    def feed_text(self, text: str) -> list[SSEMessage]:
        """Parse already-decoded text and return the events it completes."""
        if self._closed:
            raise RuntimeError("SSEDecoder is closed")
        if not text:
            return []
        if self._at_start:
            self._at_start = False
            if text.startswith(_BOM):
                text = text[1:]
                if not text:
                    return []
        if "\r" in text or self._lines.pending_cr:
            return self._process_lines(self._lines.feed(text))
        # Blocks of the usual shape go through one regex each; anything else, line by line up to
        # the end of its block (a blank line), after which the usual shape is tried again.
        out: list[SSEMessage] = []
        while text:
            if self._clean():
                messages, end = self._usual_blocks(text)
                out += messages
                text = text[end:]
                if not text:
                    break
            cut = text.find("\n\n") + 2
            if cut < 2:
                out += self._process_lines(self._lines.feed(text))
                break
            out += self._process_lines(self._lines.feed(text[:cut]))
            text = text[cut:]
        return out

    def _clean(self) -> bool:
        """At a block's start, or as good as (a block of comments so far): no partial line, no
        field of a block pending."""
        return not self._lines._partial and not self._data and not self._event and self._block_retry is None \
            and self._id_buffer == self.last_event_id

    def _usual_blocks(self, text: str) -> tuple[list[SSEMessage], int]:
        """The blocks at the start of ``text`` shaped ``[id: …\n]event: …\ndata: …\n\n`` (what our
        server and Harper send), dispatched as the line rules would; and where they end. Half the
        cost of the line rules, which a replay pays four times an event. Called in a clean state
        on text without CR."""
        out: list[SSEMessage] = []
        end, last_event_id = 0, self.last_event_id
        match = _USUAL_BLOCK.match
        while (block := match(text, end)) is not None:
            event_id, event, data = block.groups()
            if event_id is not None:
                if "\0" in event_id:
                    break  # an id the rules ignore: this block is left to them
                last_event_id = event_id
            out.append(_message(event or "message", data, last_event_id, None))
            end = block.end()
        self.last_event_id = self._id_buffer = last_event_id
        return out, end

    def close(self) -> list[SSEMessage]:
        """End of stream: finish the last line if a CR ended it, then discard any pending event.

        Returns the events (at most one) completed by a trailing CR; an unterminated last line and
        an event without its blank line are dropped, as the spec requires.
        """
        if self._closed:
            return []
        out = self.feed_text(self._utf8.decode(b"", final=True))
        self._closed = True
        # A trailing CR is a complete line ending; text after the last line ending is not a line.
        out += self._process_lines(self._lines.finish())
        self._data, self._event, self._block_retry = [], "", None
        self._id_buffer = self.last_event_id
        return out

    # -- the spec's line rules ---------------------------------------------------------------

    def _process_lines(self, lines: list[str]) -> list[SSEMessage]:
        """The spec's line rules (§9.2.6) over complete lines; the events they dispatch. The state
        lives in locals while the loop runs: a replay runs it four times an event."""
        out: list[SSEMessage] = []
        data, event, id_buffer, block_retry = self._data, self._event, self._id_buffer, self._block_retry
        last_event_id = self.last_event_id
        for line in lines:
            if not line:  # dispatch
                last_event_id = id_buffer
                if data:
                    out.append(_message(event or "message", data[0] if len(data) == 1 else "\n".join(data),
                                        last_event_id, block_retry))
                    data = []
                event, block_retry = "", None
                continue
            if line[0] == ":":
                continue
            name, colon, value = line.partition(":")
            if colon and value[:1] == " ":
                value = value[1:]
            if name == "data":
                data.append(value)
            elif name == "event":
                event = value
            elif name == "id":
                if "\0" not in value:
                    id_buffer = value
            elif name == "retry":
                if value and _ASCII_DIGITS.issuperset(value):
                    self.retry_ms = block_retry = int(value)
        self._data, self._event, self._id_buffer, self._block_retry = data, event, id_buffer, block_retry
        self.last_event_id = last_event_id
        return out


def decode_all(body: bytes | str) -> tuple[list[SSEMessage], SSEDecoder]:
    """Decode a complete body in one go; returns the events and the closed decoder (for its state)."""
    decoder = SSEDecoder()
    events = decoder.feed_bytes(body) if isinstance(body, bytes) else decoder.feed_text(body)
    events += decoder.close()
    return events, decoder
