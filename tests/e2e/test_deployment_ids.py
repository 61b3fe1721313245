"""How the headless commands find a deployment from what a person types (commands.common):
a prefix resolved across pages of ``list_deployments``, a server that ignores ``offset``, and a
server that cannot list at all."""

from __future__ import annotations

import json

import pytest

from deploytui.client.api import ConnectionSettings, OperationsClient
from deploytui.commands import common
from deploytui.commands.common import CommandError, pick_deployment, resolve_deployment_id
from tests.client.sse_server import Reply, ScriptedServer
from tests.e2e.cli_support import deploy

JSON = {"Content-Type": "application/json"}


def client_for(url: str, user: str = "u", password: str = "p") -> OperationsClient:
    return OperationsClient(ConnectionSettings(url, user=user, password=password))


async def test_a_prefix_is_found_on_a_later_page(server, monkeypatch: pytest.MonkeyPatch) -> None:
    ids = []
    for i in range(5):
        status, body = deploy(server, f"p{i}", files={"index.js": "export {}\n"})
        assert status == 200, body
        ids.append(body["deployment_id"])
    monkeypatch.setattr(common, "_PAGE", 2)  # five rows: three pages, the oldest on the last
    oldest = ids[0]
    unique = next(oldest[:n] for n in range(1, 37) if sum(i.startswith(oldest[:n]) for i in ids) == 1)
    async with client_for(server.url, server.user, server.password) as client:
        assert await resolve_deployment_id(client, unique) == oldest
        assert await resolve_deployment_id(client, oldest) == oldest
        row, running = await pick_deployment(client)
    assert (row["deployment_id"], running) == (ids[-1], False)  # nothing runs: the newest


async def test_a_server_that_ignores_offset_is_walked_once() -> None:
    rows = [{"deployment_id": f"aa{i:04d}", "status": "success"} for i in range(common._PAGE)]
    page = Reply(headers=JSON, chunks=[json.dumps({"deployments": rows, "total": 10 * len(rows)}).encode()])
    async with ScriptedServer([page]) as scripted, client_for(scripted.url) as client:
        with pytest.raises(CommandError, match="ambiguous: matches aa0000, aa0001, aa0002, aa0003, aa0004 and"):
            await resolve_deployment_id(client, "aa")
    assert len(scripted.requests) == 2  # the second answer held nothing new: the walk ended


async def test_a_server_that_cannot_list() -> None:
    refusal = Reply(status=400, headers=JSON, chunks=[b'{"error": "Operation \'list_deployments\' not found"}'])
    async with ScriptedServer([refusal]) as scripted, client_for(scripted.url) as client:
        assert await resolve_deployment_id(client, "d1") == "d1"  # used as given
        with pytest.raises(CommandError, match="cannot list deployments"):
            await pick_deployment(client)
