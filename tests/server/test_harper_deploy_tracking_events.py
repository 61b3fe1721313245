"""Harper's ``integrationTests/deploy/deploy-tracking-events.test.ts`` in our words (contract §7.2),
against ``deploytui serve`` on both wires.

- *a deploy fills event_log with its lifecycle phases*: ≥ 2 entries, and the ``phase`` events
  include ``prepare`` and ``replicate`` — 5.1.14's assertion, on ``--wire harper`` (one-shot) —
  or ``stage`` and ``activate`` — Harper main's, on our wire (two-phase; ``load`` not asserted).
- *get_deployment as SSE replays and closes*: on a finished deploy, 200, ``text/event-stream``,
  ≥ 2 records with ``event:``, one ``event: phase``, one ``event: done``, and the stream ends.
- *get_deployment as SSE tails a deploy in flight* (Harper main's; it names no phase, so both
  wires): a deploy held in its install, found through ``list_deployments`` while not terminal,
  streams ``phase`` events and ends with ``done`` once the install is let go.
- *a failed deploy's event_log holds its error*: an install exiting 1 answers ≥ 400; the listed row
  is ``failed`` with an ``error`` entry in ``event_log``.

Harper's tail test holds the install with ``sleep 3``; ours holds it on a file the test creates
once the stream shows the install running, so nothing depends on timing.
"""

from __future__ import annotations

import json
import threading

import httpx

from tests.conftest import make_tarball, op
from tests.server.harper_tests import TERMINAL, listed, srv, wait_listed, wire  # noqa: F401 - fixtures
from tests.server.test_contract import multipart_deploy

APP = {"package.json": json.dumps({"name": "events", "version": "1.0.0"})}
SSE = {"Accept": "text/event-stream"}
PHASES = {"harper": {"prepare", "replicate"}, "deploytui": {"stage", "activate"}}


def test_a_deploy_fills_event_log_with_its_phases_and_its_replay_closes(srv, wire):
    answer = multipart_deploy(srv, {"project": "events", "restart": False, "install_command": "exit 0"},
                              make_tarball(APP))
    assert answer.status_code == 200, answer.text
    deployment_id = answer.json()["deployment_id"]
    row = op(srv, {"operation": "get_deployment", "deployment_id": deployment_id}).json()
    assert isinstance(row["event_log"], list) and len(row["event_log"]) >= 2
    assert PHASES[wire] <= {e["data"]["phase"] for e in row["event_log"] if e["event"] == "phase"}

    replay = op(srv, {"operation": "get_deployment", "deployment_id": deployment_id}, headers=SSE)
    assert replay.status_code == 200 and replay.headers["content-type"].startswith("text/event-stream")
    records = [block for block in replay.text.split("\n\n") if "event:" in block]
    assert len(records) >= 2
    assert any("event: phase" in r for r in records) and any("event: done" in r for r in records)


def test_get_deployment_as_sse_tails_a_deploy_in_flight(srv, tmp_path):
    gate = tmp_path / "gate"
    hold = f'sh -c "echo installing; while [ ! -e {gate} ]; do sleep 0.05; done; echo released"'
    box: dict = {}
    deploy = threading.Thread(target=lambda: box.setdefault("answer", multipart_deploy(
        srv, {"project": "events-live", "restart": False, "install_command": hold, "install_timeout": 30000},
        make_tarball(APP))))
    deploy.start()
    try:
        row = wait_listed(srv, "events-live", lambda r: r["status"] not in TERMINAL)
        text = ""
        with httpx.Client(auth=(srv.user, srv.password), timeout=60) as http, http.stream(
                "POST", srv.url + "/", json={"operation": "get_deployment", "deployment_id": row["deployment_id"]},
                headers=SSE) as stream:
            assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")
            for chunk in stream.iter_text():
                text += chunk
                if "installing" in text and not gate.exists():
                    gate.touch()  # the stream is live: let the install finish
    finally:
        gate.touch()
        deploy.join(60)
    assert box["answer"].status_code == 200
    assert "event: phase" in text and "event: done" in text and "released" in text


def test_a_failed_deploys_event_log_holds_its_error(srv):
    answer = multipart_deploy(srv, {"project": "events-fail", "restart": False, "install_timeout": 30000,
                                    "install_command": 'sh -c "exit 1"'}, make_tarball(APP))
    assert answer.status_code >= 400
    row = next(r for r in listed(srv, "events-fail") if r["deployment_id"] == answer.json()["deployment_id"])
    assert row["status"] == "failed"
    assert sum(1 for entry in row["event_log"] if entry["event"] == "error") >= 1
