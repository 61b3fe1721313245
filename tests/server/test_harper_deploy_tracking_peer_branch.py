"""Harper's ``integrationTests/deploy/deploy-tracking-peer-branch.test.ts`` in our words (contract
§7.5), against ``deploytui serve`` on both wires, each as the Harper it stands for.

- *seed*: a multipart deploy of a component with 2 MB of random bytes answers a ``deployment_id``;
  its row has the payload stored (``payload_blob_present``, ``payload_hash``) in a file over 1 MiB.
- *the peer path*, 5.1.14's version, on ``--wire harper``: ``deploy_component {project: <another
  project>, restart: false, _deploymentId: <seed id>}`` with no payload answers 200 and deploys
  the seed's payload under that project (its files are in ``components/<project>``). An unknown id
  is refused (404) and so is a payload sent with the marker (400).
- the same call, Harper main's version, on our wire: 400 ``'_deploymentId' is not allowed``.
"""

from __future__ import annotations

import os

import pytest

from tests.conftest import make_tarball, op
from tests.server.harper_tests import srv, wire  # noqa: F401 - fixtures
from tests.server.test_contract import multipart_deploy

PEER_PROJECT = "peer-branch-replay-application"
FIXTURE = {
    "config.yaml": "graphqlSchema:\n  files: schema.graphql\nrest: true\n",
    "schema.graphql": "type Query { hello: String }\n",
    "web/index.html": "<h1>Hello, Peer Branch!</h1>",
    "web/blob.bin": os.urandom(2 * 1024 * 1024),
}


@pytest.fixture(scope="module")
def seed(srv) -> str:
    answer = multipart_deploy(srv, {"project": "peer-branch-seed-application", "restart": False}, make_tarball(FIXTURE))
    assert answer.status_code == 200, answer.text
    return answer.json()["deployment_id"]


def test_seed_deploy_stores_its_payload(srv, seed):
    row = op(srv, {"operation": "get_deployment", "deployment_id": seed})
    assert row.status_code == 200
    assert row.json()["payload_blob_present"] and row.json()["payload_hash"]
    assert (srv.data_dir / "payloads" / f"{seed}.tar.gz").stat().st_size > 1024 * 1024


def test_deploy_component_with_the_peer_marker(srv, wire, seed):
    answer = op(srv, {"operation": "deploy_component", "project": PEER_PROJECT, "restart": False,
                      "_deploymentId": seed})
    if wire == "deploytui":  # Harper main: the marker is internal, refused over HTTP
        assert answer.status_code == 400 and answer.json()["error"] == "'_deploymentId' is not allowed"
        return
    assert answer.status_code == 200, answer.text  # 5.1.14: the peer path deploys the seed's payload
    component = srv.data_dir / "components" / PEER_PROJECT
    assert (component / "web" / "blob.bin").read_bytes() == FIXTURE["web/blob.bin"]
    assert (component / "web" / "index.html").read_text() == FIXTURE["web/index.html"]


def test_the_peer_marker_needs_a_stored_payload_and_no_other(srv, wire, seed):
    unknown = op(srv, {"operation": "deploy_component", "project": PEER_PROJECT,
                       "_deploymentId": "00000000-0000-0000-0000-000000000000"})
    both = op(srv, {"operation": "deploy_component", "project": PEER_PROJECT, "_deploymentId": seed,
                    "payload": "AAAA"})
    if wire == "deploytui":  # refused outright, whatever comes with it
        assert [r.status_code for r in (unknown, both)] == [400, 400]
        assert {r.json()["error"] for r in (unknown, both)} == {"'_deploymentId' is not allowed"}
        return
    assert unknown.status_code == 404 and "00000000-0000-0000-0000-000000000000" in unknown.json()["error"]
    assert both.status_code == 400 and "_deploymentId" in both.json()["error"]
