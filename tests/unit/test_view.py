"""DeploymentView: the pure reducer shared by the dashboard and the headless commands."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from deploytui.client.ansi import StyledSpan
from deploytui.client.view import DeploymentView, Gap, ViewChange, classify_line
from deploytui.protocol.event_log import append_bounded
from deploytui.protocol.events import Event, parse_event

DEP = "6f1c2c1e-0000-4000-8000-000000000001"


def ev(name: str, data: Any = None, *, seq: int | None = None, t: int | None = None) -> Event:
    return parse_event(name, data, seq=seq, t=t)


def phase(name: str, status: str, **kw: Any) -> Event:
    return ev("phase", {"phase": name, "status": status}, **kw)


def install(line: str, stream: str = "stdout", **kw: Any) -> Event:
    return ev("install", {"manager": "npm", "stream": stream, "line": line}, **kw)


def row(status: str, **fields: Any) -> dict[str, Any]:
    base = {"deployment_id": DEP, "project": "hello", "status": status, "phase": "success",
            "started_at": 1_000, "completed_at": 5_100, "peer_results": [], "error": None}
    return base | fields


def one_shot_success() -> list[Event]:
    events = [
        phase("prepare", "start", t=1_000),
        install("added 3 packages in 1s", t=1_500),
        install("npm warn deprecated inflight@1.0.6: leaks memory", "stderr", t=1_600),
        phase("prepare", "done", t=4_200),
        phase("load", "start", t=4_200),
        phase("load", "done", t=4_300),
        phase("replicate", "start", t=4_300),
        ev("peer", {"node": "node-1", "status": "success"}, t=4_800),
        phase("replicate", "done", t=4_900),
        ev("payload_dropped", {"payload_size": 20_000_000, "max_size": 10_485_760}, t=5_000),
        phase("success", "done", t=5_000),
        ev("_recorder_finished", {"status": "success"}, t=5_100),
        ev("done", {"result": row("success")}),
    ]
    return [_with_seq(e, i + 1) for i, e in enumerate(events)]


def _with_seq(event: Event, seq: int) -> Event:
    return parse_event(event.name or "", event.raw, seq=seq, t=event.t)


def view_from_row(row: dict[str, Any]) -> DeploymentView:
    """A view of a deployment known only by its row, as a replay builds it: the events of its
    ``event_log``, then the row itself."""
    view = DeploymentView(row.get("deployment_id"))
    view.apply_all(ev(entry["event"], entry.get("data"), t=entry.get("t")) for entry in row.get("event_log") or ())
    view.apply_row(row)
    return view


def states(view: DeploymentView) -> dict[str, str]:
    return {p.name: p.state for p in view.phases}


def summary(view: DeploymentView) -> tuple[Any, ...]:
    """A stable, comparable picture of a view's state."""
    return (
        view.deployment_id, view.project, view.status, view.finished, view.succeeded,
        [(p.name, p.state, p.started_at, p.ended_at) for p in view.phases],
        list(view.lines), view.total_lines, view.evicted_lines, list(view.gaps),
        view.error, dict(view.peers), view.warnings, view.payload_dropped, view.last_seq,
    )


# -- the event orders of contract §4.4 -----------------------------------------------------------


def test_one_shot_success() -> None:
    view = DeploymentView(DEP)
    view.apply_all(one_shot_success())
    assert [p.name for p in view.phases] == ["prepare", "load", "replicate", "restart", "success"]
    assert states(view) == {"prepare": "done", "load": "done", "replicate": "done",
                            "restart": "skipped", "success": "done"}
    assert view.phase("prepare").duration_ms == 3_200
    assert (view.status, view.finished, view.succeeded) == ("success", True, True)
    assert view.project == "hello" and view.payload_dropped
    assert [line.text.text for line in view.lines] == ["added 3 packages in 1s",
                                                       "npm warn deprecated inflight@1.0.6: leaks memory"]
    assert [(line.is_error, line.is_warning) for line in view.lines] == [(False, False), (False, True)]
    assert view.peers["node-1"].status == "success"
    assert view.elapsed_ms == 4_100


