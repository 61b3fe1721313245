"""DeploymentView: a pure reducer from typed events (and rows) to what a screen shows.

The dashboard and the headless renderer both fold a deployment's events through this one reducer, so
they tell the same story. It must reach the same state whether events arrive live, replayed, or
replayed after a reconnect: the caller dedupes the stream, and the reducer itself ignores an event
whose ``seq`` it has already applied. Events without a ``seq`` (Harper sends none) are applied as
they come.

Times: Harper sends no times on the wire, so an event may carry ``t=None`` (attach() gives each
the best time it knows); the caller passes ``received_at`` (epoch ms) for those. A terminal row's
``event_log`` re-times the phases with the server's own times, so the timeline and the header (the
row's ``started_at``/``completed_at``) tell the same durations whatever the client saw live.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Any, Literal

from deploytui.client.ansi import SafeText, sanitize, sanitize_parts, strip_controls
from deploytui.client.classify import classify_line
from deploytui.client.lines import InstallLine, LineStore
from deploytui.protocol.deployment import (
    ONE_SHOT_PHASES,
    PHASE_START_STATUS,
    REVERT_PHASES,
    TWO_PHASE_PHASES,
    is_terminal,
    phase_order_for,
)
from deploytui.protocol.events import (
    DoneEvent,
    ErrorEvent,
    Event,
    InstallEvent,
    PayloadDroppedEvent,
    PeerEvent,
    PhaseEvent,
    RecorderFinishedEvent,
    TruncatedEvent,
    WarningEvent,
    parse_event,
)

PhaseState = Literal["pending", "running", "done", "failed", "skipped"]

MAX_EVENTS = 10_000
_CANONICAL = frozenset(ONE_SHOT_PHASES + TWO_PHASE_PHASES + REVERT_PHASES)
# Statuses after which phases still pending will never run; the positive ones.
_SETTLED = frozenset({"success", "failed", "rolled_back", "staged"})
_POSITIVE = _SETTLED - {"failed"}


@dataclass(slots=True)
class Phase:
    """One step of the pipeline on the timeline."""

    name: str
    state: PhaseState = "pending"
    started_at: int | None = None
    ended_at: int | None = None

    @property
    def duration_ms(self) -> int | None:
        """How long the phase took, or None while it runs (the UI ticks running time itself)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return max(0, self.ended_at - self.started_at)


@dataclass(frozen=True, slots=True)
class Gap:
    """A ``truncated`` marker: the server's event_log dropped events here, ``dropped_events`` of
    them when ``exact`` (Harper's own count is not to be trusted)."""

    after_index: int  # index of the last install line before the gap, -1 when none
    dropped_events: int
    exact: bool = True


@dataclass(slots=True)
class ViewChange:
    """What one :meth:`DeploymentView.apply` changed, so a screen redraws only that."""

    new_lines: int = 0
    phases: bool = False
    status: bool = False
    error: bool = False
    peers: bool = False
    finished: bool = False
    gaps: bool = False
    warnings: bool = False

    def __bool__(self) -> bool:
        return bool(self.new_lines) or any(getattr(self, name) for name in _FLAGS)


_FLAGS = tuple(f.name for f in fields(ViewChange) if f.name != "new_lines")


# -- the reducer -------------------------------------------------------------------------------


