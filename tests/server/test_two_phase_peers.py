"""Two-phase deploys with peers: every node stages before any activates (contract §2.1.2, §4.4).

The origin is an in-process engine; the peers are real ``deploytui serve`` children on loopback, each
with its own data dir, reached over HTTP with Basic auth as in production. A peer's install is made
to fail by its build directory's path (it lives under that peer's data dir), so the origin and the
other peers build the very same payload successfully.
"""

from __future__ import annotations

import shlex
import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploytui.client.local import LocalServer
from deploytui.server.config import ServerConfig
from deploytui.server.engine import DeployFailed, Engine
from deploytui.server.recorder import EventHub
from deploytui.server.releases import ComponentReleases
from deploytui.server.store import Store
from tests.conftest import op, start_server
from tests.server.test_two_phase import Node, component

PY = shlex.quote(sys.executable)


def fails_under(marker: str) -> str:
    """An install command that fails only in a build dir whose path contains ``marker``."""
    return f"{PY} -c \"import os, sys; sys.exit(3 if {marker!r} in os.getcwd() else 0)\""


@pytest.fixture(scope="module")
def peers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[LocalServer]]:
    """Two peers for the whole module (each test uses its own project)."""
    base = tmp_path_factory.mktemp("peers")
    servers = [start_server(base / "peer-a"), start_server(base / "peer-b")]
    yield servers
    for srv in servers:
        srv.stop()


def url_with_auth(srv: LocalServer) -> str:
    scheme, rest = srv.url.split("://", 1)
    return f"{scheme}://{srv.user}:{srv.password}@{rest}"


def node_name(srv: LocalServer) -> str:
    return srv.url.split("://", 1)[1].rstrip("/")


@pytest.fixture
async def origin(tmp_path: Path, peers: list[LocalServer]) -> AsyncIterator[Node]:
    config = ServerConfig(data_dir=tmp_path / "origin", peers=[url_with_auth(p) for p in peers])
    store = Store(config.db_path)
    await store.open()
    yield Node(config, store, Engine(config, store, EventHub(store)))
    await store.close()


def peer_releases(srv: LocalServer, project: str) -> ComponentReleases:
    return ComponentReleases(ServerConfig(data_dir=srv.data_dir).components_dir, project)


def peer_row(srv: LocalServer, deployment_id: str) -> dict[str, Any]:
    answer = op(srv, {"operation": "get_deployment", "deployment_id": deployment_id})
    assert answer.status_code == 200, answer.text
    return answer.json()


def live_version(releases: ComponentReleases) -> str:
    return (releases.current_path() / "version.txt").read_text()


async def test_every_node_stages_before_any_activates(origin: Node, peers: list[LocalServer], tmp_path: Path) -> None:
    result = await origin.deploy("both", component(tmp_path, 1), install_command="true")
    milestones = await origin.milestones(result["deployment_id"])
    assert milestones == [
        ("phase", "stage", "start"), ("phase", "prepare", "start"), ("phase", "prepare", "done"),
        ("phase", "load", "start"), ("phase", "load", "done"), ("peer",), ("peer",), ("phase", "stage", "done"),
        ("phase", "activate", "start"), ("peer",), ("peer",), ("phase", "activate", "done"), ("phase", "success", "done"),
    ]
    events = [e for e in await origin.store.events(result["deployment_id"]) if e["event"] == "peer"]
    assert [e["data"]["phase"] for e in events] == ["stage", "stage", "activate", "activate"]
    assert {r["node"] for r in result["replicated"]} == {node_name(p) for p in peers}
    for srv, staged in zip(peers, sorted(result["replicated"], key=lambda r: [node_name(p) for p in peers].index(r["node"]))):
        assert staged["status"] == "success"
        remote = peer_row(srv, staged["deployment_id"])  # each peer's own row of its part
        assert remote["status"] == "success" and remote["peer_results"] == []
        phases = [e["data"]["phase"] for e in remote["event_log"] if e["event"] == "phase"]
        assert phases.index("staged") < phases.index("activate")  # staged there, then activated by the origin
        assert live_version(peer_releases(srv, "both")) == "1"
    row = await origin.store.get_row(result["deployment_id"])
    assert {(r["node"], r["phase"], r["status"]) for r in row["peer_results"]} == {
        (node_name(p), "activate", "success") for p in peers}


