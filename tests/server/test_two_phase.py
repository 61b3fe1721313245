"""Two-phase deploys on one node: stage, then activate; stage only, then activate by id; refusals.

Checks our wire against the contract (docs/harper-api.md §2.1.1 fields, §2.1.4 answers, §4.4 event
order) with the real engine, store and install subprocesses in a temporary data dir. The peer side
(stage everywhere before any node activates) is in test_two_phase_peers.py; the HTTP refusals and
Harper main's deploy-test assertions in test_two_phase_http.py.
"""

from __future__ import annotations

import hashlib
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from deploytui.protocol.tarpack import pack_directory
from deploytui.server.config import ServerConfig
from deploytui.server.engine import DeployFailed, Engine, ProjectBusy
from deploytui.server.recorder import EventHub
from deploytui.server.releases import ComponentReleases
from deploytui.server.store import Store
from deploytui.server.two_phase import ActivationRefused, prepare_activation, run_activation

PY = shlex.quote(sys.executable)
# Appends a line per run to the build dir it runs in: the line count is how often this build installed.
COUNT_INSTALLS = f"{PY} -c \"open('install-count.txt', 'a').write('ran\\n')\""


class Node:
    def __init__(self, config: ServerConfig, store: Store, engine: Engine) -> None:
        self.config, self.store, self.engine = config, store, engine

    def releases(self, project: str) -> ComponentReleases:
        return ComponentReleases(self.config.components_dir, project)

    async def deploy(self, project: str, payload: bytes, **options: Any) -> dict[str, Any]:
        d = await self.engine.begin(project=project, user="admin", **options)
        return await self.engine.run(d, _chunks(payload))

    async def activate(self, deployment_id: str, project: str | None = None, **options: Any) -> dict[str, Any]:
        options = {"restart": False, "deployment_timeout_ms": None, "revert_on_failure": False,
                   "replicated": None, **options}
        d = await prepare_activation(self.engine, deployment_id=deployment_id, project=project, user="admin",
                                     **options)
        return await run_activation(self.engine, d)

    async def milestones(self, deployment_id: str) -> list[tuple[str, ...]]:
        """Every event but install lines, phases as (phase, name, status)."""
        return [("phase", e["data"]["phase"], e["data"]["status"]) if e["event"] == "phase" else (e["event"],)
                for e in await self.store.events(deployment_id) if e["event"] != "install"]


@pytest.fixture
async def node(tmp_path: Path) -> AsyncIterator[Node]:
    config = ServerConfig(data_dir=tmp_path / "data")
    store = Store(config.db_path)
    await store.open()
    yield Node(config, store, Engine(config, store, EventHub(store)))
    await store.close()


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    yield data


def component(tmp_path: Path, version: int, extra: dict[str, str] | None = None) -> bytes:
    src = tmp_path / f"src-{version}-{len(extra or {})}"
    files = {"package.json": f'{{"name": "app", "version": "{version}.0.0"}}', "version.txt": str(version),
             **(extra or {})}
    for name, text in files.items():
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    return pack_directory(src)


STAGE = [("phase", "stage", "start"), ("phase", "prepare", "start"), ("phase", "prepare", "done"),
         ("phase", "load", "start"), ("phase", "load", "done"), ("phase", "stage", "done")]
ACTIVATE = [("phase", "activate", "start"), ("phase", "activate", "done"), ("phase", "success", "done")]


async def test_a_plain_deploy_stages_then_activates(node: Node, tmp_path: Path) -> None:
    """Our wire's default: one node runs stage → activate → success, and answers as Harper's two-phase."""
    result = await node.deploy("app", component(tmp_path, 1), install_command="true")
    assert result == {"message": "Successfully deployed: app", "project": "app", "deployment_id": result["deployment_id"],
                      "replicated": [], "install": {"lockfiles": {}}}
    assert await node.milestones(result["deployment_id"]) == STAGE + ACTIVATE
    row = await node.store.get_row(result["deployment_id"])
    assert row["status"] == "success" and row["phase"] == "success" and row["completed_at"] >= row["started_at"]
    assert row["activation_spec"]["project"] == "app" and row["activation_spec"]["install_command"] == "true"
    assert (node.releases("app").current_path() / "version.txt").read_text() == "1"


async def test_restart_comes_after_activate(node: Node, tmp_path: Path) -> None:
    result = await node.deploy("app", component(tmp_path, 1), install_command="true", restart=True)
    assert result["message"] == "Successfully deployed: app, restarting Harper"
    assert (await node.milestones(result["deployment_id"]))[-5:] == [
        ("phase", "activate", "start"), ("phase", "activate", "done"),
        ("phase", "restart", "start"), ("phase", "restart", "done"), ("phase", "success", "done")]


async def test_two_phase_false_runs_one_shot(node: Node, tmp_path: Path) -> None:
    result = await node.deploy("app", component(tmp_path, 1), install_command="true", two_phase=False)
    phases = [m[1] for m in await node.milestones(result["deployment_id"]) if m[0] == "phase"]
    assert "stage" not in phases and "activate" not in phases and "replicate" in phases
    assert "project" not in result  # the one-shot answer


