"""The Operations API handlers: one coroutine per operation, Harper's shapes and messages.

Each handler takes the server context and an :class:`OperationCall` and returns either a JSON-able
dict (sent as 200) or a Starlette response (SSE, raw payload bytes). Refusals raise
:class:`OperationError` carrying Harper's status code and message (contract §1.4, §2).
"""

from __future__ import annotations

import math
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sse_starlette import EventSourceResponse
from starlette.responses import FileResponse, Response

from .. import HARPER_API_LEVEL, __version__
from ..protocol.clock import now_ms
from ..protocol.deployment import is_terminal
from .body import MultipartUpload
from .context import ServerContext
from .errors import EngineError
from .harper_wire import row_view, sse_headers
from .releases import validate_project
from .store import strip_row
from .stream import deployment_events

SSE_OPERATIONS = frozenset({"deploy_component", "get_deployment"})
# These check their own credentials (a password, or a refresh token).
NO_AUTH_OPERATIONS = frozenset({"create_authentication_tokens", "refresh_operation_token"})


class OperationError(Exception):
    """A refused operation: Harper's ``{"error": message}`` (or a structured ``body``) with a status."""

    def __init__(self, message: str, status_code: int = 400, body: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.body = body if body is not None else {"error": message}


@dataclass
class OperationCall:
    """One authenticated operation request."""

    operation: str
    fields: dict[str, Any]
    user: str | None
    wants_sse: bool
    last_event_id: str | None
    authorization: str | None
    upload: MultipartUpload | None = None


Handler = Callable[[ServerContext, OperationCall], Awaitable[Any]]


def sse_response(events: AsyncIterator[Any], *, wire: str, deployment_id: str | None = None) -> EventSourceResponse:
    """An SSE response as Harper sends it: LF line ends, no sse-starlette pings (we send our own).

    On our wire a deploy's stream names its deployment in ``X-Deployment-Id``, so a client whose
    connection drops can resume it through ``get_deployment``; Harper sends no such header, and no
    charset in the content type (server/harper_wire.py).
    """
    headers = sse_headers(wire)
    if deployment_id and wire == "deploytui":
        headers["X-Deployment-Id"] = deployment_id
    return EventSourceResponse(events, ping=0, sep="\n", headers=headers)


def _required_id(call: OperationCall) -> str:
    deployment_id = call.fields.get("deployment_id")
    if not isinstance(deployment_id, str) or not deployment_id:
        raise OperationError("'deployment_id' is required")
    return deployment_id


async def _row_or_error(ctx: ServerContext, deployment_id: str, status_code: int) -> dict[str, Any]:
    row = await ctx.store.get_row(deployment_id)
    if row is None:
        raise OperationError(f"No deployment found with id '{deployment_id}'", status_code)
    return row


# Numbers are stored in SQLite's 64-bit integers (and timeouts become seconds): anything at or past
# 2**63 is no meaningful count, time or seq.
INT64_LIMIT = 2**63


def int_field(fields: dict[str, Any], name: str, *, minimum: int | None = None) -> int | None:
    """The one reader of numeric request fields: None when absent, else a whole number.

    Absent means missing, ``null`` or ``""`` (an empty multipart field). A value that is not a
    JSON number (a string, a bool), not finite (``1e999``, NaN) or outside ±2**63 is refused with
    400; a fraction is cut to its whole part, as before. Below ``minimum`` counts as ``minimum``
    (Harper's paging rule: a negative limit or offset counts as 0).
    """
    value = fields.get(name)
    if value is None or value == "":
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise OperationError(f"'{name}' must be a number, not {_json_kind(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise OperationError(f"'{name}' must be a finite number")
    if not -INT64_LIMIT < value < INT64_LIMIT:
        raise OperationError(f"'{name}' is out of range: use a number between -2^63 and 2^63")
    number = int(value)
    return number if minimum is None else max(number, minimum)


def _json_kind(value: Any) -> str:
    kinds = {bool: "a boolean", str: "a string", list: "a list", dict: "an object"}
    return next((kind for cls, kind in kinds.items() if isinstance(value, cls)), "that value")


def project_field(fields: dict[str, Any], *, required: bool) -> str | None:
    """The request's ``project``, checked by the one project-name rule (400 when it breaks it)."""
    project = fields.get("project")
    if project is None or project == "":
        if required:
            raise OperationError("'project' is required")
        return None
    try:
        return validate_project(project)
    except EngineError as exc:
        raise OperationError(exc.message) from None


# ---- listing and reading ---------------------------------------------------------------------


CHANGE_MARGIN_MS = 10_000
"""How far back a ``cursor`` reaches: rows changed this recently are sent again (well above the
writer's commit delay, even under load)."""


async def list_deployments(ctx: ServerContext, call: OperationCall) -> dict[str, Any]:
    f = call.fields
    if f.get("status") is not None and not isinstance(f["status"], str):
        raise OperationError("'status' must be a string")
    # Our additions (Harper ignores unknown fields): ``search``, a substring filter; ``summary``,
    # rows without their event_log (a polling list does not need it); ``changed_since``, only the
    # rows that may have changed since a previous answer's ``cursor`` (which those requests get).
    if f.get("search") is not None and not isinstance(f["search"], str):
        raise OperationError("'search' must be a string")
    if f.get("summary") is not None and not isinstance(f["summary"], bool):
        raise OperationError("'summary' must be true or false")
    changed_since = int_field(f, "changed_since")
    # Taken before the query, and early by CHANGE_MARGIN_MS: a row's completed_at is stamped a
    # moment before its commit becomes visible, so a poll that just missed the commit still sees
    # the row next time.
    cursor = now_ms() - CHANGE_MARGIN_MS
    rows, total = await ctx.store.list_rows(
        project=project_field(f, required=False),
        status=f.get("status"),
        since=int_field(f, "since"),
        until=int_field(f, "until"),
        limit=int_field(f, "limit", minimum=0),
        offset=int_field(f, "offset", minimum=0) or 0,
        search=f.get("search") or None,
        summary=bool(f.get("summary")),
        changed_since=changed_since,
    )
    wire = ctx.config.wire
    answer: dict[str, Any] = {"deployments": [row_view(strip_row(row), wire) for row in rows], "total": total}
    if changed_since is not None or f.get("summary"):
        answer["cursor"] = cursor
    return answer


async def get_deployment(ctx: ServerContext, call: OperationCall) -> dict[str, Any] | Response:
    deployment_id = _required_id(call)
    row = await _row_or_error(ctx, deployment_id, 400)
    if not call.wants_sse:
        return row_view(strip_row(row), ctx.config.wire)
    return sse_response(
        deployment_events(
            ctx.store,
            ctx.hub,
            deployment_id,
            wire=ctx.config.wire,
            last_event_id=call.last_event_id,
            keepalive_seconds=ctx.config.keepalive_seconds,
        ),
        wire=ctx.config.wire,
    )


async def get_deployment_events(ctx: ServerContext, call: OperationCall) -> dict[str, Any]:
    """Our addition: page through the full event history (the events table, not the bounded log)."""
    deployment_id = _required_id(call)
    after_seq = int_field(call.fields, "after_seq", minimum=0) or 0
    limit = min(int_field(call.fields, "limit", minimum=1) or 1000, 10_000)
    await _row_or_error(ctx, deployment_id, 404)  # after the request's own checks: those are 400s
    events = await ctx.store.events(deployment_id, after_seq=after_seq, limit=limit + 1)
    has_more = len(events) > limit
    events = events[:limit]
    next_after = events[-1]["seq"] if events else after_seq
    return {"deployment_id": deployment_id, "events": events, "next_after_seq": next_after, "has_more": has_more}


async def get_deployment_payload(ctx: ServerContext, call: OperationCall) -> Response:
    deployment_id = _required_id(call)
    row = await _row_or_error(ctx, deployment_id, 404)
    path = row.get("payload_path")
    if not path or not os.path.exists(path):
        raise OperationError(
            f"No payload is stored for deployment '{deployment_id}' (it may have been reclaimed by "
            "payload retention or delete_deployment_payload)",
            404,
        )
    return FileResponse(
        path,
        media_type="application/octet-stream",
        headers={"content-disposition": f'attachment; filename="deployment-{deployment_id}.tar.gz"'},
    )


async def delete_deployment_payload(ctx: ServerContext, call: OperationCall) -> dict[str, Any]:
    deployment_id = _required_id(call)
    row = await _row_or_error(ctx, deployment_id, 404)
    if not is_terminal(row.get("status")):
        raise OperationError(
            f"Deployment '{deployment_id}' is not in a terminal state (status '{row.get('status')}'); "
            "its payload may still be in use. Wait for it to finish and try again.",
            409,
        )
    path = row.get("payload_path")
    if not path:
        return {
            "message": f"No payload stored for deployment '{deployment_id}'",
            "deployment_id": deployment_id,
            "freed_bytes": 0,
        }
    size = row.get("payload_size") or 0
    await ctx.hub.append_event(
        deployment_id, "payload_dropped", {"payload_size": size, "deleted_by": call.user}, fields={"payload_path": None}
    )
    Path(path).unlink(missing_ok=True)
    return {
        "message": f"Deleted payload for deployment '{deployment_id}'",
        "deployment_id": deployment_id,
        "freed_bytes": size,
    }


async def registration_info(ctx: ServerContext, call: OperationCall) -> dict[str, Any]:
    return {
        "registered": True,
        "version": HARPER_API_LEVEL,
        "product": "deploytui",
        "deploytui_version": __version__,
        "wire": ctx.config.wire,
        # Two-phase deploys (stage, activate by id) and install fingerprints: our wire only; the
        # harper wire is Harper 5.1.14, which has neither.
        "two_phase": ctx.config.wire == "deploytui",
    }


async def create_authentication_tokens(ctx: ServerContext, call: OperationCall) -> dict[str, Any]:
    user = call.fields.get("username")
    password = call.fields.get("password")
    if not isinstance(user, str) or not isinstance(password, str):
        raise OperationError("'username' and 'password' are required")
    return ctx.auth.create_tokens(user, password)


async def refresh_operation_token(ctx: ServerContext, call: OperationCall) -> dict[str, Any]:
    return ctx.auth.refresh(call.authorization)


async def revert_component(ctx: ServerContext, call: OperationCall) -> dict[str, Any]:
    project = project_field(call.fields, required=True)
    assert project is not None
    restart = call.fields.get("restart")
    if restart not in (None, True, False, "true", "false"):  # "false" must not mean restart
        raise OperationError("'restart' must be true or false")
    return await ctx.engine.revert(project=project, user=call.user, restart=restart in (True, "true"))


async def cancel_deployment(ctx: ServerContext, call: OperationCall) -> dict[str, Any]:
    """Our addition: stop a running deploy; it ends ``failed`` "cancelled by <user>" with Harper's
    ``error`` event. 404 for an unknown id, 409 for a deploy that has already ended (or a revert)."""
    deployment_id = _required_id(call)
    row = await _row_or_error(ctx, deployment_id, 404)
    if not is_terminal(row.get("status")) and await ctx.engine.cancel(deployment_id, user=call.user):
        return {"message": f"Cancelled deployment '{deployment_id}'", "deployment_id": deployment_id}
    row = await _row_or_error(ctx, deployment_id, 404)
    status = row.get("status")
    what = f"has already ended ({status})" if is_terminal(status) else "is not a deploy that can be cancelled"
    raise OperationError(f"Deployment '{deployment_id}' {what}", 409)


async def redeploy_deployment(ctx: ServerContext, call: OperationCall) -> dict[str, Any]:
    """Our addition: deploy an earlier deployment's stored payload again, as a new deployment of
    its project (the same install command). Answers once the new deploy has begun; 404 for an
    unknown id, 409 when its payload is no longer stored or the project is busy."""
    deployment_id = _required_id(call)
    row = await _row_or_error(ctx, deployment_id, 404)
    path = row.get("payload_path")
    if not row.get("payload_hash") or not path or not os.path.isfile(path):
        raise OperationError(f"Deployment '{deployment_id}' has no stored payload to deploy again "
                             "(payload retention or delete_deployment_payload removed it)", 409)
    restart = call.fields.get("restart")
    if restart not in (None, True, False):
        raise OperationError("'restart' must be true or false")
    deployment = await ctx.engine.begin(
        project=str(row.get("project")), user=call.user, package_identifier=row.get("package_identifier"),
        restart=bool(restart), install_command=row.get("_install_command"), redeploy_of=deployment_id)
    await ctx.engine.start(deployment, _file_chunks(Path(path)), ctx.start_task)
    return {"message": f"Redeploying {row.get('project')} from deployment '{deployment_id}'",
            "deployment_id": deployment.deployment_id, "redeploy_of": deployment_id}


async def _file_chunks(path: Path, size: int = 1 << 20) -> AsyncIterator[bytes]:
    import asyncio

    with open(path, "rb") as handle:  # noqa: ASYNC230 - read in a thread below
        while chunk := await asyncio.to_thread(handle.read, size):
            yield chunk


HANDLERS: dict[str, Handler] = {
    "list_deployments": list_deployments,
    "get_deployment": get_deployment,
    "get_deployment_events": get_deployment_events,
    "get_deployment_payload": get_deployment_payload,
    "delete_deployment_payload": delete_deployment_payload,
    "registration_info": registration_info,
    "create_authentication_tokens": create_authentication_tokens,
    "refresh_operation_token": refresh_operation_token,
    "revert_component": revert_component,
    "cancel_deployment": cancel_deployment,
    "redeploy_deployment": redeploy_deployment,
}
