"""OperationsClient against a small Harper-like Starlette app on loopback uvicorn: typed errors and
their messages, the server version, payload download, multipart upload order and progress."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import socket
from collections.abc import AsyncIterator
from typing import Any

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route

from deploytui.client.api import ConnectionSettings, OperationsClient, normalize_url
from deploytui.client.errors import (
    AuthError,
    BadRequestError,
    ConflictError,
    ConnectionFailed,
    DeploytuiError,
    ForbiddenError,
    NotFoundError,
    NotSupported,
    ProtocolError,
    ServerError,
    error_from_response,
)

ADMIN = "Basic " + base64.b64encode(b"admin:secret").decode()
VIEWER = "Basic " + base64.b64encode(b"viewer:pw").decode()
TOKEN = "Bearer tok-123"
DEPLOY_FAILURE = {
    "error": "npm install exited with code 1",
    "phase": "prepare",
    "install_output": {"lines": [{"manager": "npm", "stream": "stderr", "line": "E404"}], "truncated": False, "dropped_lines": 0},
    "deployment_id": "0f0e0d0c-0000-4000-8000-000000000001",
}


class HarperLike:
    """The app's state: which version it claims, and what it received."""

    def __init__(self) -> None:
        self.version = "5.1.0"
        self.multipart: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []

    async def operations(self, request: Request) -> Response:
        self.headers.append(dict(request.headers))
        auth = request.headers.get("authorization")
        if auth not in (ADMIN, VIEWER, TOKEN):
            return JSONResponse({"error": "Login failed"}, 401)
        ctype = request.headers.get("content-type", "")
        if ctype.startswith("multipart/form-data"):
            return await self.deploy_multipart(request, ctype)
        body = await request.json()
        op, did = body.get("operation"), body.get("deployment_id")
        if op == "get_deployment_payload" and auth == VIEWER:
            return JSONResponse({"error": f"Operation '{op}' is restricted to super_user roles"}, 403)
        if op == "registration_info":
            return JSONResponse({"registered": True, "version": self.version})
        if op == "get_deployment":
            if "text/event-stream" in request.headers.get("accept", ""):
                resume = request.headers.get("last-event-id", "")
                chunks = [b": stream open\n\n", f"id: {resume}1\ndata: {{}}\n\n".encode()]
                return StreamingResponse(iter(chunks), media_type="text/event-stream")
            if did == "missing":
                return JSONResponse({"error": f"No deployment found with id '{did}'"}, 400)
            return JSONResponse({"deployment_id": did, "status": "success"})
        if op == "get_deployment_payload":
            if did == "missing":
                return JSONResponse({"error": f"No deployment found with id '{did}'"}, 404)
            return Response(b"\x1f\x8bTAR", media_type="application/octet-stream",
                            headers={"content-disposition": f'attachment; filename="deployment-{did}.tar.gz"'})
        if op == "delete_deployment_payload":
            return JSONResponse({"error": f"Deployment '{did}' is not in a terminal state (status 'installing')"}, 409)
        if op == "list_deployments":
            if body.get("status") == "bogus":
                return JSONResponse({"error": "Invalid request"}, 400)
            return JSONResponse({"deployments": [], "total": 0, "echo": body})
        if op == "deploy_component":
            if body.get("project") == "broken":
                return JSONResponse(DEPLOY_FAILURE, 500)
            return JSONResponse({"message": f"Successfully deployed: {body['project']}", "echo": body})
        if op == "revert_component":
            return PlainTextResponse("<html>proxy error</html>", 502)
        if op == "garbled":
            return Response(b"{not json", media_type="application/json")
        return JSONResponse({"error": f"Operation '{op}' not found"}, 400)

    async def deploy_multipart(self, request: Request, ctype: str) -> Response:
        boundary = ctype.split("boundary=", 1)[1].encode()
        raw = await request.body()
        parts = []
        for chunk in raw.split(b"--" + boundary)[1:]:
            if chunk.startswith(b"--"):
                break
            head, _, content = chunk[2:].partition(b"\r\n\r\n")
            parts.append({"head": head.decode(), "content": content[:-2]})
        self.multipart.append({"parts": parts, "chunked": request.headers.get("transfer-encoding") == "chunked"})
        if "text/event-stream" in request.headers.get("accept", ""):
            async def events() -> AsyncIterator[bytes]:
                yield b": stream open\n\n"
                yield b'event: phase\ndata: {"phase":"prepare","status":"start"}\n\n'
                yield b'event: done\ndata: {"result":{"message":"ok"}}\n\n'
            return StreamingResponse(events(), media_type="text/event-stream")
        return JSONResponse({"message": "Successfully deployed: app", "parts": len(parts)})


