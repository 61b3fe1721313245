"""The deploy engine: Harper's one-shot pipeline, revert, and crash recovery, for real.

A deploy is ``begin`` (validate, claim the project, write the ``pending`` row, start recording) →
``run``, which owns the row from then on: ``ingest`` (stream the payload to
``payloads/<id>.tar.gz`` while hashing it) → ``prepare`` (safe extraction into a new release dir,
install with one ``install`` event per output line) → ``load`` (validate package.json /
config.yaml) → ``replicate`` (peers over HTTP) → [``restart``] → activation (the ``current`` link
moves atomically) → payload retention → ``success``. Event order follows contract §4.4.

The invariant: while the server runs, no row stays non-terminal and no project stays claimed. It
holds by construction: once ``begin`` has written a row, exactly one place (:meth:`Engine.own`,
used by deploys and reverts alike) ends it. Any failure there, a refused upload, a client that went
away, a full disk or a bug, emits Harper's ``error`` event, finishes the row ``failed``, removes the
partial payload and release dir, leaves the running release untouched, releases the project and
raises :class:`DeployFailed` carrying Harper's structured failure body. Only cancellation, which
happens when the server stops, leaves the row to :meth:`Engine.recover_interrupted` of the next start.

One deploy (or revert) per project at a time: a second is refused with :class:`ProjectBusy` (409);
different projects run concurrently.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import socket
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Coroutine
from pathlib import Path
from typing import Any, BinaryIO

from deploytui.protocol.clock import now_ms
from deploytui.protocol.deployment import Status, is_terminal

from .config import ServerConfig
from .errors import (
    DeployFailed,
    DeployRequestError,
    NothingToRevert,
    ProjectBusy,
    StepFailed,
    describe_failure,
    sink_failure,
    source_failure,
)
from .harper_wire import install_failure, install_manager
from .inflight import Deployment, restart_mode
from .installer import InstallTimeout, choose_install_command, kill_orphaned_installs, run_install
from .recorder import EventHub, Recorder
from .releases import ComponentInvalid, ComponentReleases, validate_component, validate_project
from .replication import failure_message, replicate_deploy
from .store import Store
from .tarball import TarballError, extract_tarball
from .two_phase import install_fingerprint, stage_then_activate, staged_ids

__all__ = ["Deployment", "DeployFailed", "DeployRequestError", "Engine", "NothingToRevert", "ProjectBusy",
           "validate_project"]

INSTALL_MARKER = "DEPLOYTUI_DEPLOYMENT_ID"  # in every install's environment
INSTALL_SKIPPED = "install skipped: no install_command, and no package.json with npm on PATH"


class Engine:
    """Runs deploys and reverts against the store/recorder, on this machine's filesystem."""

    def __init__(self, config: ServerConfig, store: Store, hub: EventHub) -> None:
        self.config = config
        self.store = store
        self.hub = hub
        self.origin_node = socket.gethostname()
        self._busy: dict[str, str] = {}  # project -> deployment_id holding it
        self._tasks: dict[str, asyncio.Task[Any]] = {}  # deployment_id -> its running deploy task

    # ------------------------------------------------------------------ begin / start / ingest

    async def begin(self, *, project: str, user: str | None, package_identifier: str | None = None,
                    restart: bool | str = False, install_command: str | None = None,
                    install_timeout_ms: int | None = None, replicated: bool | None = None,
                    deployment_timeout_ms: int | None = None, two_phase: bool | None = None,
                    activate: bool = True, revert_on_failure: bool = False,
                    redeploy_of: str | None = None) -> Deployment:
        """Validate, claim the project, and write the ``pending`` row before any payload byte.

        The row is born with what says where it comes from (``redeploy_of``, the install command a
        redeploy runs again): a list polled a moment later must not show it without them.

        ``two_phase`` None means the wire's default: two-phase on ours (Harper's newest protocol),
        one-shot on the ``harper`` wire (Harper 5.1.14).
        """
        validate_project(project)
        if restart not in (True, False, "rolling"):
            raise DeployRequestError("'restart' must be true, false or \"rolling\"")
        deployment_id = str(uuid.uuid4())
        self.claim(project, deployment_id)
        born = {"redeploy_of": redeploy_of} if redeploy_of else {}
        if install_command:  # internal ('_'): what a redeploy of this payload runs again
            born["_install_command"] = install_command
        recorder = await self._open_row(deployment_id, project, user, package_identifier, restart_mode(restart),
                                        extra=born)
        return Deployment(
            deployment_id=deployment_id,
            project=project,
            recorder=recorder,
            restart=restart,
            install_command=install_command,
            install_timeout_ms=install_timeout_ms or self.config.default_install_timeout_ms,
            deployment_timeout_s=(deployment_timeout_ms or self.config.default_deployment_timeout_ms) / 1000,
            replicate=replicated is not False,
            package_identifier=package_identifier,
            two_phase=self.config.wire == "deploytui" if two_phase is None else two_phase,
            activate=activate,
            revert_on_failure=revert_on_failure,
        )

    async def start(self, deployment: Deployment, chunks: AsyncIterable[bytes],
                    spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task[Any]]) -> asyncio.Task[Any]:
        """Start :meth:`run` as a server task (made by ``spawn``); return it once the payload is in.

        The request that uploads the payload waits here; the deploy itself goes on in the task, so
        a client that disconnects later does not cancel it (as in Harper). A deploy that fails
        before its payload is stored raises its :class:`DeployFailed` here.
        """
        task = spawn(self.run(deployment, chunks))
        self._tasks[deployment.deployment_id] = task
        task.add_done_callback(lambda _: self._tasks.pop(deployment.deployment_id, None))
        ingested = asyncio.ensure_future(deployment.ingested.wait())
        try:
            await asyncio.wait({task, ingested}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            ingested.cancel()
        if not deployment.ingested.is_set():
            task.result()  # it ended before the payload was in: raise its failure
        return task

    async def run(self, deployment: Deployment, chunks: AsyncIterable[bytes]) -> dict[str, Any]:
        """Ingest the payload, then run the pipeline; Harper's success body, or :class:`DeployFailed`."""
        releases = ComponentReleases(self.config.components_dir, deployment.project)

        async def steps() -> dict[str, Any]:
            await self.ingest(deployment, chunks)
            deployment.ingested.set()
            return await self._pipeline(deployment, releases)

        return await self.own(deployment, steps)

    async def ingest(self, deployment: Deployment, chunks: AsyncIterable[bytes]) -> None:
        """Stream the payload to ``payloads/<id>.tar.gz``, hashing and sizing it on the way.

        A step of :meth:`run`. Failures are told apart by side: reading what the client sent is the
        client's problem (see :func:`source_failure`), writing it to our disk is the server's
        (:func:`sink_failure`). A partial file never stays behind.
        """
        path = self._payload_path(deployment.deployment_id)
        digest, size = hashlib.sha256(), 0
        handle: BinaryIO | None = None
        stored = False
        try:
            handle = await asyncio.to_thread(self._create_payload_file, path)
            async for chunk in _client_bytes(chunks):
                digest.update(chunk)
                size += len(chunk)
                await asyncio.to_thread(handle.write, chunk)
            await asyncio.to_thread(handle.close)
            stored = True
        except OSError as exc:  # the client's side raises no OSError (see _client_bytes): our disk
            raise sink_failure(exc) from exc
        finally:
            if not stored:  # no partial file stays behind
                await asyncio.to_thread(_discard_partial, handle, path)
        deployment.payload_path = path
        deployment.recorder.update(payload_hash=digest.hexdigest(), payload_size=size, payload_path=str(path))

    def _create_payload_file(self, path: Path) -> BinaryIO:
        self.config.payloads_dir.mkdir(parents=True, exist_ok=True)
        return open(path, "wb")  # noqa: SIM115 - closed by ingest

    # ------------------------------------------------------------------ the one owner of a row

    async def own(self, d: Deployment, steps: Callable[[], Awaitable[dict[str, Any]]]) -> dict[str, Any]:
        """Run ``steps`` for a claimed project whose row is written; the only place a row ends.

        Whatever ``steps`` raises, the row is finished ``failed`` with Harper's ``error`` event and
        :class:`DeployFailed` is raised; if ``steps`` return without finishing the row, that is a
        failure too. The project is released in every case. Cancellation (the server stopping)
        leaves the row to ``recover_interrupted``, which also ends an install left running.
        """
        try:
            result = await steps()
            if not is_terminal(d.recorder.row.get("status")):
                raise RuntimeError("the deploy ended without recording its outcome")
            return result
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            raise await self._fail(d, exc) from exc
        finally:
            self.release(d.project, d.deployment_id)

    async def _pipeline(self, d: Deployment, releases: ComponentReleases) -> dict[str, Any]:
        if d.two_phase:
            return await stage_then_activate(self, d, releases)
        rec = d.recorder
        root = await self.build(d, releases)

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
        await asyncio.to_thread(releases.prune, await staged_ids(self, d.project))
        dropped = self.retain_payload(d)
        _phase(rec, "success", "done")
        await rec.finish(Status.SUCCESS, **dropped)
        message = f"Successfully deployed: {d.project}" + (", restarting Harper" if d.restart else "")
        answer = {"message": message, "deployment_id": d.deployment_id, "replicated": peers}
        fingerprint = rec.row.get("install_fingerprint")
        return answer if fingerprint is None else {**answer, "install": fingerprint}

    async def build(self, d: Deployment, releases: ComponentReleases) -> Path:
        """``prepare`` (extract, install) then ``load`` (check) a new release; its component root.

        On our wire the lockfiles' fingerprint, taken before install, goes on the row.
        """
        rec = d.recorder
        _phase(rec, "prepare", "start")
        root = await self._extract(d, releases)
        if self.config.wire == "deploytui":
            rec.update(install_fingerprint=await asyncio.to_thread(install_fingerprint, root))
        await self._install(d, root)
        _phase(rec, "prepare", "done")

        # A 5.1.14 node running operations on its main thread sends no load phase (contract §4.4):
        # the harper wire checks the component all the same, within prepare.
        announce_load = self.config.wire != "harper"
        if announce_load:
            _phase(rec, "load", "start")
        try:
            await asyncio.to_thread(validate_component, root)
        except ComponentInvalid as exc:
            raise StepFailed(f"Component '{d.project}' failed to load: {exc.message}", 400) from exc
        if announce_load:
            _phase(rec, "load", "done")
        return root

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
        assert output is not None
        command = choose_install_command(root, d.install_command)
        harper = self.config.wire == "harper"  # Harper 5.1.14's names and messages (server/harper_wire.py)
        if command is None:
            if not harper:  # Harper says nothing when there is nothing to install
                rec.emit("install", {"manager": "none", "stream": "stdout", "line": INSTALL_SKIPPED})
            return
        manager = install_manager(d.install_command, command.manager) if harper else command.manager

        def on_lines(stream: str, lines: list[str]) -> None:
            rec.emit_many("install", [{"manager": manager, "stream": stream, "line": line} for line in lines])
            output.add_lines(manager, stream, lines)

        try:
            code = await run_install(
                command.command, root, on_lines=on_lines, timeout_s=d.install_timeout_ms / 1000,
                # Marks every process of this install, so that after a crash the next server can
                # end what was left running (recover_interrupted).
                env={INSTALL_MARKER: d.deployment_id},
            )
        except InstallTimeout as exc:
            raise StepFailed(str(exc), 500) from exc
        except OSError as exc:
            raise StepFailed(f"Install command could not start: {exc} ({command.display})", 500) from exc
        if code != 0:
            if harper and d.install_command:
                raise StepFailed(install_failure(d.project, d.install_command, code), 500)
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
        body["install_timeout"] = d.install_timeout_ms
        return await replicate_deploy(self.config.peers, body, payload,
                                      timeout_s=d.deployment_timeout_s, on_result=on_result)

    def retain_payload(self, d: Deployment) -> dict[str, Any]:
        """Drop a payload above the retention size (contract §2.7); the row fields to finish with."""
        size = d.recorder.row.get("payload_size") or 0
        limit = self.config.payload_retention_max_size
        if d.payload_path is None or size <= limit:
            return {}
        d.payload_path.unlink(missing_ok=True)
        d.recorder.emit("payload_dropped", {"payload_size": size, "max_size": limit})
        return {"payload_path": None}

    async def _fail(self, d: Deployment, exc: BaseException) -> DeployFailed:
        """Drop what the failed attempt left (its release dir; a payload not wholly received), emit
        Harper's ``error`` event and finish the row ``failed``; build the failure to raise."""
        releases = ComponentReleases(self.config.components_dir, d.project)
        message, code = describe_failure(exc, hidden=(releases.base, self.config.data_dir))
        rec = d.recorder
        phase = rec.row.get("phase")
        body: dict[str, Any] = {"error": message, "phase": phase}
        if d.install_output is not None:
            body["install_output"] = d.install_output.as_dict()
        body["deployment_id"] = d.deployment_id
        if is_terminal(rec.row.get("status")):  # it failed after recording its outcome
            return DeployFailed(code, body)
        with contextlib.suppress(OSError):  # tidying up must not stop the row from ending
            await asyncio.to_thread(releases.discard, d.deployment_id)
        error_event = {"message": message, "code": code, "phase": phase, **body}
        del error_event["error"]
        rec.emit("error", error_event)
        await rec.finish(Status.FAILED, error={"message": message, "code": code, "phase": phase})
        return DeployFailed(code, body)

    async def cancel(self, deployment_id: str, *, user: str | None) -> bool:
        """Stop a running deploy: its task is cancelled (which kills the install's process group),
        then the row ends ``failed`` "cancelled by <user>" with Harper's ``error`` event. False when
        no deploy task of that id runs here (it ended meanwhile, or it is a revert, which is instant)."""
        task = self._tasks.get(deployment_id)
        recorder = self.hub.recorder(deployment_id)
        if task is None or task.done() or recorder is None or is_terminal(recorder.row.get("status")):
            return False
        row = dict(recorder.row)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if is_terminal(recorder.row.get("status")):  # it finished before the cancel reached it
            return False
        await self.end_unfinished(row, f"cancelled by {user or 'an operator'}")
        return True

    # ------------------------------------------------------------------ revert and recovery

    async def revert(self, *, project: str, user: str | None, restart: bool = False) -> dict[str, Any]:
        """Swap ``current`` back to ``previous`` (contract §2.6), recorded as a ``rolled_back`` row."""
        validate_project(project)
        releases = ComponentReleases(self.config.components_dir, project)
        deployment_id = str(uuid.uuid4())
        self.claim(project, deployment_id)  # first: the links must not move while we read them
        from_id, to_id = releases.current_id(), releases.previous_id()
        if from_id is None or to_id is None:
            self.release(project, deployment_id)
            what = "no deployed release to revert" if from_id is None else "no previous release to revert to"
            raise NothingToRevert(f"Component '{project}' has {what}")
        rec = await self._open_row(deployment_id, project, user, None, "immediate" if restart else None,
                                   rollback_of=from_id)
        d = Deployment(deployment_id=deployment_id, project=project, recorder=rec, restart=restart,
                       install_output=None)
        return await self.own(d, lambda: self._revert(d, releases))

    async def _revert(self, d: Deployment, releases: ComponentReleases) -> dict[str, Any]:
        rec = d.recorder
        _phase(rec, "revert", "start")
        _, to_id = releases.swap()
        _phase(rec, "revert", "done")
        if d.restart:
            _phase(rec, "restart", "start")
            _phase(rec, "restart", "done")
        _phase(rec, "success", "done")
        await rec.finish(Status.ROLLED_BACK, reverted_to=to_id)
        message = f"Reverted component: {d.project}" + (", restarting Harper" if d.restart else "")
        return {"message": message, "project": d.project, "reverted": True, "deployment_id": d.deployment_id}

    async def recover_interrupted(self) -> int:
        """Fail every row a previous server process left non-terminal; returns how many.

        Runs under the data dir's lock (server/lifecycle.py), so no other server is running these
        rows. Each ends when its last event was recorded, the last sign of its work, not now.
        """
        orphans = [row for row in await self.store.nonterminal_rows()
                   if self.hub.recorder(row["deployment_id"]) is None]  # not running in this process
        for row in orphans:
            # Events are committed as they come, the row a commit later: a crash in between leaves
            # the row a phase behind, so the last recorded phase event says where the work stopped.
            last_phase = await self.store.last_event(row["deployment_id"], "phase")
            recorded = last_phase["data"].get("phase") if last_phase and isinstance(last_phase["data"], dict) else None
            if isinstance(recorded, str):
                row = {**row, "phase": recorded}
            phase = row.get("phase") or "pending"
            await self.end_unfinished(row, f"interrupted: the server stopped during {phase}",
                                      completed_at=await self._last_event_time(row))
        return len(orphans)

    async def _last_event_time(self, row: dict[str, Any]) -> int:
        last = await self.store.last_seq(row["deployment_id"])
        events = await self.store.events(row["deployment_id"], after_seq=last - 1, limit=1) if last else []
        return events[0]["t"] if events else row.get("started_at") or now_ms()

    async def end_unfinished(self, row: dict[str, Any], message: str, *, completed_at: int | None = None) -> None:
        """Fail a deployment whose work is not running (any more): a previous server's orphan, or one
        whose task the operator's ``stop_server --force`` cancelled. Ends what is left of its install,
        drops its partial payload and release, records Harper's ``error`` event and the failed row."""
        deployment_id = row["deployment_id"]
        await asyncio.to_thread(kill_orphaned_installs, f"{INSTALL_MARKER}={deployment_id}")
        recorder = self.hub.recorder(deployment_id)
        row = recorder.row if recorder is not None else row
        phase = row.get("phase") or "pending"
        error = {"message": message, "phase": phase}
        fields: dict[str, Any] = {"completed_at": completed_at or now_ms()}
        if not row.get("payload_hash"):  # the upload itself was cut short: drop the partial file
            self._payload_path(deployment_id).unlink(missing_ok=True)
            fields["payload_path"] = None
        if row.get("project"):
            releases = ComponentReleases(self.config.components_dir, row["project"])
            await asyncio.to_thread(releases.discard, deployment_id)
        event = {"message": message, "code": 500, "phase": phase, "deployment_id": deployment_id}
        if recorder is not None:  # cancelled in this process: its recording is still open
            recorder.emit("error", event)
            await recorder.finish(Status.FAILED, error=error, **fields)
        else:
            await self.hub.append_event(deployment_id, "error", event,
                                        fields={"status": Status.FAILED, "error": error, **fields})

    # ------------------------------------------------------------------ helpers

    async def _open_row(self, deployment_id: str, project: str, user: str | None, package_identifier: str | None,
                        restart_mode: str | None, rollback_of: str | None = None,
                        extra: dict[str, Any] | None = None) -> Recorder:
        """Write the ``pending`` row of a claimed project and start recording it; its recorder.

        From here on :meth:`_own` ends the row. If writing it fails, the claim is given back.
        """
        row = {
            "deployment_id": deployment_id, "project": project, "package_identifier": package_identifier,
            "payload_hash": None, "payload_size": None, "payload_path": None,
            "status": Status.PENDING.value, "phase": "pending", "event_log": [], "peer_results": [],
            "origin_node": self.origin_node, "restart_mode": restart_mode, "started_at": now_ms(),
            "completed_at": None, "user": user, "rollback_of": rollback_of, "error": None, **(extra or {}),
        }
        try:
            await self.store.insert_row(row)
        except BaseException:
            self.release(project, deployment_id)
            raise
        # A new id has no events yet (last_seq=0): recording starts without reading the store.
        return self.hub.start_recording(row, last_seq=0)

    def _payload_path(self, deployment_id: str) -> Path:
        return self.config.payloads_dir / f"{deployment_id}.tar.gz"

    def claim(self, project: str, deployment_id: str) -> None:
        holder = self._busy.get(project)
        if holder is not None:
            raise ProjectBusy(f"A deployment of '{project}' is already in progress ({holder}); "
                              "wait for it to finish")
        self._busy[project] = deployment_id

    def release(self, project: str, deployment_id: str) -> None:
        if self._busy.get(project) == deployment_id:
            del self._busy[project]


async def _client_bytes(chunks: AsyncIterable[bytes]) -> AsyncIterator[bytes]:
    """The payload's bytes as the client sends them; a failure to read them is turned into what it
    means for the client (:func:`source_failure`), so no ``OSError`` of theirs looks like ours."""
    source = aiter(chunks)
    while True:
        try:
            chunk = await anext(source)
        except StopAsyncIteration:
            return
        except Exception as exc:
            failure = source_failure(exc)
            if failure is exc:
                raise
            raise failure from exc
        yield chunk


def _discard_partial(handle: BinaryIO | None, path: Path) -> None:
    """Close and remove a payload file that was not stored whole; quietly, as the failure that
    got us here is what the client must hear about."""
    with contextlib.suppress(OSError):
        if handle is not None:
            handle.close()
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)


def _phase(rec: Recorder, phase: str, status: str) -> None:
    rec.emit("phase", {"phase": phase, "status": status})
