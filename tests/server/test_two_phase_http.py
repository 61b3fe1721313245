"""Two-phase deploys over HTTP: Harper main's deploy tests' assertions, and every refusal.

Against a real ``deploytui serve`` (one per module, each test its own project). What each test
checks, and against what:

- Harper main's ``deploy-tracking.test.ts`` (contract §7.1, @36389161): a plain deploy answers a
  UUID ``deployment_id`` and its row is ``success`` with hash, size, times; the answer's ``install``
  and the row's ``install_fingerprint`` are ``{lockfiles: {"package-lock.json": sha256}}``; a failed
  install answers ≥ 400 with ``phase: "prepare"`` and the printed line in ``install_output``.
- Harper main's ``deploy-tracking-events.test.ts`` (late, §7.2): the event log of a plain deploy
  holds ``stage`` and ``activate`` phases; an SSE replay of it has ``phase`` and ``done`` records.
- Harper main's ``stage-then-activate.test.ts``: ``activate: false`` answers ``Staged…`` and leaves
  the running release alone; the row reads ``staged``, and its payload may be deleted (a staged row
  is terminal); activating by id answers 200 and the build goes live; an unknown id is a 404 that
  says there is no staged build with that id; another project's staged id is refused naming the
  project it belongs to; a stage that asks for a restart is refused naming ``restart``.
- The contract's activation rules (§2.1.1): fields fixed at stage time → 400 naming them; a row not
  staged → 409.
- ``--wire harper`` is Harper 5.1.14: it knows none of this and deploys one-shot.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Iterator

import pytest

from deploytui.client.local import LocalServer
from deploytui.server.config import ServerConfig
from deploytui.server.releases import ComponentReleases
from tests.conftest import make_tarball, op, start_server
from tests.server.test_contract import multipart_deploy

UUID = re.compile(r"^[0-9a-f-]{36}$", re.I)


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    server = start_server(tmp_path_factory.mktemp("two-phase-http") / "data")
    yield server
    server.stop()


def app(version: int, **extra: str) -> bytes:
    return make_tarball({"package.json": json.dumps({"name": "app", "version": f"{version}.0.0"}),
                         "version.txt": str(version), **extra})


def deploy(srv: LocalServer, project: str, payload: bytes, **fields) -> tuple[int, dict]:
    body = {"operation": "deploy_component", "project": project, "install_command": "true",
            "payload": base64.b64encode(payload).decode(), **fields}
    answer = op(srv, body)
    return answer.status_code, answer.json()


def live_version(srv: LocalServer, project: str) -> str:
    releases = ComponentReleases(ServerConfig(data_dir=srv.data_dir).components_dir, project)
    return (releases.current_path() / "version.txt").read_text()


def get(srv: LocalServer, deployment_id: str) -> dict:
    return op(srv, {"operation": "get_deployment", "deployment_id": deployment_id}).json()


def test_a_plain_deploy_is_tracked_and_fingerprinted(srv: LocalServer) -> None:
    lockfile = '{"name":"tracking-fingerprint-application","lockfileVersion":3,"packages":{}}\n'
    r = multipart_deploy(srv, {"project": "fingerprint", "restart": False}, app(1, **{"package-lock.json": lockfile}))
    assert r.status_code == 200, r.text
    result = r.json()
    assert UUID.match(result["deployment_id"]) and result["message"] == "Successfully deployed: fingerprint"
    expected = {"lockfiles": {"package-lock.json": hashlib.sha256(lockfile.encode()).hexdigest()}}
    assert result["install"] == expected
    row = get(srv, result["deployment_id"])
    assert row["install_fingerprint"] == expected
    assert row["status"] == "success" and row["payload_blob_present"] is True and len(row["payload_hash"]) == 64
    assert row["payload_size"] > 0 and row["completed_at"] >= row["started_at"] > 0
    phases = {e["data"]["phase"] for e in row["event_log"] if e["event"] == "phase"}
    assert {"stage", "activate"} <= phases
    sse = op(srv, {"operation": "get_deployment", "deployment_id": result["deployment_id"]},
             headers={"Accept": "text/event-stream"})
    records = [rec for rec in sse.text.split("\n\n") if "event:" in rec]
    assert any("event: phase" in rec for rec in records) and any("event: done" in rec for rec in records)


def test_a_failed_install_answers_phase_prepare(srv: LocalServer) -> None:
    r = multipart_deploy(srv, {"project": "broken", "restart": False, "install_timeout": 30000,
                               "install_command": 'sh -c "echo simulated-install-failure; exit 1"'}, app(1))
    assert r.status_code >= 400
    body = r.json()
    assert body["phase"] == "prepare" and isinstance(body["deployment_id"], str)
    assert any(line["stream"] == "stdout" and "simulated-install-failure" in line["line"]
               for line in body["install_output"]["lines"])
    row = get(srv, body["deployment_id"])
    assert row["status"] == "failed" and row["error"]["message"]


def test_stage_now_activate_later(srv: LocalServer) -> None:
    status, first = deploy(srv, "later", app(1))
    assert status == 200
    status, staged = deploy(srv, "later", app(2), activate=False)
    assert status == 200 and staged["message"] == "Staged component: later" and staged["staged"] is True
    assert live_version(srv, "later") == "1"
    assert get(srv, staged["deployment_id"])["status"] == "staged"

    # Its payload may go: the staged build on disk is what activation uses.
    dropped = op(srv, {"operation": "delete_deployment_payload", "deployment_id": staged["deployment_id"]})
    assert dropped.status_code == 200, dropped.text

    # Activation streamed: the deployment's events from the first (the stage's), then the
    # activation's live, then done with the answer.
    sse = op(srv, {"operation": "deploy_component", "deployment_id": staged["deployment_id"], "restart": True},
             headers={"Accept": "text/event-stream"})
    assert sse.status_code == 200
    phases = [json.loads(line[6:])["phase"] for line in sse.text.splitlines()
              if line.startswith("data: ") and '"phase"' in line and "result" not in line]
    assert phases[0] == "stage" and phases[phases.index("staged"):] == [
        "staged", "activate", "activate", "restart", "restart", "success"]
    done = [rec for rec in sse.text.split("\n\n") if rec.startswith("event: done")]
    result = json.loads(done[0].split("data: ", 1)[1])["result"]
    assert result["message"] == "Activated component: later, restarting Harper" and result["activated"] is True
    assert live_version(srv, "later") == "2"
    row = get(srv, staged["deployment_id"])
    assert row["status"] == "success" and row["restart_mode"] == "immediate"

    # Not staged any more: a second activation is a conflict, and so is a plain success row.
    for deployment_id in (staged["deployment_id"], first["deployment_id"]):
        again = op(srv, {"operation": "deploy_component", "deployment_id": deployment_id})
        assert again.status_code == 409 and "not staged" in again.json()["error"]


@pytest.mark.parametrize(("fields", "named"), [
    ({"payload": base64.b64encode(b"x").decode()}, "payload"),
    ({"install_command": "true", "two_phase": True}, "install_command, two_phase"),
    ({"package": "file:/tmp", "force": True, "activate": True}, "package, force, activate"),
])
def test_activation_refuses_what_was_fixed_at_stage_time(srv: LocalServer, fields: dict, named: str) -> None:
    r = op(srv, {"operation": "deploy_component", "deployment_id": "0b0b0b0b-0000-4000-8000-000000000000", **fields})
    assert r.status_code == 400
    assert r.json()["error"] == ("deployment_id activation uses the immutable staged configuration; remove: " + named)


def test_activation_refuses_unknown_ids_and_other_projects(srv: LocalServer) -> None:
    unknown = op(srv, {"operation": "deploy_component", "deployment_id": "0b0b0b0b-0000-4000-8000-000000000000"})
    assert unknown.status_code == 404 and "no staged build with that id" in unknown.json()["error"]
    status, staged = deploy(srv, "mine", app(1), activate=False)
    assert status == 200
    crossed = op(srv, {"operation": "deploy_component", "project": "theirs", "deployment_id": staged["deployment_id"]})
    assert crossed.status_code == 409 and "belongs to 'mine'" in crossed.json()["error"]
    assert get(srv, staged["deployment_id"])["status"] == "staged"


@pytest.mark.parametrize(("fields", "words"), [
    ({"activate": False, "restart": True}, "'restart' cannot be combined with 'activate: false'"),
    ({"activate": False, "two_phase": False}, "'activate: false' stages a deploy, which is two-phase"),
    ({"activate": "later"}, "'activate' must be true or false"),
])
def test_stage_requests_that_make_no_sense_are_refused(srv: LocalServer, fields: dict, words: str) -> None:
    status, body = deploy(srv, "nonsense", app(1), **fields)
    assert status == 400 and words in body["error"]
    listed = op(srv, {"operation": "list_deployments", "project": "nonsense"}).json()
    assert listed["total"] == 0  # refused before any row


def test_the_harper_wire_stays_one_shot(tmp_path) -> None:
    """Harper 5.1.14 knows no two-phase fields: a deploy there is one-shot, without ``install``."""
    harper = start_server(tmp_path / "harper", wire="harper")
    try:
        status, result = deploy(harper, "old", app(1), activate=False)
        assert status == 200 and result["message"] == "Successfully deployed: old" and "install" not in result
        row = get(harper, result["deployment_id"])
        assert row["status"] == "success" and "install_fingerprint" not in row
        assert {e["data"]["phase"] for e in row["event_log"] if e["event"] == "phase"} >= {"prepare", "replicate"}
        assert not {"stage", "activate"} & {e["data"]["phase"] for e in row["event_log"] if e["event"] == "phase"}
    finally:
        harper.stop()