async def test_a_peer_failing_to_stage_leaves_every_node_on_its_old_release(
        origin: Node, peers: list[LocalServer], tmp_path: Path) -> None:
    await origin.deploy("keep", component(tmp_path, 1), install_command="true")
    with pytest.raises(DeployFailed) as info:
        await origin.deploy("keep", component(tmp_path, 2), install_command=fails_under("peer-b"))
    body = info.value.body
    assert info.value.status_code == 500 and body["phase"] == "stage"
    assert "failed to stage on 1 of 2 peer node(s)" in body["error"] and node_name(peers[1]) in body["error"]
    assert "No node was activated" in body["error"] and peers[1].password not in body["error"]
    milestones = await origin.milestones(body["deployment_id"])
    assert ("phase", "activate", "start") not in milestones and milestones[-1] == ("error",)
    assert live_version(origin.releases("keep")) == "1"
    for srv in peers:  # peer-a staged version 2, but nobody activated it
        assert live_version(peer_releases(srv, "keep")) == "1"


async def test_stage_only_with_peers_then_activate_everywhere(
        origin: Node, peers: list[LocalServer], tmp_path: Path) -> None:
    await origin.deploy("later", component(tmp_path, 1), install_command="true")
    staged = await origin.deploy("later", component(tmp_path, 2), install_command="true", activate=False)
    assert staged["message"] == "Staged component: later"
    for result in staged["replicated"]:
        srv = peers[[node_name(p) for p in peers].index(result["node"])]
        assert peer_row(srv, result["deployment_id"])["status"] == "staged"
        assert live_version(peer_releases(srv, "later")) == "1"

    activated = await origin.activate(staged["deployment_id"], restart=True)
    assert activated["message"] == "Activated component: later, restarting Harper"
    assert [r["status"] for r in activated["replicated"]] == ["success", "success"]
    assert live_version(origin.releases("later")) == "2"
    for srv in peers:
        assert live_version(peer_releases(srv, "later")) == "2"


async def test_a_peer_failing_to_activate(origin: Node, peers: list[LocalServer], tmp_path: Path) -> None:
    """Peer-b's staged build is gone when activation comes: without revert_on_failure peer-a stays
    split on the new release (and the message names it); with it, peer-a is swapped back. The origin
    activates last, so it keeps its running release in both cases."""
    await origin.deploy("split", component(tmp_path, 1), install_command="true")

    async def stage_and_break_peer_b(version: int) -> str:
        staged = await origin.deploy("split", component(tmp_path, version), install_command="true", activate=False)
        [on_b] = [r for r in staged["replicated"] if r["node"] == node_name(peers[1])]
        shutil.rmtree(peer_releases(peers[1], "split").release_dir(on_b["deployment_id"]))
        return staged["deployment_id"]

    staged_id = await stage_and_break_peer_b(2)
    with pytest.raises(DeployFailed) as info:
        await origin.activate(staged_id)
    message = info.value.body["error"]
    assert info.value.body["phase"] == "activate"
    assert "failed to activate on 1 of 2 peer node(s)" in message and "no staged build" in message
    assert f"Split nodes: {node_name(peers[0])}" in message and "revert_on_failure" in message
    assert live_version(peer_releases(peers[0], "split")) == "2"
    assert live_version(peer_releases(peers[1], "split")) == "1"
    assert live_version(origin.releases("split")) == "1"
    assert (await origin.store.get_row(staged_id))["status"] == "failed"

    op(peers[0], {"operation": "revert_component", "project": "split"})  # peer-a back to 1 by hand
    staged_id = await stage_and_break_peer_b(3)
    with pytest.raises(DeployFailed) as info:
        await origin.activate(staged_id, revert_on_failure=True)
    message = info.value.body["error"]
    assert f"the peers that had activated were reverted: {node_name(peers[0])}" in message
    milestones = await origin.milestones(staged_id)
    assert ("phase", "revert", "start") in milestones and ("phase", "revert", "done") in milestones
    for releases in (origin.releases("split"), peer_releases(peers[0], "split"), peer_releases(peers[1], "split")):
        assert live_version(releases) == "1"
