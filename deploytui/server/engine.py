"""The deploy engine: Harper's one-shot pipeline, revert, and crash recovery, for real.

A deploy is ``begin`` (validate, write the ``pending`` row, start recording) → ``ingest`` (stream
the payload to ``payloads/<id>.tar.gz`` while hashing it) → ``run``: ``prepare`` (safe extraction
into a new release dir, install with one ``install`` event per output line) → ``load`` (validate
package.json / config.yaml) → ``replicate`` (peers over HTTP) → [``restart``] → activation (the
``current`` link moves atomically) → payload retention → ``success``. Event order follows contract
§4.4. Any failure emits Harper's ``error`` event, finishes the row ``failed``, leaves the running
release untouched and raises :class:`DeployFailed` carrying Harper's structured failure body.

One deploy (or revert) per project at a time: a second is refused with :class:`ProjectBusy` (409);
different projects run concurrently.
"""

from __future__ import annotations

import asyncio
import hashlib
import re
import socket
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from deploytui.protocol.deployment import Status

from .config import ServerConfig
from .engine_support import (
    DeployFailed,
    DeployRequestError,
    InstallOutput,
    NothingToRevert,
    ProjectBusy,
    StepFailed,
    describe_failure,
    now_ms,
)
from .installer import InstallTimeout, choose_install_command, kill_orphaned_installs, run_install
from .releases import ComponentInvalid, ComponentReleases, validate_component
from .replication import failure_message, replicate_deploy
from .tarball import TarballError, extract_tarball

__all__ = ["Deployment", "DeployFailed", "DeployRequestError", "Engine", "NothingToRevert", "ProjectBusy"]

PROJECT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$")
INSTALL_MARKER = "DEPLOYTUI_DEPLOYMENT_ID"  # in every install's environment
INSTALL_SKIPPED = "install skipped: no install_command, and no package.json with npm on PATH"


@dataclass(eq=False)
class Deployment:
    """One deploy in flight: its recorder and the request options the pipeline needs."""

    deployment_id: str
    project: str
    recorder: Any
    restart: bool | str
    install_command: str | None
    install_timeout_s: float
    deployment_timeout_s: float
    replicate: bool
    package_identifier: str | None = None
    payload_path: Path | None = None
    install_output: InstallOutput = field(default_factory=InstallOutput)


def validate_project(project: Any) -> str:
    """Harper-like component names: letters, digits, ``-``, ``_``, ``.``; no path tricks."""
    if not isinstance(project, str) or not PROJECT_NAME.match(project) or ".." in project:
        raise DeployRequestError(
            f"Invalid project name {project!r}: use letters, digits, '-', '_' and '.', "
            "starting with a letter or digit, without '/' or '..'"
        )
    return project