def test_status_follows_phase_starts() -> None:
    view = DeploymentView()
    view.apply(phase("prepare", "start"))
    assert view.status == "pending"  # prepare has no status of its own (contract §3.2)
    change = view.apply(phase("load", "start"))
    assert view.status == "loading" and change.status and change.phases
    assert states(view)["prepare"] == "running"  # load inside prepare is not assumed


def test_failure_in_prepare_keeps_the_rich_error() -> None:
    view = DeploymentView(DEP)
    view.apply_all([
        phase("prepare", "start", t=10),
        install("npm ERR! code ELIFECYCLE", "stderr", t=20),
        ev("error", {"message": "install failed", "code": 500, "phase": "prepare",
                     "install_output": {"lines": [], "truncated": False, "dropped_lines": 0},
                     "deployment_id": DEP}, t=30),
        ev("_recorder_finished", {"status": "failed"}, t=31),
        ev("error", {"message": "install failed", "code": 500}),  # Harper v1/v2 framework duplicate
    ])
    assert states(view) == {"prepare": "failed", "load": "skipped", "replicate": "skipped",
                            "restart": "skipped", "success": "skipped"}
    assert view.error is not None and view.error.phase == "prepare" and view.error.code == 500
    assert (view.status, view.finished, view.succeeded) == ("failed", True, False)
    assert view.lines[0].is_error


def test_failure_in_load_without_phase_uses_the_running_phase() -> None:
    view = DeploymentView()
    change = view.apply_all([
        phase("prepare", "start"), phase("prepare", "done"), phase("load", "start"),
        ev("error", {"message": "bad config.yaml", "code": 400}),
    ])
    assert states(view) == {"prepare": "done", "load": "failed", "replicate": "skipped",
                            "restart": "skipped", "success": "skipped"}
    assert change.error and change.finished and view.succeeded is False


def test_replication_failure_after_restart_marks_replicate_failed() -> None:
    view = DeploymentView()
    view.apply_all([
        phase("prepare", "start"), phase("prepare", "done"),
        phase("replicate", "start"), ev("peer", {"node": "n2", "error": {"message": "timeout"}}),
        phase("replicate", "done"), phase("restart", "start"), phase("restart", "done"),
        ev("error", {"message": "failed to replicate to 1 of 1", "code": 500, "phase": "replicate"}),
    ])
    assert states(view) == {"prepare": "done", "load": "skipped", "replicate": "failed",
                            "restart": "done", "success": "skipped"}
    assert view.peers["n2"].status == "failed"


def test_two_phase_names_and_order() -> None:
    view = DeploymentView()
    view.apply_all([
        phase("stage", "start"), install("added 1 package"), phase("load", "start"), phase("load", "done"),
        ev("peer", {"node": "n2", "status": "success"}), phase("stage", "done"),
        phase("activate", "start"), phase("activate", "done"),
        phase("restart", "start"), phase("restart", "done"), phase("success", "done"),
        ev("_recorder_finished", {"status": "success"}),
    ])
    assert list(states(view).items()) == [("stage", "done"), ("load", "done"), ("staged", "skipped"),
                                          ("activate", "done"), ("restart", "done"), ("success", "done")]


def test_stage_only_settles_the_rest() -> None:
    view = DeploymentView()
    view.apply_all([
        phase("stage", "start"), phase("stage", "done"), phase("staged", "done"),
        ev("_recorder_finished", {"status": "staged"}),
        ev("done", {"result": {"message": "Staged component: hello", "project": "hello", "staged": True,
                               "deployment_id": DEP, "replicated": []}}),
    ])
    assert states(view) == {"stage": "done", "load": "skipped", "staged": "done", "activate": "skipped",
                            "restart": "skipped", "success": "skipped"}
    assert (view.status, view.succeeded, view.deployment_id) == ("staged", True, DEP)


def test_activate_existing_done_with_deploy_result_is_success() -> None:
    view = DeploymentView()
    view.apply_all([
        phase("activate", "start"), phase("activate", "done"),
        ev("done", {"result": {"message": "Activated component: hello", "project": "hello",
                               "activated": True, "deployment_id": DEP}}),
    ])
    assert view.status == "success" and view.succeeded is True and view.project == "hello"
    assert states(view)["success"] == "skipped"