async def health(request: Request) -> Response:
    return PlainTextResponse("Harper is running.")


@pytest.fixture
async def harper() -> AsyncIterator[tuple[str, HarperLike]]:
    state = HarperLike()
    app = Starlette(routes=[Route("/", state.operations, methods=["POST"]), Route("/health", health)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)  # listening before serve() starts: the first request simply waits in the backlog
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}", state
    finally:
        server.should_exit = True
        await task
        sock.close()


def client(url: str, **kw: Any) -> OperationsClient:
    kw.setdefault("user", "admin")
    kw.setdefault("password", "secret")
    return OperationsClient(ConnectionSettings(url, **kw))


async def test_wrong_password_is_auth_error_naming_the_user(harper) -> None:
    url, _ = harper
    async with client(url, password="wrong") as api:
        with pytest.raises(AuthError) as failure:
            await api.list_deployments()
    assert failure.value.message == "the server refused the credentials for admin: Login failed"
    assert failure.value.status_code == 401


async def test_bearer_token_is_sent(harper) -> None:
    url, state = harper
    async with OperationsClient(ConnectionSettings(url, token="tok-123")) as api:
        assert (await api.list_deployments())["total"] == 0
    assert state.headers[-1]["authorization"] == TOKEN


async def test_forbidden(harper) -> None:
    url, _ = harper
    async with client(url, user="viewer", password="pw") as api:
        with pytest.raises(ForbiddenError) as failure:
            await api.get_deployment_payload("d1")
    assert "may not run get_deployment_payload" in failure.value.message
    assert "restricted to super_user roles" in failure.value.message


@pytest.mark.parametrize("method", ["get_deployment", "get_deployment_payload"])
async def test_not_found_from_400_and_404(harper, method: str) -> None:
    url, _ = harper
    async with client(url) as api:
        with pytest.raises(NotFoundError) as failure:
            await getattr(api, method)("missing")
    assert failure.value.message == "No deployment found with id 'missing'"


async def test_conflict_and_bad_request(harper) -> None:
    url, _ = harper
    async with client(url) as api:
        with pytest.raises(ConflictError, match="not in a terminal state"):
            await api.delete_deployment_payload("d1")
        with pytest.raises(BadRequestError) as failure:
            await api.list_deployments(status="bogus")
    assert failure.value.message == "Invalid request" and failure.value.status_code == 400


async def test_structured_deploy_failure_is_kept(harper) -> None:
    url, _ = harper
    async with client(url) as api:
        with pytest.raises(ServerError) as failure:
            await api.call("deploy_component", project="broken", payload="H4s=")
    error = failure.value
    assert error.message == "server error (HTTP 500): npm install exited with code 1"
    assert error.details == DEPLOY_FAILURE
    assert error.phase == "prepare"
    assert error.deployment_id == DEPLOY_FAILURE["deployment_id"]


async def test_non_json_5xx_and_garbled_json(harper) -> None:
    url, _ = harper
    async with client(url) as api:
        with pytest.raises(ServerError, match=r"HTTP 502.*proxy error"):
            await api.revert_component("app")
        with pytest.raises(ProtocolError, match="not JSON"):
            await api.call("garbled")


async def test_unknown_operation_is_not_supported(harper) -> None:
    url, _ = harper
    async with client(url) as api:
        with pytest.raises(NotSupported) as failure:
            await api.get_deployment_events("d1", after_seq=3)
    assert failure.value.message == "this server does not support get_deployment_events"


@pytest.mark.parametrize("version", ["5.1.0", "5.1.0-beta.3", "6.0.1"])
async def test_server_version_is_registration_infos(harper, version: str) -> None:
    url, state = harper
    state.version = version
    async with client(url) as api:
        assert await api.server_version() == version


def test_normalize_url() -> None:
    assert normalize_url("harper.example.com") == "https://harper.example.com:9925/"
    assert normalize_url("harper.example.com:9926") == "https://harper.example.com:9926/"
    assert normalize_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080/"


async def test_health_payload_and_json_deploy(harper) -> None:
    url, _ = harper
    async with client(url) as api:
        assert await api.health() is True
        payload = await api.get_deployment_payload("d1")
        assert payload == (b"\x1f\x8bTAR", "deployment-d1.tar.gz")
        result = await api.call("deploy_component", project="app", payload="H4s=", restart=True, install_command=None)
    assert result["echo"] == {"operation": "deploy_component", "project": "app", "payload": "H4s=", "restart": True}


