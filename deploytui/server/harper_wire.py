"""What ``--wire harper`` changes in what the server sends, so it is Harper 5.1.14 byte for byte
(contract §4.7; tests/server/test_harper_wire_bytes.py compares with the captures).

The framing lives in server/stream.py (no ids, no ``t``, no keepalives, the bounded ``event_log``
replayed) and the ``_recorder_finished`` sentinel in the recorder (``EventHub(recorder_finished=…)``);
here are the rest: the SSE headers, the truncation marker's count, and a deploy's answer.
"""

from __future__ import annotations

from typing import Any

from deploytui.protocol.event_log import TRUNCATED

# Harper sends no charset parameter; our own wire says utf-8 (the body is UTF-8 either way).
SSE_CONTENT_TYPE = {"harper": "text/event-stream", "deploytui": "text/event-stream; charset=utf-8"}
# Harper's marker reads 2 once the log is full: each append past 200 entries removes the old
# marker and one tail entry (2 entries) and writes a new marker saying so (contract §5).
HARPER_DROPPED_EVENTS = 2
# A one-shot deploy's answer on a 5.1.14 node; ``replicated`` only when there were peers.
_DEPLOY_RESULT_KEYS = ("message", "deployment_id", "replicated", "restartJobId")


def sse_headers(wire: str) -> dict[str, str]:
    """The event stream's headers as the wire's server sends them (``X-Deployment-Id`` aside)."""
    return {"Content-Type": SSE_CONTENT_TYPE[wire], "Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def event_log_view(event_log: list[dict[str, Any]], wire: str) -> list[dict[str, Any]]:
    """The row's ``event_log`` as the wire shows it: on ``harper``, the truncation marker carries
    Harper's count instead of ours (which counts every event left out)."""
    if wire != "harper":
        return event_log
    return [{**entry, "data": {**entry["data"], "dropped_events": HARPER_DROPPED_EVENTS}}
            if entry.get("event") == TRUNCATED and isinstance(entry.get("data"), dict) else entry
            for entry in event_log]


# A 5.1.14 row's keys, in the order it sends them (tests/data/harper-5.1.14-wire/get-p1.json).
HARPER_ROW_KEYS = ("deployment_id", "project", "package_identifier", "payload_hash", "payload_size", "status",
                   "phase", "event_log", "peer_results", "origin_node", "restart_mode", "started_at",
                   "completed_at", "user", "rollback_of", "error")


def row_view(row: dict[str, Any], wire: str) -> dict[str, Any]:
    """An API row (already stripped) as the wire shows it. On ``harper``: Harper's keys in Harper's
    order (none of our additions), ``error`` as ``{message, phase}``, Harper's marker count, and the
    table's ``__updatedtime__``/``__createdtime__`` (floats, ms: the last event recorded and
    ``started_at``, which is when the row was written first)."""
    if wire != "harper":
        return row
    view = {key: row.get(key) for key in HARPER_ROW_KEYS}
    view["event_log"] = event_log_view(row.get("event_log") or [], wire)
    view["peer_results"] = row.get("peer_results") or []
    if isinstance(view["error"], dict):
        view["error"] = {key: view["error"][key] for key in ("message", "phase") if key in view["error"]}
    started = row.get("started_at") or 0
    times = [started, row.get("completed_at") or 0, *(entry.get("t") or 0 for entry in view["event_log"][-1:])]
    view["__updatedtime__"] = float(max(times))
    view["__createdtime__"] = float(started)
    view["payload_blob_present"] = row.get("payload_blob_present", False)
    return view


def deploy_result(result: Any, wire: str) -> Any:
    """A deploy's answer as the wire sends it: on ``harper`` only what a 5.1.14 node answers
    (``message``, ``deployment_id``; ``replicated`` when peers took part; ``restartJobId``)."""
    if wire != "harper" or not isinstance(result, dict) or "message" not in result:
        return result
    return {key: result[key] for key in _DEPLOY_RESULT_KEYS if key in result and result[key] not in (None, [])}


def install_manager(install_command: str | None, manager: str) -> str:
    """The ``manager`` of install events: Harper names a custom command by its first word
    (``node fail.js`` -> ``node``), where our wire says ``custom``."""
    if install_command and install_command.strip():
        return install_command.split(" ")[0]
    return manager


def install_failure(project: str, install_command: str, code: int) -> str:
    """Harper 5.1.14's message for a custom install command that exits non-zero."""
    return (f"Failed to install dependencies for {project} using custom install command: "
            f"{install_command}. Exit code: {code}")
