"""``deploytui watch --raw`` follows the SSE spec's reconnection rules itself.

Against a scripted loopback server (real sockets, see tests/client/sse_server.py) that drops the
connection mid-stream: raw reconnects after the server's ``retry:`` delay with ``Last-Event-ID``, keeps
the last event ID sticky across the reconnect, stops at ``done``; a 204 ends it.
"""

from __future__ import annotations

import asyncio
import json

from tests.client.sse_server import Reply, ScriptedServer
from tests.e2e.cli_support import PY, cli_env

# A whole id: watch resolves anything shorter as a prefix through list_deployments first, which this
# scripted server (it answers get_deployment only) cannot answer.
DEPLOYMENT_ID = "3f2c8a10-5b7e-4c1d-9a2f-0e6b7d8c9a01"
ROW = {"deployment_id": DEPLOYMENT_ID, "status": "success"}


async def run_raw(url: str) -> tuple[int, list[dict], str]:
    env = cli_env(None, DEPLOYTUI_URL=url, DEPLOYTUI_USER="u", DEPLOYTUI_PASSWORD="p")
    proc = await asyncio.create_subprocess_exec(
        PY, "-m", "deploytui", "watch", DEPLOYMENT_ID, "--raw", env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 40)
    lines = [json.loads(line) for line in out.decode().splitlines()]
    return proc.returncode or 0, lines, err.decode()


async def test_raw_reconnects_with_last_event_id_after_a_drop() -> None:
    first = Reply(chunks=[b": stream open\n\nretry: 10\n\n",
                          b'id: 1\nevent: phase\ndata: {"phase":"prepare","status":"start"}\n\n',
                          b'id: 2\nevent: install\ndata: {"line":"a\\u001b[31m"}\n\n',
                          b"event: install\ndata: no id here\n\n"],
                  abort=True)
    second = Reply(chunks=[b'id: 3\nevent: phase\ndata: {"phase":"prepare","status":"done"}\n\n',
                           b"event: done\ndata: " + json.dumps({"result": ROW}).encode() + b"\n\n"])
    async with ScriptedServer([first, second]) as server:
        code, lines, err = await run_raw(server.url)
    assert code == 0, err
    assert [(line["event"], line["id"]) for line in lines] == [
        ("phase", "1"), ("install", "2"), ("install", "2"), ("phase", "3"), ("done", "3")]
    assert lines[1]["data"] == '{"line":"a\\u001b[31m"}'  # the string as received, not decoded
    assert lines[2]["data"] == "no id here"
    assert "last-event-id" not in server.requests[0].headers
    assert server.requests[1].headers["last-event-id"] == "2"
    assert "reconnecting (attempt 1, next in 0.0 s)" in err


async def test_raw_stops_on_204() -> None:
    first = Reply(chunks=[b"retry: 10\n\nid: 7\nevent: phase\ndata: {}\n\n"], abort=True)
    async with ScriptedServer([first, Reply(status=204, headers={})]) as server:
        code, lines, err = await run_raw(server.url)
    assert len(server.requests) == 2 and server.requests[1].headers["last-event-id"] == "7"
    assert [line["id"] for line in lines] == ["7"]
    assert code == 2 and "ended before the deployment finished" in err  # no outcome was seen


async def test_raw_empty_ids_send_no_last_event_id() -> None:
    """Harper's wire: no ids, so a reconnect sends no Last-Event-ID (a full replay comes back)."""
    first = Reply(chunks=[b"retry: 10\n\nevent: phase\ndata: {\"phase\":\"prepare\",\"status\":\"start\"}\n\n"], abort=True)
    second = Reply(chunks=[b"event: phase\ndata: {\"phase\":\"prepare\",\"status\":\"start\"}\n\n",
                           b"event: done\ndata: " + json.dumps({"result": ROW}).encode() + b"\n\n"])
    async with ScriptedServer([first, second]) as server:
        code, lines, err = await run_raw(server.url)
    assert code == 0, err
    assert all(line["id"] == "" for line in lines) and len(lines) == 3
    assert "last-event-id" not in server.requests[1].headers
