"""The headless renderer for ``deploytui watch`` and ``deploytui deploy``.

Like Harper's CLI (``bin/deployRenderer.ts``): one line per phase step, install output prefixed
``|`` (stdout) or ``!`` (stderr), the error with its phase and code, and a final summary. It folds
every event through the same :class:`~deploytui.client.view.DeploymentView` the dashboard uses, so a
CI log tells the same story as the screen.

Nothing a server sends reaches the terminal raw: text goes through :mod:`deploytui.client.ansi`, and
with ``color=True`` only SGR colour is re-emitted. Colour is used only when asked (the caller decides
from ``isatty`` and ``NO_COLOR``). Symbols fall back to ASCII when the output encoding can't show them.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime
from typing import Any, TextIO

from deploytui.client.ansi import sanitize_lines, strip_controls, to_ansi
from deploytui.client.safe_text import json_dumps
from deploytui.client.view import DeploymentView, InstallLine
from deploytui.protocol.events import (
    DoneEvent,
    ErrorEvent,
    Event,
    InstallEvent,
    PayloadDroppedEvent,
    PeerEvent,
    PhaseEvent,
    TruncatedEvent,
    UnknownEvent,
    WarningEvent,
    event_name,
)

__all__ = ["LineRenderer", "json_line"]

_UNICODE = {"start": "▸", "done": "✓", "fail": "✗", "warn": "⚠", "gap": "…", "backfill": "↻"}
_ASCII = {"start": ">", "done": "+", "fail": "x", "warn": "!", "gap": "...", "backfill": "~"}
# SGR codes for the renderer's own decorations.
_GREEN, _RED, _YELLOW, _CYAN, _DIM, _BOLD_RED = "32", "31", "33", "36", "2", "1;31"
_INDENT = "  "


class LineRenderer:
    """Writes one line (or a few) per event to ``out``; call :meth:`finish` when the stream ends."""

    def __init__(
        self,
        out: TextIO,
        *,
        color: bool,
        show_time: bool = False,
        clock: Callable[[], int] | None = None,
        view: DeploymentView | None = None,
    ) -> None:
        self.out = out
        self.color = color
        self.show_time = show_time
        self.view = view if view is not None else DeploymentView()
        self._clock = clock or (lambda: int(time.time() * 1000))
        encoding = (getattr(out, "encoding", None) or "utf-8").lower()
        self._encoding = None if encoding.replace("-", "").startswith("utf") else encoding
        self.symbols = _ASCII if self._encoding and not _can_encode(_UNICODE, encoding) else _UNICODE
        self._manager: str | None = None
        self._backfill_noted = False
        self._finished = False

    # -- public API --------------------------------------------------------------------------
    def render(self, event: Event, *, received_at: int | None = None) -> None:
        """Fold ``event`` into the view and write what it means; an already-seen ``seq`` is skipped."""
        last_seq = self.view.last_seq
        if event.seq is not None and last_seq is not None and event.seq <= last_seq:
            return
        now = received_at if received_at is not None else self._clock()
        before = self._phase_state(event)
        self.view.apply(event, received_at=now)
        stamp = self._stamp(event.t if event.t is not None else now)
        if event.backfilled and not self._backfill_noted:
            self._backfill_noted = True
            self._write(stamp, self._paint(f"{self.symbols['backfill']} recovered from the server's event log:", _DIM))
        lead = self.symbols["backfill"] + " " if event.backfilled else ""
        for line in self._lines_for(event, before):
            self._write(stamp, lead + line)
        if isinstance(event, DoneEvent):
            self.finish()
        elif not isinstance(event, InstallEvent):
            self.out.flush()  # a phase line must not wait in a buffer through a silent step

    def finish(self) -> None:
        """Write the summary line once (on ``done``, or when the stream ends without one)."""
        if self._finished:
            return
        self._finished = True
        self._write(self._stamp(self._clock()), self.summary())
        self.out.flush()

    def summary(self) -> str:
        """``✓ deployed hello in 4.1 s``, ``✗ hello failed in prepare after 2.0 s``, or why neither."""
        view, s = self.view, self.symbols
        name = strip_controls(view.project or f"deployment {view.deployment_id or ''}"[:19].rstrip())
        took = _duration(view.elapsed_ms)
        status = strip_controls(view.status or "unknown")
        if view.succeeded:
            verb = "reverted" if view.phase("revert") else "staged" if view.status == "staged" else "deployed"
            return self._paint(f"{s['done']} {verb} {name}" + (f" in {took}" if took else ""), _GREEN)
        if view.succeeded is False:
            where = strip_controls(view.error.phase) if view.error and view.error.phase else None
            text = f"{s['fail']} {name} failed" + (f" in {where}" if where else "") + (f" after {took}" if took else "")
            return self._paint(text, _BOLD_RED)
        if view.finished:
            return f"stream ended; {name} is still {status}"
        return f"stream ended before {name} finished (status: {status})"

    # -- one event -> lines ------------------------------------------------------------------
    def _lines_for(self, event: Event, before: str | None) -> list[str]:
        """Steps (phases, the error) start at column 0; details under them are indented."""
        if isinstance(event, PhaseEvent):
            return self._phase_lines(event, before)
        if isinstance(event, ErrorEvent):  # the view keeps the first, rich error: print only that
            return self._error_lines(event) if self.view.error is event else []
        if isinstance(event, WarningEvent):
            return [self._paint(f"{self.symbols['warn']} warning: {strip_controls(event.message)}", _YELLOW)]
        return [_INDENT + line for line in self._detail_lines(event)]

    def _detail_lines(self, event: Event) -> list[str]:
        if isinstance(event, InstallEvent):
            return self._install_lines(event)
        if isinstance(event, PeerEvent):
            return [self._peer_line(event)]
        if isinstance(event, TruncatedEvent):
            # Harper's count is wrong (it always says 2): a number is shown only when it is exact.
            count = f"{event.dropped_events:,} ".replace(",", " ") if event.exact else ""
            gap = self.symbols["gap"]
            return [self._paint(f"{gap} {count}events not kept by the server {gap}", _DIM)]
        if isinstance(event, PayloadDroppedEvent):
            size = f" ({_bytes(event.payload_size)})" if event.payload_size is not None else ""
            return [self._paint(f"payload not retained{size}", _DIM)]
        if isinstance(event, UnknownEvent):
            return [self._paint(f"event {strip_controls(event.event_name)}", _DIM)]
        return []  # _recorder_finished, done: the summary says it

    def _phase_lines(self, event: PhaseEvent, before: str | None) -> list[str]:
        name, s = strip_controls(event.phase), self.symbols
        if event.phase == "success":
            return []  # the summary line says it
        if event.status == "start":
            return [] if before == "running" else [f"{self._paint(s['start'], _CYAN)} {name} {s['gap']}"]
        if event.status == "error":
            return [self._paint(f"{s['fail']} {name} failed", _RED)]
        phase = self.view.phase(event.phase)
        took = _duration(phase.duration_ms if phase else None)
        return [f"{self._paint(s['done'], _GREEN)} {name}" + (f" ({took})" if took else "")]

    def _install_lines(self, event: InstallEvent) -> list[str]:
        lines: list[str] = []
        if event.manager != self._manager:
            self._manager = event.manager
            lines.append(self._paint(f"install: using {strip_controls(event.manager)}", _DIM))
        line = self.view.lines[-1] if self.view.lines else None
        if line is not None:  # an empty line is output too (npm prints them): kept
            lines.append(self._install_line(line))
        return lines

    def _install_line(self, line: InstallLine) -> str:
        tag = "!" if line.stream == "stderr" else "|"
        tag_colour = _BOLD_RED if line.is_error else _YELLOW if line.is_warning or tag == "!" else _DIM
        body = to_ansi(line.text) if self.color else line.text.text
        return f"{self._paint(tag, tag_colour)} {body}".rstrip()

    def _peer_line(self, event: PeerEvent) -> str:
        node = strip_controls(event.node or "unknown")
        ok = event.status == "success"
        text = f"peer {node}: {self._paint(strip_controls(event.status), _GREEN if ok else _RED)}"
        reason = _error_message(event.error)
        return text + (f": {reason}" if reason else "")

    def _error_lines(self, event: ErrorEvent) -> list[str]:
        first, *rest = sanitize_lines(event.message)
        where = f" in {strip_controls(event.phase)}" if event.phase else ""
        code = f" ({strip_controls(str(event.code))})" if event.code is not None else ""
        lines = [self._paint(f"{self.symbols['fail']} deploy failed{where}{code}: {first.text}", _BOLD_RED)]
        lines += [_INDENT + line.text for line in rest]
        if self.view.total_lines == 0:  # we showed no install output: show the server's tail of it
            lines += self._install_output_lines(event.install_output)
        return lines

    def _install_output_lines(self, output: dict[str, Any] | None) -> list[str]:
        entries = output.get("lines") if isinstance(output, dict) else None
        if not isinstance(entries, list) or not entries:
            return []
        view = DeploymentView()
        for entry in entries:
            if isinstance(entry, dict) and isinstance(entry.get("line"), str):
                view.apply(InstallEvent(manager=str(entry.get("manager", "")), line=entry["line"],
                                        stream="stderr" if entry.get("stream") == "stderr" else "stdout"))
        head = self._paint("last install output:", _DIM)
        return [_INDENT + head] + [_INDENT + self._install_line(line) for line in view.lines if line.text.text.strip()]

    # -- output ------------------------------------------------------------------------------
    def _phase_state(self, event: Event) -> str | None:
        if isinstance(event, PhaseEvent):
            phase = self.view.phase(event.phase)
            return phase.state if phase else None
        return None

    def _stamp(self, t_ms: int) -> str:
        return datetime.fromtimestamp(t_ms / 1000).strftime("%H:%M:%S ") if self.show_time else ""

    def _paint(self, text: str, sgr: str) -> str:
        return f"\x1b[{sgr}m{text}\x1b[0m" if self.color else text

    def _write(self, stamp: str, line: str) -> None:
        text = f"{self._paint(stamp, _DIM) if stamp else ''}{line}\n"
        if self._encoding:  # a non-UTF stream must not raise on a character it can't encode
            text = text.encode(self._encoding, "replace").decode(self._encoding)
        self.out.write(text)


def json_line(event: Event) -> str:
    """One JSON object for ``--json``: ``{"event", "seq", "t", "t_source", "backfilled", "data"}``;
    ``t_source`` says whose time ``t`` is: ``event``, ``event_log`` (the server's) or ``received``.

    Every character of :mod:`deploytui.client.safe_text`'s rule is escaped, so the line is safe on
    a terminal.
    """
    record = {"event": event_name(event), "seq": event.seq, "t": event.t, "t_source": event.t_source,
              "backfilled": event.backfilled, "data": event.wire_data()}
    return json_dumps(record, separators=(",", ":"), default=str)


def _can_encode(symbols: dict[str, str], encoding: str) -> bool:
    try:
        "".join(symbols.values()).encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


def _duration(ms: int | None) -> str:
    """``0.4 s``, ``3.2 s``, ``2 min 05 s``; empty when unknown."""
    if ms is None:
        return ""
    if ms < 60_000:
        return f"{ms / 1000:.1f} s"
    minutes, seconds = divmod(round(ms / 1000), 60)
    return f"{minutes} min {seconds:02d} s"


def _bytes(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def _error_message(error: Any) -> str:
    if isinstance(error, dict):
        error = error.get("message")
    return strip_controls(str(error)) if error else ""