def test_revert() -> None:
    view = DeploymentView()
    view.apply_all([
        phase("revert", "start"), ev("peer", {"node": "n2", "status": "success"}), phase("revert", "done"),
        phase("success", "done"), ev("_recorder_finished", {"status": "rolled_back"}),
        ev("done", {"result": row("rolled_back", rollback_of="old")}),
    ])
    assert list(states(view).items()) == [("revert", "done"), ("restart", "skipped"), ("success", "done")]
    assert (view.status, view.succeeded) == ("rolled_back", True)


def test_unknown_phase_is_shown_and_skips_nothing() -> None:
    view = DeploymentView()
    view.apply_all([phase("prepare", "start"), phase("extract", "start"), phase("extract", "done")])
    assert list(states(view).items())[-1] == ("extract", "done")
    assert states(view)["load"] == "pending"


def test_stale_done_row_leaves_the_outcome_open() -> None:
    """Harper's get_deployment on a peer may end with a non-terminal row (contract §6.2)."""
    view = DeploymentView()
    view.apply_all([phase("replicate", "start"), ev("done", {"result": row("replicating", completed_at=None)})])
    assert view.finished and view.succeeded is None and view.status == "replicating"
    assert states(view)["restart"] == "pending"


def test_stale_done_row_does_not_undo_a_success_the_stream_told() -> None:
    view = DeploymentView()
    view.apply_all([phase("replicate", "start"), phase("replicate", "done"), phase("success", "done"),
                    ev("done", {"result": row("replicating", completed_at=None)})])
    assert (view.status, view.succeeded) == ("success", True)


def test_row_corrects_a_provisional_failed_status() -> None:
    """Two-phase may finish a failed deploy as ``activating`` (contract §3.2)."""
    view = DeploymentView()
    view.apply_all([phase("activate", "start"), ev("error", {"message": "split", "phase": "activate"})])
    assert view.status == "failed"
    view.apply_row(row("activating", phase="activate", completed_at=None))
    assert view.status == "activating" and view.succeeded is False


# -- times ---------------------------------------------------------------------------------------


def test_received_at_stands_in_for_missing_times() -> None:
    view = DeploymentView()
    view.apply(phase("prepare", "start"), received_at=100)
    assert view.phase("prepare").duration_ms is None  # running
    view.apply(install("x"), received_at=150)
    view.apply(phase("prepare", "done", t=400), received_at=999)  # the event's own time wins
    assert view.phase("prepare").duration_ms == 300
    assert view.lines[0].t == 150 and view.elapsed_ms == 300


# -- lines, gaps, eviction -----------------------------------------------------------------------


def test_install_lines_are_sanitised() -> None:
    view = DeploymentView()
    view.apply(install("\x1b]0;pwned\x07\x1b[31merror\x1b[0m [bold]x[/bold]\x1b[2J"))
    line = view.lines[0]
    assert line.text.text == "error [bold]x[/bold]"
    assert line.text.spans == (StyledSpan(0, 5, "red"),) and line.is_error


def test_truncated_marker_becomes_a_gap() -> None:
    view = DeploymentView()
    change = view.apply_all([ev("truncated", {"dropped_events": 7}), install("a"), install("b"),
                             ev("truncated", {"dropped_events": 4_821}), install("c")])
    assert view.gaps == [Gap(-1, 7, exact=False), Gap(1, 4_821, exact=False)] and change.gaps and change.new_lines == 3


def test_eviction_keeps_indices_counting() -> None:
    view = DeploymentView(max_lines=3)
    view.apply_all(install(f"line {i}") for i in range(5))
    assert [line.index for line in view.lines] == [2, 3, 4]
    assert (view.total_lines, view.evicted_lines) == (5, 2)


# -- idempotence ---------------------------------------------------------------------------------


