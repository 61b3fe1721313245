"""``cancel_deployment`` and ``redeploy_deployment``: our additions to Harper's API, on the real server.

Cancel stops the install's process (its pid is gone), ends the row ``failed`` "cancelled by <user>"
with Harper's ``error`` event, frees the project; a finished deploy is refused 409, an unknown id 404.
Redeploy runs a stored payload again as a new deployment of its project, with its install command.
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploytui.client.local import LocalServer
from deploytui.protocol.sse import decode_all
from tests.conftest import make_tarball, op, start_server

SSE = {"Accept": "text/event-stream"}
# Says it started and where, then waits far longer than any test: only a cancel ends it in time.
SLOW_INSTALL = (f"{sys.executable} -c \"import os,sys,time; print('started', os.getpid(), flush=True); "
                "time.sleep(600)\"")
QUICK_INSTALL = f"{sys.executable} -c \"print('quick install ran')\""


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = start_server(tmp_path_factory.mktemp("cancel") / "data")
    yield srv
    srv.stop()


def payload() -> str:
    return base64.b64encode(make_tarball({"package.json": json.dumps({"name": "app"})})).decode()


def _alive(pid: int) -> bool:
    """True while ``pid`` exists and is not a zombie."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "\nState:\tZ" not in status


def test_cancel_stops_the_install_and_fails_the_row(server: LocalServer) -> None:
    body = {"operation": "deploy_component", "project": "cancelme", "payload": payload(),
            "install_command": SLOW_INSTALL}
    with httpx.Client(auth=(server.user, server.password), timeout=60) as http:
        with http.stream("POST", server.url + "/", json=body, headers=SSE) as stream:
            deployment_id = stream.headers["x-deployment-id"]
            text, pid, answer = "", None, None
            for chunk in stream.iter_text():
                text += chunk
                if pid is None and "started " in text:  # the install runs: cancel it now
                    pid = int(text.split("started ", 1)[1].split('"', 1)[0].split()[0])
                    assert _alive(pid)
                    answer = op(server, {"operation": "cancel_deployment", "deployment_id": deployment_id})
    assert answer is not None and answer.status_code == 200, answer and answer.text
    assert answer.json()["deployment_id"] == deployment_id
    assert pid is not None and not _alive(pid)
    events = decode_all(text)[0]
    errors = [json.loads(e.data) for e in events if e.event == "error"]
    assert len(errors) == 1 and errors[0]["message"] == f"cancelled by {server.user}"
    assert errors[0]["phase"] == "prepare"
    row = op(server, {"operation": "get_deployment", "deployment_id": deployment_id}).json()
    assert row["status"] == "failed" and row["error"]["message"] == f"cancelled by {server.user}"
    assert row["completed_at"] is not None
    # The project is free again: a new deploy of it is not refused as busy.
    again = op(server, {"operation": "deploy_component", "project": "cancelme", "payload": payload(),
                        "install_command": QUICK_INSTALL})
    assert again.status_code == 200, again.text


def test_cancelling_a_finished_deploy_is_refused(server: LocalServer) -> None:
    done = op(server, {"operation": "deploy_component", "project": "finished", "payload": payload()})
    assert done.status_code == 200
    deployment_id = done.json()["deployment_id"]
    answer = op(server, {"operation": "cancel_deployment", "deployment_id": deployment_id})
    assert answer.status_code == 409
    assert answer.json()["error"] == f"Deployment '{deployment_id}' has already ended (success)"
    row = op(server, {"operation": "get_deployment", "deployment_id": deployment_id}).json()
    assert row["status"] == "success"


def test_cancel_names_a_wrong_id_and_a_missing_one(server: LocalServer) -> None:
    unknown = op(server, {"operation": "cancel_deployment", "deployment_id": "no-such-id"})
    assert unknown.status_code == 404
    assert unknown.json()["error"] == "No deployment found with id 'no-such-id'"
    missing = op(server, {"operation": "cancel_deployment"})
    assert missing.status_code == 400 and missing.json()["error"] == "'deployment_id' is required"


def test_redeploy_runs_a_stored_payload_again(server: LocalServer) -> None:
    first = op(server, {"operation": "deploy_component", "project": "again", "payload": payload(),
                        "install_command": QUICK_INSTALL})
    assert first.status_code == 200, first.text
    old_id = first.json()["deployment_id"]
    answer = op(server, {"operation": "redeploy_deployment", "deployment_id": old_id})
    assert answer.status_code == 200, answer.text
    new_id = answer.json()["deployment_id"]
    assert new_id != old_id and answer.json()["redeploy_of"] == old_id
    with httpx.Client(auth=(server.user, server.password), timeout=60) as http:
        text = http.post(server.url + "/", json={"operation": "get_deployment", "deployment_id": new_id},
                         headers=SSE).text  # replay then live, to the end
    assert "quick install ran" in text  # the same install command as the first deploy
    row = op(server, {"operation": "get_deployment", "deployment_id": new_id}).json()
    assert row["status"] == "success" and row["project"] == "again" and row["redeploy_of"] == old_id
    assert not any(key.startswith("_") for key in row)  # the install command stays internal
    assert op(server, {"operation": "redeploy_deployment", "deployment_id": "nope"}).status_code == 404


def test_redeploy_without_a_payload_is_refused(server: LocalServer) -> None:
    first = op(server, {"operation": "deploy_component", "project": "gone", "payload": payload()})
    old_id = first.json()["deployment_id"]
    assert op(server, {"operation": "delete_deployment_payload", "deployment_id": old_id}).status_code == 200
    answer = op(server, {"operation": "redeploy_deployment", "deployment_id": old_id})
    assert answer.status_code == 409 and "no stored payload" in answer.json()["error"]