async def test_the_install_fingerprint_is_in_the_answer_and_on_the_row(node: Node, tmp_path: Path) -> None:
    """Harper main's deploy-tracking: ``install.lockfiles`` holds each lockfile's sha256, as uploaded."""
    lockfile = '{"name":"app","lockfileVersion":3,"packages":{}}\n'
    result = await node.deploy("app", component(tmp_path, 1, {"package-lock.json": lockfile}), install_command="true")
    expected = {"lockfiles": {"package-lock.json": hashlib.sha256(lockfile.encode()).hexdigest()}}
    assert result["install"] == expected
    assert (await node.store.get_row(result["deployment_id"]))["install_fingerprint"] == expected


async def test_a_failed_install_fails_in_prepare_inside_stage(node: Node, tmp_path: Path) -> None:
    """Harper main's deploy-tracking expects phase ``prepare`` for a failed install, its events test
    ``stage``/``activate`` for a success: the build is ``prepare`` nested in ``stage``."""
    first = await node.deploy("app", component(tmp_path, 1), install_command="true")
    with pytest.raises(DeployFailed) as info:
        await node.deploy("app", component(tmp_path, 2), install_command="sh -c 'echo simulated-install-failure; exit 1'")
    body = info.value.body
    assert body["phase"] == "prepare" and "exit code 1" in body["error"]
    assert {"manager": "custom", "stream": "stdout", "line": "simulated-install-failure"} in body["install_output"]["lines"]
    assert await node.milestones(body["deployment_id"]) == STAGE[:2] + [("error",)]
    row = await node.store.get_row(body["deployment_id"])
    assert row["status"] == "failed" and row["error"]["phase"] == "prepare"
    assert node.releases("app").current_id() == first["deployment_id"]
    assert not node.releases("app").release_dir(body["deployment_id"]).exists()


async def test_stage_only_then_activate_by_id(node: Node, tmp_path: Path) -> None:
    """``activate: false`` builds and rests ``staged`` without touching the running release; activating
    the id later switches to that very build (its install does not run again)."""
    first = await node.deploy("app", component(tmp_path, 1), install_command="true")
    staged = await node.deploy("app", component(tmp_path, 2), install_command=COUNT_INSTALLS, activate=False)
    staged_id = staged["deployment_id"]
    assert staged == {"message": "Staged component: app", "project": "app", "staged": True,
                      "deployment_id": staged_id, "replicated": [], "install": {"lockfiles": {}}}
    assert await node.milestones(staged_id) == [*STAGE, ("phase", "staged", "done")]
    row = await node.store.get_row(staged_id)
    assert row["status"] == "staged" and row["phase"] == "staged" and row["activation_spec"]
    releases = node.releases("app")
    assert releases.current_id() == first["deployment_id"]
    assert (releases.current_path() / "version.txt").read_text() == "1"  # the live tree is untouched

    # Another deploy of the project meanwhile prunes old releases but keeps the staged build.
    third = await node.deploy("app", component(tmp_path, 3), install_command="true")
    assert releases.release_dir(staged_id).is_dir()

    activated = await node.activate(staged_id, "app")
    assert activated == {"message": "Activated component: app", "project": "app", "activated": True,
                         "deployment_id": staged_id, "replicated": [], "install": {"lockfiles": {}}}
    assert (await node.milestones(staged_id))[len(STAGE) + 1:] == ACTIVATE
    row = await node.store.get_row(staged_id)
    assert row["status"] == "success" and row["completed_at"] >= row["started_at"]
    assert releases.current_id() == staged_id and releases.previous_id() == third["deployment_id"]
    assert (releases.current_path() / "version.txt").read_text() == "2"
    assert (releases.current_path() / "install-count.txt").read_text() == "ran\n"  # installed once, at stage


async def test_activation_refusals(node: Node, tmp_path: Path) -> None:
    """404 for an unknown id; 409 for a row that is not staged, for another project's, and while the
    project is busy; each leaves the staged build and the running release alone."""
    live = await node.deploy("app", component(tmp_path, 1), install_command="true")
    staged = await node.deploy("app", component(tmp_path, 2), install_command="true", activate=False)
    with pytest.raises(ActivationRefused) as info:
        await node.activate("0b0b0b0b-0000-4000-8000-000000000000")
    assert info.value.status_code == 404 and "no staged build with that id" in info.value.message
    with pytest.raises(ActivationRefused) as info:
        await node.activate(live["deployment_id"])
    assert info.value.status_code == 409 and "is success, not staged" in info.value.message
    with pytest.raises(ActivationRefused) as info:
        await node.activate(staged["deployment_id"], "other")
    assert info.value.status_code == 409 and "belongs to 'app', not 'other'" in info.value.message

    holder = await node.engine.begin(project="app", user="admin")  # a deploy of the project in flight
    with pytest.raises(ProjectBusy):
        await node.activate(staged["deployment_id"])
    node.engine.release("app", holder.deployment_id)

    assert (await node.store.get_row(staged["deployment_id"]))["status"] == "staged"
    assert node.releases("app").current_id() == live["deployment_id"]
    assert node.releases("app").release_dir(staged["deployment_id"]).is_dir()
    await node.activate(staged["deployment_id"])  # and it still activates
    with pytest.raises(ActivationRefused) as info:  # once: it is no longer staged
        await node.activate(staged["deployment_id"])
    assert info.value.status_code == 409


async def test_a_staged_row_is_not_an_interrupted_one(node: Node, tmp_path: Path) -> None:
    """Crash recovery fails rows left running; a staged row is resting, not running."""
    staged = await node.deploy("app", component(tmp_path, 1), install_command="true", activate=False)
    assert await node.engine.recover_interrupted() == 0
    assert (await node.store.get_row(staged["deployment_id"]))["status"] == "staged"
