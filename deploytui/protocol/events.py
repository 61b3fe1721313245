"""Typed deployment events: what travels on the SSE stream and in the ``event_log``.

A wire event is an SSE ``event:`` name plus a JSON ``data:`` payload (contract §4.3).
:func:`parse_event` turns one into a typed :class:`Event`; unknown names become
:class:`UnknownEvent` so a newer server never breaks an older client.

In ``--wire deploytui`` mode our server adds ``"t"`` (epoch ms) to every object payload so replayed
events keep their real times; :func:`parse_event` moves it to :attr:`Event.t`. Harper clients ignore
the extra key.
"""

from __future__ import annotations

import json
import json.scanner
from dataclasses import dataclass, field
from typing import Any, ClassVar

PHASE = "phase"
INSTALL = "install"
PEER = "peer"
ERROR = "error"
WARNING = "warning"
PAYLOAD_DROPPED = "payload_dropped"
TRUNCATED = "truncated"
RECORDER_FINISHED = "_recorder_finished"
DONE = "done"


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every typed event.

    ``seq`` is the server's per-deployment sequence number when it sends one (our server does,
    Harper does not); ``t`` is the event time in epoch ms when known; ``t_source`` says where that
    time came from: ``"event"`` (the event's own), ``"event_log"`` (the row's log entry for it) or
    ``"received"`` (when this client received it: the server's time is unknown); ``backfilled``
    marks an event the live stream missed and the client recovered from the final row's ``event_log``.
    """

    name: ClassVar[str] = ""
    seq: int | None = None
    t: int | None = None
    t_source: str | None = field(default=None, compare=False)
    backfilled: bool = False
    raw: Any = field(default=None, compare=False, repr=False)

    def wire_data(self) -> Any:
        """The payload as the server sent it (without our ``t``)."""
        return self.raw


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseEvent(Event):
    """``phase {phase, status}``: a pipeline step started (``start``) or ended (``done``)."""

    name: ClassVar[str] = PHASE
    phase: str
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class InstallEvent(Event):
    """``install {manager, stream, line}``: one line of install output."""

    name: ClassVar[str] = INSTALL
    manager: str
    stream: str  # "stdout" | "stderr"
    line: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PeerEvent(Event):
    """``peer {...}``: one node's replication result, raw as the replicator returned it."""

    name: ClassVar[str] = PEER
    node: str | None
    status: str
    error: Any = None


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorEvent(Event):
    """``error``: the deploy failed (or the framework refused the request in-band)."""

    name: ClassVar[str] = ERROR
    message: str
    code: Any = None
    phase: str | None = None
    install_output: dict[str, Any] | None = None
    deployment_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class WarningEvent(Event):
    """``warning {message}``."""

    name: ClassVar[str] = WARNING
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class PayloadDroppedEvent(Event):
    """``payload_dropped {payload_size, max_size | max_count | deleted_by}``."""

    name: ClassVar[str] = PAYLOAD_DROPPED
    payload_size: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TruncatedEvent(Event):
    """``truncated {dropped_events}``: the bounded event_log left events out here.

    ``exact`` is True when ``dropped_events`` is known to be the real count (our server's cumulative
    count, or a gap the client measured); Harper's count is not (it always reads 2).
    """

    name: ClassVar[str] = TRUNCATED
    dropped_events: int
    exact: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class RecorderFinishedEvent(Event):
    """``_recorder_finished {status}``: Harper's internal sentinel, seen on the wire."""

    name: ClassVar[str] = RECORDER_FINISHED
    status: str


@dataclass(frozen=True, slots=True, kw_only=True)
class DoneEvent(Event):
    """``done {result}``: the stream's normal end; ``result`` is the final row or deploy result."""

    name: ClassVar[str] = DONE
    result: Any


@dataclass(frozen=True, slots=True, kw_only=True)
class UnknownEvent(Event):
    """An event this client does not know; kept so nothing is silently lost."""

    event_name: str


_json_decoder = json.JSONDecoder()
_decode_strict = _json_decoder.decode
_scan_json = json.scanner.make_scanner(_json_decoder)


def _decode_json(text: str) -> Any:
    """``json.loads(text)`` for a str: one scan, without its per-call checks and whitespace regexes
    (half the cost of decoding a payload of one install line). Text the scan does not take whole
    (surrounding whitespace, trailing data, no JSON at all) goes to the full decoder, which then
    decodes it or raises exactly as ``json.loads`` would."""
    try:
        value, end = _scan_json(text, 0)
    except StopIteration:
        return _decode_strict(text)
    if end != len(text):
        return _decode_strict(text)
    return value


def _install_event(manager: str, stream: str, line: str, seq: int | None, t: int | None, t_source: str | None,
                   raw: Any, _new: Any = object.__new__, _set: Any = object.__setattr__) -> InstallEvent:
    """``InstallEvent(...)`` at half the cost: a frozen dataclass's ``__init__`` takes its keywords
    and then sets each field through a global lookup (the event nearly every one of a replay is).
    Every field is set (tests/unit/test_events_fast.py holds it to the dataclass's fields)."""
    event = _new(InstallEvent)
    _set(event, "manager", manager)
    _set(event, "stream", stream)
    _set(event, "line", line)
    _set(event, "seq", seq)
    _set(event, "t", t)
    _set(event, "t_source", t_source)
    _set(event, "backfilled", False)
    _set(event, "raw", raw)
    return event


def _str(value: Any, default: str = "") -> str:
    return value if isinstance(value, str) else default


def _peer_node(data: dict[str, Any]) -> str | None:
    for key in ("node", "name", "hostname"):
        if isinstance(data.get(key), str):
            return data[key]
    return None


def parse_event(name: str, data: Any, *, seq: int | None = None, t: int | None = None,
                t_source: str | None = None) -> Event:
    """Build a typed event from an event name and its payload (a decoded object or a raw string).

    ``t`` given by the caller wins over one in the payload; ``t_source`` names where a time came
    from (default ``"event"`` when there is one). Never raises: a payload of the wrong shape
    becomes an :class:`UnknownEvent` carrying it.
    """
    if t is not None and t_source is None:
        t_source = "event"
    owned = False  # a payload decoded here is ours to change; a caller's dict is copied first
    if isinstance(data, str):
        try:
            data = _decode_json(data) if data else None
        except ValueError:
            return UnknownEvent(event_name=name, seq=seq, t=t, t_source=t_source, raw=data)
        owned = True
    if isinstance(data, dict):
        d = data
        if isinstance(d.get("t"), int):
            if not owned:
                d = data = dict(data)
            wire_t = d.pop("t")
            if t is None:
                t, t_source = wire_t, "event"
    else:
        d = {}
    # The two kinds nearly every event is: built without the shared keyword dict (a replay runs
    # this once per event).
    if name == INSTALL and isinstance(line := d.get("line"), str):
        manager = d.get("manager")
        return _install_event(manager if isinstance(manager, str) else "install",
                              "stderr" if d.get("stream") == "stderr" else "stdout", line, seq, t, t_source, data)
    if name == PHASE and isinstance(phase := d.get("phase"), str):
        return PhaseEvent(phase=phase, status=_str(d.get("status"), "done"), seq=seq, t=t, t_source=t_source, raw=data)
    common = {"seq": seq, "t": t, "t_source": t_source, "raw": data}
    if name == PEER and d:
        error = d.get("error") or d.get("reason")
        status = "failed" if error else _str(d.get("status"), "success")
        return PeerEvent(node=_peer_node(d), status=status, error=error, **common)
    if name == ERROR and d:
        return ErrorEvent(
            message=_str(d.get("message"), "unknown error"),
            code=d.get("code"),
            phase=d.get("phase") if isinstance(d.get("phase"), str) else None,
            install_output=d.get("install_output") if isinstance(d.get("install_output"), dict) else None,
            deployment_id=d.get("deployment_id") if isinstance(d.get("deployment_id"), str) else None,
            **common,
        )
    if name == WARNING and d:
        return WarningEvent(message=_str(d.get("message")), **common)
    if name == PAYLOAD_DROPPED:
        size = d.get("payload_size")
        return PayloadDroppedEvent(payload_size=size if isinstance(size, int) else None, **common)
    if name == TRUNCATED and isinstance(d.get("dropped_events"), int):
        return TruncatedEvent(dropped_events=d["dropped_events"], **common)
    if name == RECORDER_FINISHED:
        return RecorderFinishedEvent(status=_str(d.get("status")), **common)
    if name == DONE:
        return DoneEvent(result=d.get("result", data) if d else data, **common)
    return UnknownEvent(event_name=name, **common)


def event_name(event: Event) -> str:
    """The wire name of a typed event (``UnknownEvent`` keeps its own)."""
    return event.event_name if isinstance(event, UnknownEvent) else event.name
