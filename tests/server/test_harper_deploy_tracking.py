"""Harper 5.1.14's ``integrationTests/deploy/deploy-tracking.test.ts`` in our words (contract §7.1),
against ``deploytui serve`` on both wires (``--wire harper`` and ours): none of it names phases
except the failed install's ``phase: "prepare"``, which both wires answer.

- *verify Harper*: ``GET /health`` answers 200.
- *a deploy records a row*: a multipart deploy answers 200 with a UUID ``deployment_id``;
  ``get_deployment`` shows that id and project, ``status: "success"``, the payload stored, its
  sha256 as a 64-hex ``payload_hash``, a positive ``payload_size``, ``started_at > 0`` and
  ``completed_at ≥ started_at``.
- *list_deployments surfaces it*: filtered by project, ``total ≥ 1``, the id listed, rows carry
  ``payload_blob_present`` and never ``payload_blob``.
- *a failed deploy is recorded*: an install command printing ``simulated-install-failure`` and
  exiting 1 answers ≥ 400 with ``phase: "prepare"``, that line on stdout in ``install_output``, a
  ``deployment_id``; the listed row is ``failed`` with an ``error.message``.

(Harper waits 200 ms before reading the row back; our answer comes after the terminal write.)
"""

from __future__ import annotations

import hashlib
import json
import re

import httpx

from tests.conftest import make_tarball, op
from tests.server.harper_tests import listed, srv, wire  # noqa: F401 - fixtures
from tests.server.test_contract import multipart_deploy

UUID = re.compile(r"^[0-9a-f-]{36}$", re.I)
APP = {"package.json": json.dumps({"name": "tracked", "version": "1.0.0"}), "index.js": "module.exports = 1;\n"}


def test_verify_harper(srv):
    assert httpx.get(srv.url + "/health").status_code == 200


def test_a_deploy_records_a_row_with_hash_size_and_success(srv):
    payload = make_tarball(APP)
    answer = multipart_deploy(srv, {"project": "tracked", "restart": False, "install_command": "exit 0"}, payload)
    assert answer.status_code == 200, answer.text
    deployment_id = answer.json()["deployment_id"]
    assert UUID.match(deployment_id)
    row = op(srv, {"operation": "get_deployment", "deployment_id": deployment_id})
    assert row.status_code == 200
    row = row.json()
    assert (row["deployment_id"], row["project"], row["status"]) == (deployment_id, "tracked", "success")
    assert row["payload_blob_present"] is True
    assert re.fullmatch(r"[0-9a-f]{64}", row["payload_hash"]) and row["payload_hash"] == hashlib.sha256(payload).hexdigest()
    assert isinstance(row["payload_size"], int) and row["payload_size"] > 0
    assert row["started_at"] > 0 and row["completed_at"] >= row["started_at"]

    answer = op(srv, {"operation": "list_deployments", "project": "tracked"})
    assert answer.status_code == 200
    page = answer.json()
    assert page["total"] >= 1 and deployment_id in [d["deployment_id"] for d in page["deployments"]]
    assert "payload_blob" not in page["deployments"][0] and "payload_blob_present" in page["deployments"][0]


def test_a_failed_deploy_is_recorded_failed_with_its_message(srv):
    answer = multipart_deploy(srv, {
        "project": "tracked-fail", "restart": False, "install_timeout": 30000,
        "install_command": 'sh -c "echo simulated-install-failure; exit 1"'}, make_tarball(APP))
    assert answer.status_code >= 400
    body = answer.json()
    assert body["phase"] == "prepare" and isinstance(body["deployment_id"], str)
    lines = body["install_output"]["lines"]
    assert lines and any(l["stream"] == "stdout" and "simulated-install-failure" in l["line"] for l in lines)
    row = next(r for r in listed(srv, "tracked-fail") if r["deployment_id"] == body["deployment_id"])
    assert row["status"] == "failed" and row["error"]["message"]