async def test_unreachable_server_is_connection_failed(harper) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    async with client(f"http://127.0.0.1:{port}") as api:
        with pytest.raises(ConnectionFailed, match="refused"):
            await api.list_deployments()
        with pytest.raises(ConnectionFailed):
            await api.health()


@pytest.mark.parametrize("kind", ["bytes", "file", "iterator"])
async def test_multipart_parts_in_order_payload_last_with_progress(harper, kind: str) -> None:
    url, state = harper
    tarball = bytes(range(256)) * 1000  # 256 KB: several upload chunks
    source: Any = {"bytes": tarball, "file": io.BytesIO(tarball), "iterator": iter([tarball[:100_000], tarball[100_000:]])}[kind]
    progress: list[tuple[int, int | None]] = []
    fields = {"project": "app", "restart": False, "install_timeout": 1000, "credentials": [{"registry": "r", "token": "t"}]}
    async with client(url) as api:
        result = await api.deploy_component_multipart(fields, source, on_progress=lambda s, t: progress.append((s, t)))
    assert result["parts"] == 6
    (upload,) = state.multipart
    assert upload["chunked"]
    heads = [p["head"] for p in upload["parts"]]
    names = [h.split('name="')[1].split('"')[0] for h in heads]
    assert names == ["operation", "project", "restart", "install_timeout", "credentials", "payload"]
    contents = [p["content"] for p in upload["parts"]]
    assert contents[:5] == [b"deploy_component", b"app", b"false", b"1000", b'[{"registry":"r","token":"t"}]']
    assert 'filename="package.tar.gz"' in heads[-1] and "Content-Type: application/gzip" in heads[-1]
    assert contents[-1] == tarball
    total = None if kind == "iterator" else len(tarball)
    assert progress[0] == (0, total) and progress[-1] == (len(tarball), total)
    assert [s for s, _ in progress] == sorted(s for s, _ in progress)


async def test_multipart_streamed_deploy_yields_events(harper) -> None:
    url, state = harper
    progress: list[tuple[int, int | None]] = []
    async with client(url) as api:
        stream_cm = await api.deploy_component_multipart({"project": "app"}, b"tar", stream=True,
                                                         on_progress=lambda s, t: progress.append((s, t)))
        async with stream_cm as events:
            received = [(m.event, json.loads(m.data)) async for m in events]
    assert received == [("phase", {"phase": "prepare", "status": "start"}), ("done", {"result": {"message": "ok"}})]
    assert progress[-1] == (3, 3)
    assert state.headers[-1]["accept"] == "text/event-stream"


async def test_payload_field_name_is_reserved(harper) -> None:
    url, _ = harper
    async with client(url) as api:
        with pytest.raises(DeploytuiError, match="invalid multipart field"):
            await api.deploy_component_multipart({"payload": "x"}, b"tar")


async def test_stream_events_sends_auth_and_last_event_id(harper) -> None:
    url, state = harper
    async with client(url) as api:
        async with api.stream_events({"operation": "get_deployment", "deployment_id": "d1"}, last_event_id="7") as events:
            (message,) = [m async for m in events]
    assert message.id == "71"
    assert state.headers[-1]["last-event-id"] == "7"
    assert state.headers[-1]["authorization"] == ADMIN


@pytest.mark.parametrize(
    ("status", "body", "ctype", "kind", "message"),
    [
        (401, b'{"error":"Login failed"}', "application/json", AuthError, "the server refused the credentials: Login failed"),
        (401, b"", None, AuthError, "the server refused the credentials"),
        (404, b"", None, NotFoundError, "not found (HTTP 404)"),
        (400, b'{"error":"No deployment found with id \'x\'"}', "application/json", NotFoundError,
         "No deployment found with id 'x'"),
        (413, b'{"error":"Request body exceeds the limit"}', "application/json", BadRequestError,
         "Request body exceeds the limit"),
        (500, b"Internal\nServer  Error", "text/plain", ServerError, "server error (HTTP 500): Internal Server Error"),
        (503, b"", None, ServerError, "server error (HTTP 503)"),
        (302, b"", None, ProtocolError, "unexpected HTTP status 302"),
    ],
)
def test_error_from_response(status: int, body: bytes, ctype: str | None, kind: type, message: str) -> None:
    error = error_from_response(status, body, ctype)
    assert type(error) is kind
    assert error.message == message and str(error) == message
    assert error.status_code == status