class Engine:
    """Runs deploys and reverts against the store/recorder, on this machine's filesystem."""

    def __init__(self, config: ServerConfig, store: Any, hub: Any) -> None:
        self.config = config
        self.store = store
        self.hub = hub
        self.origin_node = socket.gethostname()
        self._busy: dict[str, str] = {}  # project -> deployment_id holding it

    # ------------------------------------------------------------------ begin / ingest / abort

    async def begin(self, *, project: str, user: str | None, package_identifier: str | None = None,
                    restart: bool | str = False, install_command: str | None = None,
                    install_timeout_ms: int | None = None, replicated: bool | None = None,
                    deployment_timeout_ms: int | None = None) -> Deployment:
        """Validate, claim the project, and write the ``pending`` row before any payload byte."""
        validate_project(project)
        if restart not in (True, False, "rolling"):
            raise DeployRequestError("'restart' must be true, false or \"rolling\"")
        deployment_id = str(uuid.uuid4())
        self._claim(project, deployment_id)
        try:
            row = self._new_row(deployment_id, project, user, package_identifier, _restart_mode(restart))
            await self.store.insert_row(row)
            recorder = self.hub.start_recording(row)
        except BaseException:
            self._release(project, deployment_id)
            raise
        return Deployment(
            deployment_id=deployment_id,
            project=project,
            recorder=recorder,
            restart=restart,
            install_command=install_command,
            install_timeout_s=(install_timeout_ms or self.config.default_install_timeout_ms) / 1000,
            deployment_timeout_s=(deployment_timeout_ms or self.config.default_deployment_timeout_ms) / 1000,
            replicate=replicated is not False,
            package_identifier=package_identifier,
        )

    async def ingest(self, deployment: Deployment, chunks: AsyncIterable[bytes]) -> None:
        """Stream the payload to ``payloads/<id>.tar.gz``, hashing and sizing it on the way."""
        self.config.payloads_dir.mkdir(parents=True, exist_ok=True)
        path = self._payload_path(deployment.deployment_id)
        digest, size = hashlib.sha256(), 0
        handle = await asyncio.to_thread(open, path, "wb")
        try:
            async for chunk in chunks:
                digest.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.close)
        except BaseException:
            handle.close()
            path.unlink(missing_ok=True)
            raise
        deployment.payload_path = path
        deployment.recorder.update(payload_hash=digest.hexdigest(), payload_size=size, payload_path=str(path))

    async def abort(self, deployment: Deployment, message: str, status_code: int = 400) -> None:
        """The request was refused after ``begin`` (bad upload…): record it failed, keep no payload."""
        try:
            if deployment.payload_path is not None:
                deployment.payload_path.unlink(missing_ok=True)
            error = {"message": message, "code": status_code, "phase": deployment.recorder.row.get("phase")}
            deployment.recorder.emit("error", {**error, "deployment_id": deployment.deployment_id})
            await deployment.recorder.finish(
                Status.FAILED, error=error, payload_path=None, payload_hash=None, payload_size=None
            )
        finally:
            self._release(deployment.project, deployment.deployment_id)

    # ------------------------------------------------------------------ the pipeline

    async def run(self, deployment: Deployment) -> dict[str, Any]:
        """Run the pipeline to the end; Harper's success body, or :class:`DeployFailed`."""
        releases = ComponentReleases(self.config.components_dir, deployment.project)
        try:
            return await self._pipeline(deployment, releases)
        except asyncio.CancelledError:
            raise  # server shutdown: the row stays non-terminal and recover_interrupted fails it
        except Exception as exc:
            await asyncio.to_thread(releases.discard, deployment.deployment_id)
            raise await self._fail(deployment, exc) from exc
        finally:
            self._release(deployment.project, deployment.deployment_id)

    async def _pipeline(self, d: Deployment, releases: ComponentReleases) -> dict[str, Any]:
        rec = d.recorder
        if d.payload_path is None:
            raise StepFailed("No payload was received", 400)
        _phase(rec, "prepare", "start")
        root = await self._extract(d, releases)
        await self._install(d, root)
        _phase(rec, "prepare", "done")

        _phase(rec, "load", "start")
        try:
            await asyncio.to_thread(validate_component, root)
        except ComponentInvalid as exc:
            raise StepFailed(f"Component '{d.project}' failed to load: {exc.message}", 400) from exc
        _phase(rec, "load", "done")

        _phase(rec, "replicate", "start")
        peers = await self._replicate(d)
        _phase(rec, "replicate", "done")
        problem = failure_message(d.project, d.deployment_id, peers)
        if problem:
            raise StepFailed(problem, 500)

        if d.restart:
            _phase(rec, "restart", "start")
        releases.activate(d.deployment_id, root)
        if d.restart:
            _phase(rec, "restart", "done")
        await asyncio.to_thread(releases.prune)
        dropped = self._retain_payload(d)
        _phase(rec, "success", "done")
        await rec.finish(Status.SUCCESS, **dropped)
        message = f"Successfully deployed: {d.project}" + (", restarting Harper" if d.restart else "")
        return {"message": message, "deployment_id": d.deployment_id, "replicated": peers}

    async def _extract(self, d: Deployment, releases: ComponentReleases) -> Path:
        assert d.payload_path is not None
        try:
            extracted = await asyncio.to_thread(
                extract_tarball, d.payload_path, releases.release_dir(d.deployment_id),
                max_unpacked_bytes=self.config.max_unpacked_bytes, max_members=self.config.max_members,
            )
        except TarballError as exc:
            raise StepFailed(f"Payload refused: {exc.message}", exc.status_code) from exc
        return extracted.root

    async def _install(self, d: Deployment, root: Path) -> None:
        """Run the install command with one ``install`` event per output line, as it is produced."""
        rec, output = d.recorder, d.install_output
        command = choose_install_command(root, d.install_command)
        if command is None:
            rec.emit("install", {"manager": "none", "stream": "stdout", "line": INSTALL_SKIPPED})
            return

        def on_line(stream: str, line: str) -> None:
            rec.emit("install", {"manager": command.manager, "stream": stream, "line": line})
            output.add(command.manager, stream, line)

        try:
            code = await run_install(
                command.command, root, on_line=on_line, timeout_s=d.install_timeout_s,
                # Marks every process of this install, so that after a crash the next server can
                # end what was left running (recover_interrupted).
                env={INSTALL_MARKER: d.deployment_id},
            )
        except InstallTimeout as exc:
            raise StepFailed(str(exc), 500) from exc
        except OSError as exc:
            raise StepFailed(f"Install command could not start: {exc} ({command.display})", 500) from exc
        if code != 0:
            how = f"was killed by signal {-code}" if code < 0 else f"failed with exit code {code}"
            raise StepFailed(f"Install command {how}: {command.display}", 500)

    async def _replicate(self, d: Deployment) -> list[dict[str, Any]]:
        """Deploy the same payload to every peer; one ``peer`` event each, results on the row."""
        if not d.replicate or not self.config.peers:
            return []
        rec = d.recorder
        results: list[dict[str, Any]] = []

        def on_result(result: dict[str, Any]) -> None:
            event = {k: result[k] for k in ("node", "status", "error", "deployment_id") if result.get(k) is not None}
            rec.emit("peer", event)
            results.append(result)
            rec.update(peer_results=list(results))

        assert d.payload_path is not None
        payload = await asyncio.to_thread(d.payload_path.read_bytes)
        body = {"operation": "deploy_component", "project": d.project, "restart": d.restart}
        if d.install_command:
            body["install_command"] = d.install_command
        body["install_timeout"] = int(d.install_timeout_s * 1000)
        return await replicate_deploy(self.config.peers, body, payload,
                                      timeout_s=d.deployment_timeout_s, on_result=on_result)

    def _retain_payload(self, d: Deployment) -> dict[str, Any]:
        """Drop a payload above the retention size (contract §2.7); the row fields to finish with."""
        size = d.recorder.row.get("payload_size") or 0
        limit = self.config.payload_retention_max_size
        if d.payload_path is None or size <= limit:
            return {}
        d.payload_path.unlink(missing_ok=True)
        d.recorder.emit("payload_dropped", {"payload_size": size, "max_size": limit})
        return {"payload_path": None}

    async def _fail(self, d: Deployment, exc: BaseException) -> DeployFailed:
        """Emit Harper's ``error`` event, finish the row ``failed``, build the failure to raise."""
        message, code = describe_failure(exc)
        phase = d.recorder.row.get("phase")
        install_output = d.install_output.as_dict()
        d.recorder.emit("error", {"message": message, "code": code, "phase": phase,
                                  "install_output": install_output, "deployment_id": d.deployment_id})
        await d.recorder.finish(Status.FAILED, error={"message": message, "code": code, "phase": phase})
        return DeployFailed(code, {"error": message, "phase": phase, "install_output": install_output,
                                   "deployment_id": d.deployment_id})

    # ------------------------------------------------------------------ revert and recovery

    async def revert(self, *, project: str, user: str | None, restart: bool = False) -> dict[str, Any]:
        """Swap ``current`` back to ``previous`` (contract §2.6), recorded as a ``rolled_back`` row."""
        validate_project(project)
        releases = ComponentReleases(self.config.components_dir, project)
        deployment_id = str(uuid.uuid4())
        self._claim(project, deployment_id)  # first: the links must not move while we read them
        try:
            from_id, to_id = releases.current_id(), releases.previous_id()
            if from_id is None:
                raise NothingToRevert(f"Component '{project}' has no deployed release to revert")
            if to_id is None:
                raise NothingToRevert(f"Component '{project}' has no previous release to revert to")
            row = self._new_row(deployment_id, project, user, None, "immediate" if restart else None)
            row["rollback_of"] = from_id
            await self.store.insert_row(row)
            rec = self.hub.start_recording(row)
            return await self._revert(rec, releases, project, restart)
        finally:
            self._release(project, deployment_id)

    async def _revert(self, rec: Any, releases: ComponentReleases, project: str, restart: bool) -> dict[str, Any]:
        try:
            _phase(rec, "revert", "start")
            _, to_id = releases.swap()
            _phase(rec, "revert", "done")
            if restart:
                _phase(rec, "restart", "start")
                _phase(rec, "restart", "done")
            _phase(rec, "success", "done")
            await rec.finish(Status.ROLLED_BACK, reverted_to=to_id)
        except Exception as exc:
            message, code = describe_failure(exc)
            error = {"message": message, "code": code, "phase": rec.row.get("phase")}
            rec.emit("error", {**error, "deployment_id": rec.deployment_id})
            await rec.finish(Status.FAILED, error=error)
            raise DeployFailed(code, {"error": message, "phase": error["phase"],
                                      "deployment_id": rec.deployment_id}) from exc
        message = f"Reverted component: {project}" + (", restarting Harper" if restart else "")
        return {"message": message, "project": project, "reverted": True, "deployment_id": rec.deployment_id}

    async def recover_interrupted(self) -> int:
        """Fail every row a previous server process left non-terminal; returns how many."""
        orphans = [row for row in await self.store.nonterminal_rows()
                   if self.hub.recorder(row["deployment_id"]) is None]  # not running in this process
        for row in orphans:
            await self._fail_orphan(row)
        return len(orphans)

    async def _fail_orphan(self, row: dict[str, Any]) -> None:
        await asyncio.to_thread(kill_orphaned_installs, f"{INSTALL_MARKER}={row['deployment_id']}")
        phase = row.get("phase") or "pending"
        message = f"interrupted: the server stopped during {phase}"
        fields: dict[str, Any] = {"status": Status.FAILED, "completed_at": now_ms(),
                                  "error": {"message": message, "phase": phase}}
        if not row.get("payload_hash"):  # the upload itself was cut short: drop the partial file
            self._payload_path(row["deployment_id"]).unlink(missing_ok=True)
            fields["payload_path"] = None
        if row.get("project"):
            releases = ComponentReleases(self.config.components_dir, row["project"])
            await asyncio.to_thread(releases.discard, row["deployment_id"])
        await self.hub.append_event(row["deployment_id"], "error",
                                    {"message": message, "code": 500, "phase": phase,
                                     "deployment_id": row["deployment_id"]}, fields=fields)

    # ------------------------------------------------------------------ helpers

    def _new_row(self, deployment_id: str, project: str, user: str | None,
                 package_identifier: str | None, restart_mode: str | None) -> dict[str, Any]:
        return {
            "deployment_id": deployment_id, "project": project, "package_identifier": package_identifier,
            "payload_hash": None, "payload_size": None, "payload_path": None,
            "status": Status.PENDING.value, "phase": "pending", "event_log": [], "peer_results": [],
            "origin_node": self.origin_node, "restart_mode": restart_mode, "started_at": now_ms(),
            "completed_at": None, "user": user, "rollback_of": None, "error": None,
        }

    def _payload_path(self, deployment_id: str) -> Path:
        return self.config.payloads_dir / f"{deployment_id}.tar.gz"

    def _claim(self, project: str, deployment_id: str) -> None:
        holder = self._busy.get(project)
        if holder is not None:
            raise ProjectBusy(f"A deployment of '{project}' is already in progress ({holder}); "
                              "wait for it to finish")
        self._busy[project] = deployment_id

    def _release(self, project: str, deployment_id: str) -> None:
        if self._busy.get(project) == deployment_id:
            del self._busy[project]


def _phase(rec: Any, phase: str, status: str) -> None:
    rec.emit("phase", {"phase": phase, "status": status})


def _restart_mode(restart: bool | str) -> str | None:
    if restart == "rolling":
        return "rolling"
    return "immediate" if restart else None
