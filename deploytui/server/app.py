"""The embedded server's HTTP surface: ``GET /health`` and Harper's ``POST /`` Operations API.

``POST /`` is a raw ASGI endpoint rather than a Starlette request handler because it must read the
body itself: a refused multipart deploy is answered while the client is still uploading, then the
rest of the body is drained so the connection stays usable (contract §2.1.3, §7.6).
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from sse_starlette import ServerSentEvent
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from .auth import Authenticator, AuthFailed
from .body import (
    BodyError,
    MultipartUpload,
    RequestBody,
    decode_json_object,
    multipart_boundary,
)
from .config import ServerConfig
from .deploy_op import deploy_component
from .engine_support import hide_paths
from .operations import (
    HANDLERS,
    NO_AUTH_OPERATIONS,
    SSE_OPERATIONS,
    OperationCall,
    OperationError,
)

log = logging.getLogger("deploytui.server")

OFF_LOOP_BYTES = 1024 * 1024
ALL_HANDLERS = {**HANDLERS, "deploy_component": deploy_component, "deploy_custom_function_project": deploy_component}


@dataclass
class ServerContext:
    """What every operation handler may use; one per server."""

    config: ServerConfig
    store: Any
    hub: Any
    engine: Any
    auth: Authenticator
    tasks: set[asyncio.Task[Any]] = field(default_factory=set)

    def start_task(self, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run a deploy independently of the request that started it, keeping a reference."""
        task = asyncio.get_running_loop().create_task(coro)
        self.tasks.add(task)
        task.add_done_callback(self._task_done)
        return task

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            # Deploy failures are recorded by the engine; this only makes sure nothing is silent.
            log.debug("deploy task ended with %r", task.exception())


def _error_parts(exc: BaseException) -> tuple[int, dict[str, Any]] | None:
    """Map our typed errors (and the engine's, which carry ``status_code``) to Harper's answer."""
    if isinstance(exc, OperationError):
        return exc.status_code, exc.body
    if isinstance(exc, (BodyError, AuthFailed)):
        return exc.status_code, {"error": str(exc)}
    status = getattr(exc, "status_code", None)
    if isinstance(status, int):
        body = getattr(exc, "body", None)
        return status, body if isinstance(body, dict) else {"error": str(exc)}
    return None


class OperationsEndpoint:
    """ASGI app for ``POST /``: parse, authenticate, dispatch, answer (JSON or SSE)."""

    def __init__(self, ctx: ServerContext) -> None:
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers = Headers(scope=scope)
        body = RequestBody(receive, self.ctx.config.max_body_bytes)
        wants_sse = "text/event-stream" in headers.get("accept", "").lower()
        sse_branch = False
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            length = headers.get("content-length")
            if length and length.isdigit() and int(length) > self.ctx.config.max_body_bytes:
                raise BodyError(f"Request body exceeds the limit of {self.ctx.config.max_body_bytes} bytes", 413)
            call = await self._read_call(headers, body, wants_sse)
            sse_branch = call.wants_sse
            result = await ALL_HANDLERS[call.operation](self.ctx, call)
            response = result if isinstance(result, Response) else JSONResponse(result)
            await body.drain()
            await response(scope, receive, tracking_send)
        except Exception as exc:
            if started:
                log.exception("operation failed after its response started")
                return
            parts = _error_parts(exc)
            if parts is None:
                log.exception("operation failed")
                what = hide_paths(f"{type(exc).__name__}: {exc}", (self.ctx.config.data_dir,))
                parts = (500, {"error": f"internal error: {what}"})  # no absolute path of ours
            await self._send_error(scope, receive, send, *parts, sse=sse_branch)
            if parts[0] == 413:
                return  # do not read a body we already refused for its size; the connection closes
            await body.drain()

    async def _read_call(self, headers: Headers, body: RequestBody, wants_sse: bool) -> OperationCall:
        authorization = headers.get("authorization")
        upload = None
        boundary = multipart_boundary(headers.get("content-type", ""))
        if boundary:
            upload = MultipartUpload(body, boundary)
            fields = await upload.read_fields()
        else:
            raw = await body.read_all()
            # A base64 payload can make the body large: decode it off the event loop then.
            fields = await asyncio.to_thread(decode_json_object, raw) if len(raw) > OFF_LOOP_BYTES else decode_json_object(raw)
        operation = fields.get("operation")
        if not isinstance(operation, str) or not operation:
            raise OperationError("Request body must include an 'operation' property.")
        user = None
        if operation not in NO_AUTH_OPERATIONS:
            user = self.ctx.auth.authenticate(authorization)
        if operation not in ALL_HANDLERS:
            raise OperationError(f"Operation '{operation}' not found")
        return OperationCall(
            operation=operation,
            fields=fields,
            user=user,
            wants_sse=wants_sse and operation in SSE_OPERATIONS,
            last_event_id=headers.get("last-event-id"),
            authorization=authorization,
            upload=upload,
        )

    async def _send_error(
        self, scope: Scope, receive: Receive, send: Send, status: int, payload: dict[str, Any], *, sse: bool
    ) -> None:
        if not sse:
            extra = {"connection": "close"} if status == 413 else None
            await JSONResponse(payload, status_code=status, headers=extra)(scope, receive, send)
            return
        # In the SSE branch Harper answers 200 and reports the failure in-band (contract §1.4).
        message = payload.get("error", "error")
        data = json.dumps({"message": message, "code": status}, separators=(",", ":"))
        chunk = b": stream open\n\n" + ServerSentEvent(data=data, event="error", sep="\n").encode()
        await send({"type": "http.response.start", "status": 200, "headers": [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-cache"),
            (b"x-accel-buffering", b"no"),
        ]})
        await send({"type": "http.response.body", "body": chunk, "more_body": False})


async def health(request: Request) -> Response:
    return PlainTextResponse("Harper is running.")


def create_app(ctx: ServerContext) -> Starlette:
    """The Starlette application serving one :class:`ServerContext`."""
    endpoint = OperationsEndpoint(ctx)
    app = Starlette(routes=[Route("/health", health, methods=["GET"]), Route("/", endpoint, methods=["POST"])])
    app.state.ctx = ctx
    return app
