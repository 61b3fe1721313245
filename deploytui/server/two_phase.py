"""Two-phase deploys (Harper's newest protocol, contract §2.1.1, §4.4): stage everywhere, then activate.

A two-phase deploy first *stages*: it builds the release on this node (``prepare``: extract and
install; ``load``: check it) and on every peer (each stages its own copy, answering with its own
deployment id), and only when every node has staged does any node *activate* (switch ``current``).
A peer that fails to stage fails the deploy with every node still on its old release.

Activation goes to the peers first and to this node last, so this node never runs a release the
cluster refused: when a peer fails to activate, the peers that did are reverted
(``revert_on_failure``) or named as split, and this node keeps its running release either way.

``activate: false`` stops after staging: the row rests ``staged`` with its ``activation_spec``, and
``deploy_component {deployment_id}`` activates it later (:func:`prepare_activation` checks the
request, :func:`run_activation` does it) without building or installing anything again.

Event order (our wire): ``stage start`` → ``prepare start`` → install… → ``prepare done`` →
``load start/done`` → peer… → ``stage done`` → [``staged done``, end] → ``activate start`` → peer… →
[``revert start/done``] → ``activate done`` → [``restart start/done``] → ``success done``. The build
runs as ``prepare`` inside ``stage`` so a failed install still reports phase ``prepare``, as Harper's
deploy-tracking test expects of a plain deploy.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Protocol

from deploytui.protocol.deployment import Status

from .config import ServerConfig
from .errors import EngineError, StepFailed
from .inflight import Deployment, restart_mode
from .recorder import EventHub
from .releases import ComponentReleases
from .replication import Peer, call_peers
from .store import Store


class Engine(Protocol):
    """What the two-phase steps use of :class:`deploytui.server.engine.Engine` (which imports them)."""

    config: ServerConfig
    store: Store
    hub: EventHub

    async def build(self, d: Deployment, releases: ComponentReleases) -> Path: ...
    async def own(self, d: Deployment, steps: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]: ...
    def claim(self, project: str, deployment_id: str) -> None: ...
    def release(self, project: str, deployment_id: str) -> None: ...
    def retain_payload(self, d: Deployment) -> dict[str, Any]: ...

# Lockfiles whose sha256 make the install fingerprint (``install.lockfiles``), as uploaded.
LOCKFILES = ("package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "bun.lock")
# Fields an activation by ``deployment_id`` must not carry: the staged configuration is immutable.
ACTIVATION_FIXED_FIELDS = ("payload", "package", "install_command", "install_timeout", "install_allow_scripts",
                           "urlPath", "host", "credentials", "force", "activate", "two_phase")
# Internal row key: the staged release's component root (the release dir or a wrapper inside it).
RELEASE_ROOT = "_release_root"


class ActivationRefused(EngineError):
    """``deploy_component {deployment_id}`` for a deployment that cannot be activated (404/409)."""


def install_fingerprint(root: Path) -> dict[str, Any]:
    """``{"lockfiles": {name: sha256 hex}}`` of the lockfiles the payload carries (before install)."""
    lockfiles = {}
    for name in LOCKFILES:
        path = root / name
        if path.is_file() and not path.is_symlink():
            lockfiles[name] = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"lockfiles": lockfiles}


def activation_spec(d: Deployment) -> dict[str, Any]:
    """What an activation of ``d`` will use, fixed at stage time (Harper's ``activation_spec``)."""
    return {"project": d.project, "package": d.package_identifier, "install_command": d.install_command,
            "install_timeout": d.install_timeout_ms, "install_allow_scripts": None, "urlPath": None,
            "host": None, "credentials": None, "force": None}


def _phase(d: Deployment, phase: str, status: str) -> None:
    d.recorder.emit("phase", {"phase": phase, "status": status})


# ---------------------------------------------------------------------------- stage, then activate


async def stage_then_activate(engine: Engine, d: Deployment, releases: ComponentReleases) -> dict[str, Any]:
    """The whole two-phase deploy of an uploaded payload; Harper's answer (contract §2.1.4)."""
    rec = d.recorder
    _phase(d, "stage", "start")
    root = await engine.build(d, releases)
    staged_peers = await _stage_peers(engine, d)
    _phase(d, "stage", "done")
    rec.update(activation_spec=activation_spec(d), **{RELEASE_ROOT: str(root)})
    fingerprint = rec.row.get("install_fingerprint")
    if not d.activate:
        _phase(d, "staged", "done")
        await rec.finish(Status.STAGED)
        answer = {"message": f"Staged component: {d.project}", "project": d.project, "staged": True,
                  "deployment_id": d.deployment_id, "replicated": staged_peers}
        return _with_install(answer, fingerprint)
    rec.update(status=Status.STAGED.value, phase="staged")  # Harper's checkpoint between the phases
    answer = await activate(engine, d, releases, root, staged_peers)
    return _with_install({**answer, "message": _deployed_message(d)}, fingerprint)


async def activate(engine: Engine, d: Deployment, releases: ComponentReleases, root: Path,
                   staged_peers: list[dict[str, Any]]) -> dict[str, Any]:
    """Activate a staged release on the peers that staged it, then here; finish the row ``success``."""
    rec = d.recorder
    _phase(d, "activate", "start")
    activated = await _activate_peers(engine, d, staged_peers)
    await _check_activation(engine, d, activated)
    await asyncio.to_thread(releases.activate, d.deployment_id, root)
    _phase(d, "activate", "done")
    if d.restart:
        _phase(d, "restart", "start")
        _phase(d, "restart", "done")
    await asyncio.to_thread(releases.prune, await staged_ids(engine, d.project))
    dropped = engine.retain_payload(d)
    _phase(d, "success", "done")
    await rec.finish(Status.SUCCESS, **dropped)
    return {"message": "", "project": d.project, "deployment_id": d.deployment_id, "replicated": activated}


def _deployed_message(d: Deployment) -> str:
    return f"Successfully deployed: {d.project}" + (", restarting Harper" if d.restart else "")


def _with_install(answer: dict[str, Any], fingerprint: dict[str, Any] | None) -> dict[str, Any]:
    return {**answer, "install": fingerprint} if fingerprint is not None else answer


async def staged_ids(engine: Engine, project: str) -> list[str]:
    """Deployments of ``project`` resting staged: their release dirs must outlive a prune."""
    rows, _ = await engine.store.list_rows(project=project, status=Status.STAGED.value, summary=True)
    return [row["deployment_id"] for row in rows]


# ---------------------------------------------------------------------------- activating a staged row


async def prepare_activation(engine: Engine, *, deployment_id: str, project: str | None, user: str | None,
                             restart: bool | str, deployment_timeout_ms: int | None,
                             revert_on_failure: bool, replicated: bool | None) -> Deployment:
    """Check that ``deployment_id`` may be activated, claim its project and start recording it again.

    404 when no deployment has that id; 409 when it is not staged, belongs to another project, has
    no activation_spec or its staged build is gone, or its project is busy.
    """
    row = await engine.store.get_row(deployment_id)
    if row is None:
        raise ActivationRefused(f"No deployment found with id '{deployment_id}': no staged build with that id", 404)
    owner = row.get("project")
    if project is not None and owner != project:
        raise ActivationRefused(f"Deployment '{deployment_id}' belongs to '{owner}', not '{project}'", 409)
    engine.claim(owner, deployment_id)  # first: a second activation of the same row must wait its turn
    try:
        row = await engine.store.get_row(deployment_id) or row
        _check_activatable(row)
        recorder = engine.hub.start_recording(row, last_seq=await engine.store.last_seq(deployment_id))
        recorder.update(restart_mode=restart_mode(restart), completed_at=None)
    except BaseException:
        engine.release(owner, deployment_id)
        raise
    spec = row["activation_spec"]
    return Deployment(
        deployment_id=deployment_id, project=owner, recorder=recorder, restart=restart,
        install_command=spec.get("install_command"), install_timeout_ms=spec.get("install_timeout") or 0,
        deployment_timeout_s=(deployment_timeout_ms or engine.config.default_deployment_timeout_ms) / 1000,
        replicate=replicated is not False, package_identifier=spec.get("package"), install_output=None,
        payload_path=Path(row["payload_path"]) if row.get("payload_path") else None,
        two_phase=True, revert_on_failure=revert_on_failure,
    )


def _check_activatable(row: dict[str, Any]) -> None:
    deployment_id = row["deployment_id"]
    if row.get("status") != Status.STAGED:
        raise ActivationRefused(f"Deployment '{deployment_id}' is {row.get('status')}, not staged: only a "
                                "staged deployment can be activated", 409)
    root = row.get(RELEASE_ROOT)
    if not row.get("activation_spec") or not root or not Path(root).is_dir():
        raise ActivationRefused(f"Deployment '{deployment_id}' has no staged build to activate", 409)


async def run_activation(engine: Engine, d: Deployment) -> dict[str, Any]:
    """Activate the staged deployment ``d`` (from :func:`prepare_activation`); Harper's answer."""
    releases = ComponentReleases(engine.config.components_dir, d.project)

    async def steps() -> dict[str, Any]:
        row = d.recorder.row
        staged_peers = [r for r in row.get("peer_results") or [] if r.get("phase") == "stage"]
        answer = await activate(engine, d, releases, Path(row[RELEASE_ROOT]), staged_peers)
        message = f"Activated component: {d.project}" + (", restarting Harper" if d.restart else "")
        return _with_install({**answer, "message": message, "activated": True}, row.get("install_fingerprint"))

    return await engine.own(d, steps)


# ---------------------------------------------------------------------------- peers


def _recorder_for_peers(d: Deployment, phase: str):  # noqa: ANN202 - a small closure
    """``on_result`` for a fan-out: one ``peer`` event each, the row's peer_results upserted by node."""
    rec = d.recorder

    def on_result(result: dict[str, Any]) -> None:
        result["phase"] = phase
        event = {k: result[k] for k in ("node", "status", "error", "deployment_id", "phase")
                 if result.get(k) is not None}
        rec.emit("peer", event)
        others = [r for r in rec.row.get("peer_results") or [] if r.get("node") != result["node"]]
        rec.update(peer_results=[*others, result])

    return on_result


async def _stage_peers(engine: Engine, d: Deployment) -> list[dict[str, Any]]:
    """Every peer stages the same payload (``activate: false``); a failure fails the deploy with no
    node activated."""
    peers = engine.config.peers if d.replicate else []
    if not peers:
        return []
    d.recorder.update(phase="stage")  # back in stage after its load: a failure here is the stage's
    assert d.payload_path is not None
    payload = base64.b64encode(await asyncio.to_thread(d.payload_path.read_bytes)).decode("ascii")
    body: dict[str, Any] = {"operation": "deploy_component", "project": d.project, "restart": False,
                            "activate": False, "two_phase": True, "replicated": False,
                            "install_timeout": d.install_timeout_ms, "payload": payload}
    if d.install_command:
        body["install_command"] = d.install_command
    results = await call_peers([(raw, body) for raw in peers], timeout_s=d.deployment_timeout_s,
                               on_result=_recorder_for_peers(d, "stage"))
    failed = [r for r in results if r["status"] == "failed"]
    if failed:
        raise StepFailed(
            f"Component '{d.project}' failed to stage on {len(failed)} of {len(results)} peer node(s): "
            f"{_details(failed)}. No node was activated: every node keeps its running release. "
            f"See deployment {d.deployment_id} (get_deployment) for details.", 500)
    return results


async def _activate_peers(engine: Engine, d: Deployment, staged: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each peer that staged activates its own staged deployment."""
    urls = {Peer.parse(raw).node: raw for raw in engine.config.peers}
    targets = []
    for result in staged:
        raw = urls.get(result.get("node"))
        if raw is None or not result.get("deployment_id"):
            raise StepFailed(f"Peer {result.get('node')} staged this deployment but is no longer configured "
                             "(or did not name its staged deployment); activate it there, or stage again", 409)
        targets.append((raw, {"operation": "deploy_component", "deployment_id": result["deployment_id"],
                              "restart": d.restart, "replicated": False}))
    if not targets:
        return []
    return await call_peers(targets, timeout_s=d.deployment_timeout_s, on_result=_recorder_for_peers(d, "activate"))


async def _check_activation(engine: Engine, d: Deployment, activated: list[dict[str, Any]]) -> None:
    """Fail the deploy if a peer did not activate: revert the peers that did when asked to
    (``revert_on_failure``), else name the split. This node has not activated yet either way."""
    failed = [r for r in activated if r["status"] == "failed"]
    if not failed:
        return
    went_live = [r for r in activated if r["status"] != "failed"]
    head = (f"Component '{d.project}' failed to activate on {len(failed)} of {len(activated)} peer node(s): "
            f"{_details(failed)}. This node kept its running release")
    if went_live and d.revert_on_failure:
        _phase(d, "revert", "start")
        targets = [(_peer_url(engine, r["node"]), {"operation": "revert_component", "project": d.project,
                                                   "replicated": False}) for r in went_live]
        reverted = await call_peers([t for t in targets if t[0]], timeout_s=d.deployment_timeout_s,
                                    on_result=_recorder_for_peers(d, "revert"))
        _phase(d, "revert", "done")
        stuck = [r for r in reverted if r["status"] == "failed"]
        tail = (f"; the peers that had activated were reverted: {', '.join(r['node'] for r in went_live)}"
                if not stuck else f"; reverting failed on {_details(stuck)}: those nodes are split")
        raise StepFailed(head + tail + ".", 500)
    if went_live:
        raise StepFailed(head + f", so the cluster is activated on only part of it. Split nodes: "
                         f"{', '.join(r['node'] for r in went_live)} run deployment {d.deployment_id}. "
                         "Pass revert_on_failure: true to swap them back on such a failure.", 500)
    raise StepFailed(head + ", and so did every peer.", 500)


def _peer_url(engine: Engine, node: str) -> str | None:
    return next((raw for raw in engine.config.peers if Peer.parse(raw).node == node), None)


def _details(results: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r['node']} ({(r.get('error') or {}).get('message', 'failed')})" for r in results)
