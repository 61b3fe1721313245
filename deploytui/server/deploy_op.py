"""``deploy_component``: validate the request, ingest the payload, run the deploy, answer.

The payload arrives as a multipart file part (streamed straight to disk), as base64 in JSON (spooled
to disk as it arrives, decoded in pieces), or as ``package: "file:<absolute dir>"`` (packed here into
a spool file, within the server's limits). The deploy itself runs as a server task that a
disconnecting client does not cancel, as in Harper; the request either waits for its result (JSON)
or streams its events (SSE).
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

from starlette.responses import Response

from deploytui.protocol.tarpack import PackError, UnreadableEntry

from .body import SPOOL_PREFIXES, Base64Decoder, SpooledString
from .config import ServerConfig
from .context import ServerContext
from .errors import EngineError
from .harper_wire import deploy_result
from .operations import OperationCall, OperationError, int_field, project_field, sse_response
from .peer_replay import is_peer_replay, stored_payload
from .releases import package_name, validate_project
from .stream import NO_DONE, deployment_events
from .two_phase import ACTIVATION_FIXED_FIELDS, prepare_activation, run_activation
from .tarball import PackLimits, TarballError, pack_directory_to

# npm's scoped package name: "@scope/name" (the scope itself has no '/').
SCOPED_NAME = re.compile(r"@[^/]+/([^/]+)")


def _restart_value(value: Any) -> bool | str:
    if value in (None, False, "false"):
        return False
    if value in (True, "true"):
        return True
    if value == "rolling":
        return "rolling"
    raise OperationError("'restart' must be true, false or \"rolling\"")


def _optional_str(fields: dict[str, Any], name: str) -> str | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise OperationError(f"'{name}' must be a string")
    return value


def _optional_ms(fields: dict[str, Any], name: str) -> int | None:
    number = int_field(fields, name)
    if number is not None and number < 0:
        raise OperationError(f"'{name}' must not be negative")
    return number


def _package_dir(package: str) -> Path:
    """Only local ``file:`` packages exist without a registry; anything else is refused plainly."""
    if not package.startswith("file:"):
        raise OperationError(
            f"package '{package}' is not supported by the embedded server: use 'file:<absolute dir>' "
            "or upload a tarball payload"
        )
    raw = package.removeprefix("file://") if package.startswith("file://") else package.removeprefix("file:")
    path = Path(raw)
    if not path.is_absolute():
        raise OperationError(f"package path must be absolute: '{raw}'")
    if not path.is_dir():
        raise OperationError(f"package directory not found: '{raw}'", 404)
    return path


def _project_from_dir(path: Path) -> str:
    """The project a ``file:`` package deploys as when the request names none.

    Its package.json ``name``, where an npm scope is dropped (``@scope/name`` deploys as ``name``,
    as the package's own directory under node_modules is named), else the directory's name. The
    result must pass the same project-name rule as a given one; nothing else is rewritten.
    """
    name = package_name(path)
    if name is not None:
        scoped = SCOPED_NAME.fullmatch(name)
        source, project = "package.json name", scoped.group(1) if scoped else name
    else:
        source, project = "directory name", path.name
    try:
        return validate_project(project)
    except EngineError as exc:
        raise OperationError(f"The package's {source} cannot be the project name ({exc.message}); "
                             "give 'project' explicitly") from None


async def _packed_chunks(path: Path, config: ServerConfig) -> AsyncIterator[bytes]:
    """A ``file:`` package: packed off the event loop into a spool file, then read back in pieces.

    The pack is never held in memory, and the server's limits apply while it is written: past the
    body limit (packed bytes) or the unpacked limit (file bytes) it stops with a 413.
    """
    spool = SpooledString(config.payloads_dir, prefix=SPOOL_PREFIXES[1])
    spool.close()  # written by the packer, by path
    limits = PackLimits(config.max_body_bytes, config.max_unpacked_bytes, config.max_members)
    try:
        try:
            await asyncio.to_thread(pack_directory_to, path, spool.path, limits)
        except TarballError as exc:
            raise OperationError(exc.message, exc.status_code) from None
        except UnreadableEntry as exc:
            raise _pack_failure(path, exc.error) from None
        except PackError as exc:  # a symlink leading outside, a file changed while packed: 400
            raise OperationError(str(exc)) from None
        except OSError as exc:  # writing the pack
            raise _pack_failure(path, exc) from None
        pieces = spool.chunks()
        while (chunk := await asyncio.to_thread(next, pieces, None)) is not None:
            yield chunk
    finally:
        spool.discard()


def _pack_failure(path: Path, exc: OSError) -> OperationError:
    """An unreadable entry of the client's directory (400), or no room for the pack here (507)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return OperationError("The server has no room to pack the package", 507)
    where = ""
    if isinstance(exc.filename, str) and exc.filename.startswith(str(path)):
        where = f" ({os.path.relpath(exc.filename, path)!r})"
    return OperationError(f"cannot read package directory '{path}'{where}: {exc.strerror or type(exc).__name__}")


def _validate(call: OperationCall, config: ServerConfig) -> tuple[str, AsyncIterator[bytes]]:
    """Check the request before any row is written; return (project, the payload's bytes to come)."""
    f = call.fields
    if "_deploymentId" in f:  # the harper wire takes it before this (server/peer_replay.py)
        raise OperationError("'_deploymentId' is not allowed")
    package = _optional_str(f, "package")
    has_payload = call.upload is not None and call.upload.has_file or f.get("payload") is not None
    if f.get("isolated") and not package:
        raise OperationError("'isolated' is only supported for package deployments")
    if has_payload and package:
        raise OperationError("Provide either 'payload' or 'package', not both")
    if package:
        directory = _package_dir(package)
        project = project_field(f, required=False) or _project_from_dir(directory)
        return project, _packed_chunks(directory, config)
    if not has_payload:
        raise OperationError("'payload' or 'package' is required")
    if call.upload is None or not call.upload.has_file:
        if not isinstance(f["payload"], (str, SpooledString)):
            raise OperationError("'payload' must be a base64 string")
        chunks = _decoded_chunks(f["payload"])
    else:
        chunks = call.upload.file_chunks()
    project = project_field(f, required=True)
    assert project is not None
    return project, chunks


def _optional_bool(fields: dict[str, Any], name: str) -> bool | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    if value in ("true", "false"):  # a multipart or query-style text field
        return value == "true"
    if not isinstance(value, bool):
        raise OperationError(f"'{name}' must be true or false")
    return value


def _two_phase_options(call: OperationCall, config: ServerConfig) -> dict[str, Any]:
    """``two_phase``, ``activate`` and ``revert_on_failure`` (our wire; the harper wire is Harper
    5.1.14, which knows none of them and deploys one-shot)."""
    if config.wire != "deploytui":
        return {"two_phase": False}
    f = call.fields
    two_phase, activate = _optional_bool(f, "two_phase"), _optional_bool(f, "activate")
    if activate is False and two_phase is False:
        raise OperationError("'activate: false' stages a deploy, which is two-phase: drop 'two_phase: false'")
    if activate is False and f.get("restart") not in (None, False, "false", ""):
        raise OperationError("'restart' cannot be combined with 'activate: false': a staged deploy does not go "
                             "live; ask for the restart when activating it")
    return {"two_phase": two_phase, "activate": activate is not False,
            "revert_on_failure": bool(_optional_bool(f, "revert_on_failure"))}


def _replicated(fields: dict[str, Any]) -> bool | None:
    return fields.get("replicated") if isinstance(fields.get("replicated"), bool) else None


async def _activate_staged(ctx: ServerContext, call: OperationCall) -> dict[str, Any] | Response:
    """``deploy_component {deployment_id}``: activate a staged deployment (contract §2.1.1)."""
    f = call.fields
    deployment_id = f["deployment_id"]
    if not isinstance(deployment_id, str):
        raise OperationError("'deployment_id' must be a string")
    fixed = [name for name in ACTIVATION_FIXED_FIELDS if f.get(name) is not None]
    if call.upload is not None and call.upload.has_file and "payload" not in fixed:
        fixed.insert(0, "payload")
    if fixed:
        raise OperationError("deployment_id activation uses the immutable staged configuration; remove: "
                             + ", ".join(fixed))
    try:
        deployment = await prepare_activation(
            ctx.engine, deployment_id=deployment_id, project=project_field(f, required=False), user=call.user,
            restart=_restart_value(f.get("restart")), deployment_timeout_ms=_optional_ms(f, "deployment_timeout"),
            revert_on_failure=bool(_optional_bool(f, "revert_on_failure")), replicated=_replicated(f))
    except EngineError as exc:
        raise OperationError(exc.message, exc.status_code) from None
    task = ctx.start_task(run_activation(ctx.engine, deployment))
    # Streamed from its first event, as get_deployment would: the stage's events, then the activation's.
    return await _answer(ctx, call, deployment_id, task, last_event_id=None)


async def deploy_component(ctx: ServerContext, call: OperationCall) -> dict[str, Any] | Response:
    f = call.fields
    if ctx.config.wire == "deploytui" and f.get("deployment_id") is not None:
        return await _activate_staged(ctx, call)
    options = _two_phase_options(call, ctx.config)
    peer = is_peer_replay(f, ctx.config.wire)  # a 5.1 peer's call: it fans out no further
    project, chunks = await stored_payload(ctx, call) if peer else _validate(call, ctx.config)
    deployment = await ctx.engine.begin(
        project=project,
        user=call.user,
        package_identifier=_optional_str(f, "package"),
        restart=_restart_value(f.get("restart")),
        install_command=_optional_str(f, "install_command"),
        install_timeout_ms=_optional_ms(f, "install_timeout"),
        replicated=False if peer else _replicated(f),
        deployment_timeout_ms=_optional_ms(f, "deployment_timeout"),
        **options,
    )
    # From here the engine owns the row: whatever happens, it ends terminal and the project is free.
    task = await ctx.engine.start(deployment, chunks, ctx.start_task)
    return await _answer(ctx, call, deployment.deployment_id, task, last_event_id=None)


async def _answer(ctx: ServerContext, call: OperationCall, deployment_id: str, task: asyncio.Task[Any], *,
                  last_event_id: str | None) -> dict[str, Any] | Response:
    """The deploy's result once it ends (JSON), or its events from ``last_event_id`` on (SSE)."""
    wire = ctx.config.wire
    if not call.wants_sse:
        return deploy_result(await asyncio.shield(task), wire)
    return sse_response(
        deployment_events(
            ctx.store,
            ctx.hub,
            deployment_id,
            wire=ctx.config.wire,
            last_event_id=last_event_id,
            keepalive_seconds=ctx.config.keepalive_seconds,
            done_result=lambda row: _result_or_no_done(task, wire),
        ),
        deployment_id=deployment_id,
        wire=wire,
    )


async def _result_or_no_done(task: asyncio.Task[Any], wire: str) -> Any:
    try:
        return deploy_result(await asyncio.shield(task), wire)
    except Exception:
        # The deploy's own `error` event already went out; Harper ends the stream without `done`.
        return NO_DONE


async def _decoded_chunks(payload: str | SpooledString) -> AsyncIterator[bytes]:
    """A base64 payload (in the body, or spooled to disk as it arrived), decoded piece by piece."""
    pieces: Iterator[bytes] = iter([payload.encode("ascii", "replace")]) if isinstance(payload, str) else payload.chunks()
    decoder = Base64Decoder()
    try:
        while (piece := await asyncio.to_thread(next, pieces, None)) is not None:
            if data := await asyncio.to_thread(decoder.decode, piece):
                yield data
        decoder.finish()
    except ValueError:
        raise OperationError("'payload' is not valid base64") from None
    finally:
        if isinstance(payload, SpooledString):
            payload.discard()  # read once: gone before the deploy is answered, not after
