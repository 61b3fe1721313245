"""The embedded server's HTTP surface: ``GET /health``, Harper's ``POST /`` Operations API, and
``GET``/``HEAD`` of any other path: the deployed components' static files (server/static_files.py).

``POST /`` is a raw ASGI endpoint rather than a Starlette request handler because it must read the
body itself: a refused multipart deploy is answered while the client is still uploading, then the
rest of the body is drained so the connection stays usable (contract §2.1.3, §7.6).

Credentials are checked from the headers before a byte of the body is read. Without valid ones only
a small body is read at all (:data:`UNAUTHENTICATED_BODY_BYTES`: enough for
``create_authentication_tokens``); anything larger is answered 401 at once and the connection closed.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

from sse_starlette import ServerSentEvent
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import Receive, Scope, Send

from ..protocol.local import PID_HEADER
from .auth import AuthFailed
from .body import (
    BodyError,
    JsonBody,
    MultipartUpload,
    RequestBody,
    multipart_boundary,
)
from .context import ServerContext
from .deploy_op import deploy_component
from .errors import hide_paths
from .harper_wire import sse_headers
from .lifecycle import ActivityMiddleware
from .lifecycle_ops import HANDLERS as LIFECYCLE_HANDLERS
from .operations import (
    HANDLERS,
    NO_AUTH_OPERATIONS,
    SSE_OPERATIONS,
    OperationCall,
    OperationError,
)
from .static_files import StaticEndpoint

log = logging.getLogger("deploytui.server")

# The most of a body read before its sender is known: a create_authentication_tokens request.
UNAUTHENTICATED_BODY_BYTES = 64 * 1024
ALL_HANDLERS = {**HANDLERS, **LIFECYCLE_HANDLERS,
                "deploy_component": deploy_component, "deploy_custom_function_project": deploy_component}


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
        config = self.ctx.config
        user, refused = self._identify(headers.get("authorization"))
        body = RequestBody(receive, config.max_body_bytes if user else UNAUTHENTICATED_BODY_BYTES)
        json_body = JsonBody(config.max_json_bytes, config.payloads_dir)
        wants_sse = "text/event-stream" in headers.get("accept", "").lower()
        sse_branch = False
        started = False

        async def tracking_send(message: Any) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            length = headers.get("content-length")
            declared = int(length) if length and length.isdigit() else 0
            if refused is not None and declared > UNAUTHENTICATED_BODY_BYTES:
                raise refused  # no credentials: not one byte of a large body is read
            if declared > config.max_body_bytes:
                raise BodyError(f"Request body exceeds the limit of {config.max_body_bytes} bytes", 413)
            call = await self._read_call(headers, body, json_body, wants_sse, user, refused)
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
            # The rest of a refused-for-size or anonymous body is not read: the connection closes.
            close = not body.complete and (user is None or parts[0] == 413)
            await self._send_error(scope, receive, send, *parts, sse=sse_branch, close=close)
            if not close:
                await body.drain()
        finally:
            json_body.discard()

    def _identify(self, authorization: str | None) -> tuple[str | None, AuthFailed | None]:
        """The user the headers authenticate, or why they do not (kept until the operation is known)."""
        try:
            return self.ctx.auth.authenticate(authorization), None
        except AuthFailed as exc:
            return None, exc

    async def _read_call(
        self,
        headers: Headers,
        body: RequestBody,
        json_body: JsonBody,
        wants_sse: bool,
        user: str | None,
        refused: AuthFailed | None,
    ) -> OperationCall:
        upload = None
        boundary = multipart_boundary(headers.get("content-type", ""))
        try:
            if boundary:
                upload = MultipartUpload(body, boundary, self.ctx.config.max_json_bytes)
                fields = await upload.read_fields()
            else:
                async for chunk in body.chunks():
                    json_body.feed(chunk)
                fields = json_body.result()
        except BodyError as exc:
            if refused is not None and exc.status_code == 413:
                raise refused from None  # an anonymous body too large to be a token request
            raise
        operation = fields.get("operation")
        if not isinstance(operation, str) or not operation:
            raise OperationError("Request body must include an 'operation' property.")
        if operation not in NO_AUTH_OPERATIONS and refused is not None:
            raise refused
        if operation not in ALL_HANDLERS:
            raise OperationError(f"Operation '{operation}' not found")
        return OperationCall(
            operation=operation,
            fields=fields,
            user=user,
            wants_sse=wants_sse and operation in SSE_OPERATIONS,
            last_event_id=headers.get("last-event-id"),
            authorization=headers.get("authorization"),
            upload=upload,
        )

    async def _send_error(
        self, scope: Scope, receive: Receive, send: Send, status: int, payload: dict[str, Any], *, sse: bool,
        close: bool,
    ) -> None:
        if not sse:
            extra = {"connection": "close"} if close else None
            await JSONResponse(payload, status_code=status, headers=extra)(scope, receive, send)
            return
        # In the SSE branch Harper answers 200 and reports the failure in-band (contract §1.4).
        message = payload.get("error", "error")
        data = json.dumps({"message": message, "code": status}, separators=(",", ":"))
        chunk = b": stream open\n\n" + ServerSentEvent(data=data, event="error", sep="\n").encode()
        await send({"type": "http.response.start", "status": 200, "headers": [
            *((k.lower().encode(), v.encode()) for k, v in sse_headers(self.ctx.config.wire).items()),
            *([(b"connection", b"close")] if close else []),
        ]})
        await send({"type": "http.response.body", "body": chunk, "more_body": False})


async def health(request: Request) -> Response:
    # The pid tells a local client this is the server its data dir's server.json names.
    return PlainTextResponse("Harper is running.", headers={PID_HEADER: str(os.getpid())})


def create_app(ctx: ServerContext) -> Starlette:
    """The Starlette application serving one :class:`ServerContext`."""
    endpoint = OperationsEndpoint(ctx)
    static = StaticEndpoint(ctx.config.components_dir)  # public, as Harper's: no credentials asked
    app = Starlette(routes=[Route("/health", health, methods=["GET"]), Route("/", endpoint, methods=["POST"]),
                            Route("/{path:path}", static, methods=["GET", "HEAD"])],
                    middleware=[Middleware(ActivityMiddleware, activity=ctx.life.activity)])
    app.state.ctx = ctx
    return app
