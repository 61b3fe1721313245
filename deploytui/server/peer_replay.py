"""Harper 5.1's peer path: ``deploy_component`` naming a deployment in ``_deploymentId`` and
carrying no payload deploys that deployment's stored payload (contract §2.1.1, §7.5).

On a 5.1 cluster the origin replicates the ``hdb_deployment`` row (with its payload blob) and each
peer runs ``{operation: "deploy_component", project, restart, _deploymentId}``; 5.1.14 also accepts
that call over HTTP, and its integration test ``deploy-tracking-peer-branch`` deploys a seed
deployment's blob again under another project name that way. The ``harper`` wire accepts it the
same way; our own wire follows later Harper, which refuses the marker over HTTP (400
``'_deploymentId' is not allowed``). Our peers get the payload itself (server/replication.py), as
no row is replicated between our servers, so an id unknown here is answered at once (Harper would
wait up to ``deployment_timeout`` for the row to arrive) and the run is recorded as a row of its own.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, BinaryIO

from .context import ServerContext
from .operations import OperationCall, OperationError, project_field

MARKER = "_deploymentId"
CHUNK_BYTES = 1024 * 1024


def is_peer_replay(fields: dict[str, Any], wire: str) -> bool:
    """A 5.1 peer call: the marker present, on the wire that speaks 5.1."""
    return wire == "harper" and fields.get(MARKER) is not None


async def stored_payload(ctx: ServerContext, call: OperationCall) -> tuple[str, AsyncIterator[bytes]]:
    """(project, the stored payload's bytes) for a peer call, or the refusal Harper's caller gets.

    The file is opened here, before any row is written, so that payload retention or a
    ``delete_deployment_payload`` running meanwhile cannot take it away half read.
    """
    f = call.fields
    source_id = f[MARKER]
    if not isinstance(source_id, str) or not source_id:
        raise OperationError(f"'{MARKER}' must be a deployment id")
    if f.get("payload") is not None or f.get("package") or (call.upload is not None and call.upload.has_file):
        raise OperationError(f"'{MARKER}' deploys a stored payload: send no 'payload' or 'package' with it")
    row = await ctx.store.get_row(source_id)
    if row is None:
        raise OperationError(f"No deployment found with id '{source_id}'", 404)
    handle = await asyncio.to_thread(_open_payload, row.get("payload_path"))
    if handle is None:
        raise OperationError(
            f"No payload is stored for deployment '{source_id}' (it may have been reclaimed by payload "
            "retention or delete_deployment_payload)", 404)
    project = project_field(f, required=False) or row.get("project")
    if not project:
        handle.close()
        raise OperationError("'project' is required")
    return project, _chunks(handle)


def _open_payload(path: str | None) -> BinaryIO | None:
    try:
        return open(path, "rb") if path else None  # noqa: SIM115 - closed by _chunks
    except OSError:
        return None


async def _chunks(handle: BinaryIO) -> AsyncIterator[bytes]:
    try:
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            yield chunk
    finally:
        await asyncio.to_thread(handle.close)