def test_replay_after_partial_live_run_is_identical() -> None:
    events = one_shot_success()
    fresh = DeploymentView(DEP)
    fresh.apply_all(events)

    reconnected = DeploymentView(DEP)
    reconnected.apply_all(events[:6])  # live until the connection dropped
    before = summary(reconnected)
    assert not reconnected.apply_all(events[:6])  # seqs already applied change nothing
    assert summary(reconnected) == before
    reconnected.apply_all(events)  # the replay after the reconnect brings the rest
    assert summary(reconnected) == summary(fresh)
    reconnected.apply_all(events)
    assert summary(reconnected) == summary(fresh)


def test_backfilled_events_are_counted() -> None:
    view = DeploymentView()
    view.apply(replace(install("x"), backfilled=True))
    assert view.backfilled == 1 and view.total_lines == 1


# -- rows ----------------------------------------------------------------------------------------


def test_from_row_of_a_truncated_event_log() -> None:
    log: list[dict[str, Any]] = []
    events = [("phase", {"phase": "prepare", "status": "start"})]
    events += [("install", {"manager": "npm", "stream": "stdout", "line": f"l{i}"}) for i in range(500)]
    events += [("phase", {"phase": "prepare", "status": "done"}),
               ("error", {"message": "boom", "code": 500, "phase": "load"})]
    events.insert(-1, ("phase", {"phase": "load", "status": "start"}))
    for i, (name, data) in enumerate(events):
        append_bounded(log, {"t": 1_000 + i, "event": name, "data": data}, now_ms=1_000 + i)
    view = view_from_row(row("failed", phase="load", event_log=log,
                                       error={"message": "boom", "code": 500, "phase": "load"}))
    kept = sum(1 for entry in log if entry["event"] == "install")
    assert view.total_lines == kept and len(view.gaps) == 1
    assert view.gaps[0] == Gap(18, len(events) - 199, exact=False)  # 19 head lines after the phase start
    assert states(view) == {"prepare": "done", "load": "failed", "replicate": "skipped",
                            "restart": "skipped", "success": "skipped"}
    assert view.error.message == "boom" and view.succeeded is False and view.finished


def test_from_row_without_event_log_uses_the_row_error() -> None:
    view = view_from_row(row("failed", phase="prepare", event_log=[],
                                       error={"message": "install exited 1", "phase": "prepare"},
                                       peer_results=[{"node": "n2", "status": "success"}]))
    assert view.error is not None and view.error.phase == "prepare"
    assert states(view)["prepare"] == "failed" and "n2" in view.peers


def test_list_row_of_a_running_deployment() -> None:
    view = DeploymentView()
    change = view.apply_row(row("replicating", phase="replicate", completed_at=None))
    assert view.phase("replicate").state == "running" and not view.finished
    assert change.status and view.succeeded is None


def test_view_change_truth_and_a_batch_is_the_union() -> None:
    assert not ViewChange() and ViewChange(new_lines=1) and ViewChange(error=True)
    view = DeploymentView()
    view.apply(phase("prepare", "start"))
    change = view.apply_all([install("a"), install("b"), ev("error", {"message": "x", "phase": "prepare"})])
    assert change.new_lines == 2 and change.error and change.finished and change.phases


# -- line classification -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("npm ERR! code ELIFECYCLE", (True, False)),
        ("npm error code E404", (True, False)),
        ("Error: Cannot find module 'x'", (True, False)),
        ("TypeError: x is not a function", (True, False)),
        ("see ./errors/index.js", (False, False)),
        ("build failed with 2 errors", (True, False)),
        ("Command failed with exit code 1.", (True, False)),
        ("process exited with code 137", (True, False)),
        ("process exited with code 0", (False, False)),
        ("compiled with 0 errors and 0 warnings", (False, False)),
        ("errors: 0, warnings: 0", (False, False)),
        ("added error-ex@1.3.2 and is-error", (False, False)),
        ("ELIFECYCLE", (True, False)),
        ("npm WARN deprecated glob@7.2.3", (False, True)),
        ("npm warn cleanup Failed to remove some directories", (False, True)),
        ("warning: peer dependency missing", (False, True)),
        ("request@2.88.2 is deprecated", (False, True)),
        ("added 312 packages in 4s", (False, False)),
    ],
)
def test_classify_line(text: str, expected: tuple[bool, bool]) -> None:
    assert classify_line(text) == expected