class DeploymentView:
    """Everything a screen shows about one deployment, folded from its events and rows."""

    def __init__(
        self,
        deployment_id: str | None = None,
        *,
        max_lines: int = 200_000,
        max_events: int = MAX_EVENTS,
    ) -> None:
        self.deployment_id = deployment_id
        self.project: str | None = None
        self.status: str | None = None
        self.phases: list[Phase] = [Phase(name) for name in phase_order_for([])]
        self.lines = LineStore(maxlen=max_lines)
        """The newest ``max_lines`` install lines, held as columns (``lines[i]`` is an ``InstallLine``)."""
        self.total_lines = 0
        self.gaps: list[Gap] = []
        self.error: ErrorEvent | None = None
        self.peers: dict[str, PeerEvent] = {}
        self.events: deque[Event] = deque(maxlen=max_events)
        self.warnings: list[str] = []
        self.row: dict[str, Any] | None = None
        self.result: Any = None
        self.finished = False
        self.backfilled = 0
        self.payload_dropped = False
        self.started_at: int | None = None  # the row's times when known
        self.completed_at: int | None = None
        self.first_event_at: int | None = None  # times of the first and last events applied
        self.last_event_at: int | None = None
        self.last_seq: int | None = None
        self._seen_phases: list[str] = []

    @property
    def evicted_lines(self) -> int:
        """Install lines dropped from :attr:`lines` to keep it within ``max_lines``."""
        return self.total_lines - len(self.lines)

    # -- public API --------------------------------------------------------------------------
    def apply_all(self, events: Iterable[Event], *, received_at: int | None = None) -> ViewChange:
        """Apply a batch of events; the change is the union of their changes."""
        change = ViewChange()
        for event in events:
            self._apply(event, received_at, change)
        return change

    def apply(self, event: Event, *, received_at: int | None = None) -> ViewChange:
        """Fold one event; an event whose ``seq`` was already applied changes nothing."""
        change = ViewChange()
        self._apply(event, received_at, change)
        return change

    def _apply(self, event: Event, received_at: int | None, change: ViewChange) -> None:
        seq = event.seq
        if seq is not None:
            if self.last_seq is not None and seq <= self.last_seq:
                return
            self.last_seq = seq
        t = event.t
        if t is None:
            t = received_at
        if t is not None:  # _note_time, inline: this runs once per event of a replay
            if self.first_event_at is None:
                self.first_event_at = t
            if self.last_event_at is None or t > self.last_event_at:
                self.last_event_at = t
        self.events.append(event)
        if event.backfilled:
            self.backfilled += 1
        if self.status is None:
            self.status = "pending"  # a row starts pending; the events move it on
            change.status = True
        handler = _HANDLERS.get(type(event))
        if handler is not None:
            handler(self, event, t, change)

    def apply_row(self, row: dict[str, Any]) -> ViewChange:
        """Fold a row (``get_deployment``, ``done.result``, a list row) into the view.

        The row's ``event_log`` is not replayed here: a live view has the events already.
        """
        change = ViewChange()
        self._fold_row(row, change)
        return change

    @property
    def succeeded(self) -> bool | None:
        """True/False once the deployment is known to have succeeded or failed; None until then
        (still running, or the stream ended on a stale non-terminal row)."""
        if self.error is not None or self.status == "failed":
            return False
        if self.finished and self.status in _SETTLED:
            return True
        return None

    @property
    def elapsed_ms(self) -> int | None:
        """The deployment's duration: from the row's times, else from its first to its last event."""
        if self.started_at is not None and self.completed_at is not None:
            return max(0, self.completed_at - self.started_at)
        if self.first_event_at is not None and self.last_event_at is not None:
            return self.last_event_at - self.first_event_at
        return None

    def phase(self, name: str) -> Phase | None:
        """The phase called ``name``, if the timeline has it."""
        return next((p for p in self.phases if p.name == name), None)

    @property
    def running_phase(self) -> Phase | None:
        """The phase running now (the last one started), if any."""
        return next((p for p in reversed(self.phases) if p.state == "running"), None)

    # -- event handlers ----------------------------------------------------------------------
    def _on_phase(self, event: PhaseEvent, t: int | None, change: ViewChange) -> None:
        phase = self._ensure_phase(event.phase)
        change.phases = True
        if event.phase in _CANONICAL:
            self._skip_pending_before(phase)
        if event.status == "start":
            phase.state, phase.started_at, phase.ended_at = "running", t, None
            if event.phase in PHASE_START_STATUS:
                self._set_status(PHASE_START_STATUS[event.phase], change)
        elif event.status == "error":
            phase.state, phase.ended_at = "failed", t
        else:
            phase.state, phase.ended_at = "done", t
        if event.phase == "success" and event.status != "error":
            self._set_status("success", change)

    def _on_install(self, event: InstallEvent, t: int | None, change: ViewChange) -> None:
        text, spans = sanitize_parts(event.line)
        is_error, is_warning = classify_line(text)
        flags = (event.stream == "stderr") | (is_error << 1) | (is_warning << 2)
        self.lines.add(self.total_lines, event.seq, flags, text, spans, t, event.manager)
        self.total_lines += 1
        change.new_lines += 1

    def _on_peer(self, event: PeerEvent, t: int | None, change: ViewChange) -> None:
        self.peers[event.node or "unknown"] = event  # a later result for a node replaces it
        change.peers = True

    def _on_error(self, event: ErrorEvent, t: int | None, change: ViewChange) -> None:
        # Harper v1/v2 follow the deploy's rich error with a bare framework one: keep the rich one.
        if self.error is not None and event.phase is None and event.install_output is None:
            return
        self._fail(event, t, change)

    def _on_warning(self, event: WarningEvent, t: int | None, change: ViewChange) -> None:
        self.warnings.append(strip_controls(event.message))
        change.warnings = True

    def _on_payload_dropped(self, event: PayloadDroppedEvent, t: int | None, change: ViewChange) -> None:
        self.payload_dropped = True

    def _on_truncated(self, event: TruncatedEvent, t: int | None, change: ViewChange) -> None:
        self.gaps.append(Gap(self.total_lines - 1, event.dropped_events, event.exact))
        change.gaps = True

    def _on_recorder_finished(self, event: RecorderFinishedEvent, t: int | None, change: ViewChange) -> None:
        if event.status:
            self._set_status(event.status, change)
            if event.status in _SETTLED:
                self._settle()

    def _on_done(self, event: DoneEvent, t: int | None, change: ViewChange) -> None:
        self.result = event.result
        result = event.result if isinstance(event.result, dict) else {}
        if "deployment_id" in result and "status" in result:
            self._fold_row(result, change)
        elif "deployment_id" in result and "message" in result:
            self._fold_deploy_result(result, change)
        self._finish(change)

    # -- helpers -----------------------------------------------------------------------------
    def _note_time(self, t: int | None) -> None:
        if t is None:
            return
        if self.first_event_at is None:
            self.first_event_at = t
        self.last_event_at = t if self.last_event_at is None else max(self.last_event_at, t)

    def _set_status(self, status: str, change: ViewChange) -> None:
        if status != self.status:
            self.status = status
            change.status = True

    def _ensure_phase(self, name: str) -> Phase:
        """The phase called ``name``, re-ordering the timeline when a new name changes the plan."""
        existing = self.phase(name)
        if existing is not None:
            return existing
        self._seen_phases.append(name)
        by_name = {p.name: p for p in self.phases}
        order = phase_order_for(self._seen_phases)
        # A plan change (one-shot -> two-phase) drops canonical phases that never ran.
        self.phases = [by_name.get(n) or Phase(n) for n in order]
        self.phases += [p for p in by_name.values() if p.name not in order and p.state != "pending"]
        return self.phase(name)  # type: ignore[return-value]

    def _skip_pending_before(self, phase: Phase) -> None:
        for earlier in self.phases:
            if earlier is phase:
                return
            if earlier.state == "pending" and earlier.name in _CANONICAL:
                earlier.state = "skipped"

    def _settle(self) -> None:
        """The pipeline is over: every phase still pending was skipped; without an error, one still
        running finished (its ``done`` was lost, e.g. to event_log truncation)."""
        for phase in self.phases:
            if phase.state == "pending":
                phase.state = "skipped"
            elif phase.state == "running" and self.error is None:
                phase.state = "done"

    def _fail(self, error: ErrorEvent, t: int | None, change: ViewChange) -> None:
        """Record the error and mark where the pipeline broke."""
        self.error = error
        self.deployment_id = self.deployment_id or error.deployment_id
        change.error = change.phases = True
        failed = self._ensure_phase(error.phase) if error.phase else self.running_phase
        if failed is not None:
            self._skip_pending_before(failed)
            failed.state, failed.ended_at = "failed", t
        for phase in self.phases:  # a phase holding the failed one (stage around load) failed too
            if phase.state == "running":
                phase.state, phase.ended_at = "failed", t
        self._settle()
        if not is_terminal(self.status):
            self._set_status("failed", change)  # _recorder_finished or the row may still say otherwise
        self._finish(change)

    def _finish(self, change: ViewChange) -> None:
        """The stream is over. Pending phases are settled only when the status says the pipeline
        is (a stale non-terminal ``done`` row may belong to a deploy still running elsewhere)."""
        if self.status in _SETTLED:
            self._settle()
            change.phases = True
        if not self.finished:
            self.finished = change.finished = True

    def _fold_row_peers(self, results: Any, change: ViewChange) -> None:
        for result in results if isinstance(results, list) else ():
            peer = parse_event("peer", result) if isinstance(result, dict) else None
            if isinstance(peer, PeerEvent):
                self._on_peer(peer, None, change)

    def _fold_row_phase(self, phase: Any, status: Any) -> None:
        """A list row has no events: show its current phase as running while it is not terminal."""
        if self._seen_phases or not isinstance(phase, str) or phase == "pending":
            return
        current = self._ensure_phase(phase)
        if not is_terminal(status) and status not in _SETTLED:
            current.state = "running"

    def _fold_row(self, row: dict[str, Any], change: ViewChange) -> None:
        self.row = row
        self._adopt_identity(row)
        for key in ("started_at", "completed_at"):
            if isinstance(row.get(key), int):
                setattr(self, key, row[key])
        self._fold_row_peers(row.get("peer_results"), change)
        if isinstance(row.get("error"), dict) and row["error"].get("message") and self.error is None:
            self._fail(parse_event("error", row["error"]), row.get("completed_at"), change)
        self._fold_row_phase(row.get("phase"), row.get("status"))
        if is_terminal(row.get("status")) and isinstance(row.get("event_log"), list):
            self._retime_phases(row["event_log"])
        status = row.get("status")
        # A stale row (contract §6.2: done may carry a row read before the terminal write) must not
        # undo an outcome the stream already told; a provisional "failed" it may correct.
        stale = self.status in _POSITIVE and not is_terminal(status)
        if isinstance(status, str) and not stale:
            self._set_status(status, change)
        if is_terminal(self.status):
            self._finish(change)

    def _retime_phases(self, event_log: list[Any]) -> None:
        """Phase starts and ends at the times the server logged them (a live view may have had
        only the times it received the events)."""
        for entry in event_log:
            if not isinstance(entry, dict) or entry.get("event") != "phase" or not isinstance(entry.get("t"), int):
                continue
            data = entry.get("data")
            if not isinstance(data, dict):
                continue
            phase = self.phase(str(data.get("phase")))
            if phase is None:
                continue
            if data.get("status") == "start":
                phase.started_at = entry["t"]
            else:
                phase.ended_at = entry["t"]

    def _fold_deploy_result(self, result: dict[str, Any], change: ViewChange) -> None:
        """``deploy_component``'s own result: the operation resolved, so the deploy went through
        (``staged`` when it only staged), unless an error said otherwise."""
        self._adopt_identity(result)
        if self.error is None and self.status not in _SETTLED:
            self._set_status("staged" if result.get("staged") is True else "success", change)

    def _adopt_identity(self, source: dict[str, Any]) -> None:
        """Take the deployment id (if still unknown) and the project from a row or a result."""
        if self.deployment_id is None and isinstance(source.get("deployment_id"), str):
            self.deployment_id = source["deployment_id"]
        if isinstance(source.get("project"), str):
            self.project = source["project"]


_HANDLERS = {
    PhaseEvent: DeploymentView._on_phase,
    InstallEvent: DeploymentView._on_install,
    PeerEvent: DeploymentView._on_peer,
    ErrorEvent: DeploymentView._on_error,
    WarningEvent: DeploymentView._on_warning,
    PayloadDroppedEvent: DeploymentView._on_payload_dropped,
    TruncatedEvent: DeploymentView._on_truncated,
    RecorderFinishedEvent: DeploymentView._on_recorder_finished,
    DoneEvent: DeploymentView._on_done,
}
