"""A server that sends garbage in its event stream: `deploytui watch` shows what it can, drops what
it cannot parse, never lets a control sequence through, and never crashes."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import AsyncIterator

import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

HOSTILE_LINE = "\x1b]0;pwned\x07\x1b[2J\x1b[31mreal\x1b[0m [bold]line[/]"
EVENTS = [
    ("phase", {"phase": "prepare", "status": "start"}),
    ("install", {"manager": "npm", "stream": "stderr", "line": HOSTILE_LINE}),
    ("phase", {"phase": "prepare", "status": "done"}),
    ("phase", {"phase": "success", "status": "done"}),
]
ROW = {
    "deployment_id": "d1", "project": "evil", "status": "success", "phase": "success",
    "started_at": 1_700_000_000_000, "completed_at": 1_700_000_001_000,
    "event_log": [{"t": 1_700_000_000_000 + i, "event": name, "data": data} for i, (name, data) in enumerate(EVENTS)],
}


def stream_body() -> bytes:
    def record(name: str, data: object) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n".encode()

    return b"".join([
        b": stream open\n\n",
        record(*EVENTS[0]),
        b"this line is garbage with no colon\n",
        b"event: install\ndata: {not json at all\n\n",
        record(*EVENTS[1]),
        b"\xff\xfe\x00 binary junk\n\n",
        b"event: mystery\ndata: {\"x\": 1}\n\n",
        record(*EVENTS[2]),
        record(*EVENTS[3]),
        record("done", {"result": ROW}),
    ])


async def operations(request: Request) -> Response:
    body = await request.json()
    if body.get("operation") == "registration_info":
        return JSONResponse({"version": "5.1.0"})
    if body.get("operation") == "get_deployment":
        if "text/event-stream" in request.headers.get("accept", ""):
            return Response(stream_body(), media_type="text/event-stream")
        return JSONResponse(ROW)
    return JSONResponse({"error": f"Operation '{body.get('operation')}' not found"}, status_code=400)


@pytest.fixture
async def hostile_url() -> AsyncIterator[str]:
    app = Starlette(routes=[Route("/", operations, methods=["POST"])])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(16)
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        await task
        sock.close()


async def watch(url: str, *args: str) -> tuple[int, str, str]:
    env = {**os.environ, "DEPLOYTUI_URL": url, "DEPLOYTUI_USER": "admin", "DEPLOYTUI_PASSWORD": "x"}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "deploytui", "watch", "d1", *args, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


async def test_watch_survives_garbage_and_shows_server_text_literally(hostile_url: str) -> None:
    code, out, err = await watch(hostile_url)
    assert code == 0, err
    assert "Traceback" not in err
    assert "real [bold]line[/]" in out  # markup shown as typed, colour dropped in a pipe
    assert "\x1b" not in out and "\x07" not in out and "pwned" not in out
    assert "prepare" in out


async def test_watch_json_lines_all_parse(hostile_url: str) -> None:
    code, out, err = await watch(hostile_url, "--json")
    assert code == 0, err
    events = [json.loads(line) for line in out.split("\n") if line]
    assert [e["event"] for e in events][-1] == "done"
    assert "\x1b" not in out  # JSON escapes it; the terminal never sees it raw
    installs = [e["data"] for e in events if e["event"] == "install"]
    assert {"manager": "npm", "stream": "stderr", "line": HOSTILE_LINE} in installs
    assert "{not json at all" in installs  # the garbage payload is kept as the string it was
