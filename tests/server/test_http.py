"""The server's HTTP surface: auth, transport errors, streaming, wire modes, crash recovery."""

from __future__ import annotations

import base64
import json
import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from deploytui.client.local import spawn_server
from deploytui.protocol.sse import decode_all
from deploytui.server.demos import demo_spec
from tests.conftest import PASSWORD, USER, make_tarball, op, start_server

APP = {"package.json": json.dumps({"name": "app", "version": "1.0.0"})}
SSE = {"Accept": "text/event-stream"}


def deploy_json(srv, project: str, **fields) -> httpx.Response:
    payload = base64.b64encode(make_tarball(APP)).decode()
    return op(srv, {"operation": "deploy_component", "project": project, "payload": payload, **fields})


def demo_fields(name: str) -> dict:
    spec = demo_spec(name)
    return {"operation": "deploy_component", "project": name, "package": f"file:{spec.path}",
            "install_command": spec.install_command}


def sse_events(response_text: str) -> list:
    return decode_all(response_text)[0]


def all_events(srv, deployment_id: str) -> list[dict]:
    events, after = [], 0
    while True:
        page = op(srv, {"operation": "get_deployment_events", "deployment_id": deployment_id,
                        "after_seq": after, "limit": 1000}).json()
        events += page["events"]
        after = page["next_after_seq"]
        if not page["has_more"]:
            return events


def processes_mentioning(text: str) -> list[int]:
    """Pids whose command line contains ``text`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and text in (entry / "cmdline").read_bytes().decode(errors="replace"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_until(condition, timeout: float = 10.0) -> bool:
    """Poll ``condition`` (for state another process changes) until true or ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# -- auth -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("auth", [None, (USER, "wrong"), ("nobody", PASSWORD)])
def test_operations_need_valid_credentials(server, auth):
    r = httpx.post(server.url + "/", json={"operation": "list_deployments"}, auth=auth)
    assert r.status_code == 401 and r.json()["error"]


def test_malformed_authorization_header_is_401(server):
    r = httpx.post(server.url + "/", json={"operation": "list_deployments"}, headers={"Authorization": "Basic %%%"})
    assert r.status_code == 401


def test_bearer_tokens(server):
    r = httpx.post(server.url + "/", json={"operation": "create_authentication_tokens", "username": USER, "password": "bad"})
    assert r.status_code == 401
    tokens = httpx.post(server.url + "/", json={"operation": "create_authentication_tokens",
                                                "username": USER, "password": PASSWORD}).json()
    bearer = {"Authorization": f"Bearer {tokens['operation_token']}"}
    assert httpx.post(server.url + "/", json={"operation": "list_deployments"}, headers=bearer).status_code == 200
    refreshed = httpx.post(server.url + "/", json={"operation": "refresh_operation_token"},
                           headers={"Authorization": f"Bearer {tokens['refresh_token']}"}).json()
    again = {"Authorization": f"Bearer {refreshed['operation_token']}"}
    assert httpx.post(server.url + "/", json={"operation": "list_deployments"}, headers=again).status_code == 200
    bogus = {"Authorization": "Bearer not-a-token"}
    assert httpx.post(server.url + "/", json={"operation": "list_deployments"}, headers=bogus).status_code == 401


def test_generated_credentials_are_private_and_never_printed(tmp_path):
    srv = spawn_server(tmp_path / "fresh")
    try:
        creds = tmp_path / "fresh" / "credentials.json"
        assert stat.S_IMODE(creds.stat().st_mode) == 0o600
        stored = json.loads(creds.read_text())
        assert srv.password == stored["password"] and len(stored["password"]) >= 16
        assert any(str(creds) in line for line in srv.output)
        assert not any(stored["password"] in line for line in srv.output)
        assert op(srv, {"operation": "list_deployments"}).status_code == 200
    finally:
        srv.stop()


def test_non_loopback_host_needs_allow_remote(tmp_path):
    r = subprocess.run([sys.executable, "-m", "deploytui", "serve", "--host", "0.0.0.0", "--port", "0",
                        "--data-dir", str(tmp_path)], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "--allow-remote" in r.stderr


# -- transport errors -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content, message",
    [(b"", "Invalid JSON."), (b"{not json", "Invalid JSON."), (b"[1, 2]", "Invalid JSON."),
     (b'{"project": "x"}', "Request body must include an 'operation' property."),
     (b'{"operation": "drop_everything"}', "Operation 'drop_everything' not found")],
)
def test_bad_bodies_are_400_and_the_server_stays_up(server, content, message):
    r = httpx.post(server.url + "/", content=content, auth=(USER, PASSWORD), headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json() == {"error": message}
    assert httpx.get(server.url + "/health").status_code == 200


def test_body_over_the_limit_is_413(tmp_path):
    srv = start_server(tmp_path / "d", extra_args=("--max-body-mb", "1"))
    try:
        r = deploy_json(srv, "big", install_command="true", padding="x" * (2 * 1024 * 1024))
        assert r.status_code == 413 and "limit" in r.json()["error"]
        assert op(srv, {"operation": "list_deployments"}).json()["total"] == 0
    finally:
        srv.stop()


@pytest.mark.parametrize("payload", ["not base64!", base64.b64encode(b"plainly not a tarball").decode()])
def test_bad_payload_is_refused_and_recorded_failed(server, payload):
    r = op(server, {"operation": "deploy_component", "project": "bad", "payload": payload})
    assert 400 <= r.status_code < 500
    rows = op(server, {"operation": "list_deployments", "project": "bad"}).json()["deployments"]
    assert all(row["status"] == "failed" for row in rows)


def test_hostile_tarball_writes_nothing_outside(server, tmp_path):
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        info = tarfile.TarInfo("../../escaped.txt")
        info.size = 4
        tar.addfile(info, io.BytesIO(b"evil"))
    r = op(server, {"operation": "deploy_component", "project": "evil",
                    "payload": base64.b64encode(buf.getvalue()).decode()})
    assert r.status_code == 400 and r.json()["phase"] == "prepare"
    assert not list(server.data_dir.parent.rglob("escaped.txt"))


def test_registration_info(server):
    info = op(server, {"operation": "registration_info"}).json()
    assert info["version"] == "5.1.0" and info["deploytui_version"]


# -- streams --------------------------------------------------------------------------------------


def test_deploy_sse_streams_the_whole_deploy_then_done(server):
    r = op(server, demo_fields("hello"), headers=SSE)
    assert r.status_code == 200 and r.headers["x-deployment-id"]
    assert r.text.startswith(": stream open\n\n")
    events = sse_events(r.text)
    names = [e.event for e in events]
    assert names[0] == "phase" and names[-1] == "done" and "install" in names
    stored = all_events(server, r.headers["x-deployment-id"])
    assert [int(e.id) for e in events[:-1]] == [e["seq"] for e in stored]
    assert json.loads(events[-1].data)["result"]["message"] == "Successfully deployed: hello"


def test_failed_deploy_sse_ends_with_error_and_no_done(server):
    r = op(server, demo_fields("broken-install"), headers=SSE)
    events = sse_events(r.text)
    assert events[-1].event == "error" and "done" not in [e.event for e in events]
    error = json.loads(events[-1].data)
    assert error["phase"] == "prepare" and any("ERR!" in l["line"] for l in error["install_output"]["lines"])


def test_last_event_id_resumes_from_the_full_history(server):
    deployment_id = op(server, demo_fields("chatty")).json()["deployment_id"]
    body = {"operation": "get_deployment", "deployment_id": deployment_id}
    full = sse_events(op(server, body, headers=SSE).text)
    assert len(full) > 5000  # far beyond the bounded event_log
    resumed = sse_events(op(server, body, headers={**SSE, "Last-Event-ID": "4000"}).text)
    assert [e.id for e in resumed[:-1]] == [e.id for e in full[4000:-1]]
    assert resumed[-1].event == "done" and json.loads(resumed[-1].data)["result"]["status"] == "success"


def test_harper_wire_replays_the_bounded_event_log_without_ids(harper_server):
    deployment_id = op(harper_server, demo_fields("chatty")).json()["deployment_id"]
    text = op(harper_server, {"operation": "get_deployment", "deployment_id": deployment_id},
              headers={**SSE, "Last-Event-ID": "3"}).text
    assert "\nid:" not in text and not text.startswith("id:") and ": keepalive" not in text
    events = sse_events(text)
    row = op(harper_server, {"operation": "get_deployment", "deployment_id": deployment_id}).json()
    replayed = [(e.event, json.loads(e.data)) for e in events[:-1]]
    assert replayed == [(e["event"], e["data"]) for e in row["event_log"]]
    assert len(replayed) == 200 and replayed[20][0] == "truncated"


def test_many_concurrent_watchers_each_get_every_event_once(server, tmp_path):
    gate = tmp_path / "go"
    fields = {**demo_fields("chatty"), "install_command":
              f'sh -c "while [ ! -e {gate} ]; do sleep 0.02; done; exec {demo_spec("chatty").install_command}"'}
    started = threading.Thread(target=lambda: op(server, fields))
    started.start()
    deployment_id = None
    while deployment_id is None:
        rows = op(server, {"operation": "list_deployments", "project": "chatty"}).json()["deployments"]
        deployment_id = rows[0]["deployment_id"] if rows else None
    results: list[list] = [None] * 12

    def watch(i: int) -> None:
        results[i] = sse_events(op(server, {"operation": "get_deployment", "deployment_id": deployment_id}, headers=SSE).text)

    watchers = [threading.Thread(target=watch, args=(i,)) for i in range(12)]
    for w in watchers:
        w.start()
    gate.touch()
    for w in watchers + [started]:
        w.join(60)
    truth = [e["seq"] for e in all_events(server, deployment_id)]
    for events in results:
        assert [int(e.id) for e in events[:-1]] == truth
        assert events[-1].event == "done"


def test_killed_server_recovers_the_interrupted_deploy(tmp_path):
    data = tmp_path / "d"
    srv = start_server(data)
    gate = tmp_path / "never"
    box: dict = {}

    def deploy() -> None:
        try:
            box["r"] = deploy_json(srv, "crash", install_command=f'sh -c "echo started; while [ ! -e {gate} ]; do sleep 0.05; done"')
        except httpx.HTTPError as exc:
            box["r"] = exc

    t = threading.Thread(target=deploy)
    t.start()
    while True:
        rows = op(srv, {"operation": "list_deployments", "project": "crash"}).json()["deployments"]
        if rows and any(e["event"] == "install" for e in rows[0]["event_log"]):
            break
    srv.kill()
    t.join(10)
    assert isinstance(box["r"], httpx.HTTPError)
    again = start_server(data)
    try:
        # The install the killed server left running is ended by the restarted one's recovery.
        assert wait_until(lambda: not processes_mentioning(str(gate))), "the orphaned install is still running"
        row = op(again, {"operation": "list_deployments", "project": "crash"}).json()["deployments"][0]
        assert row["status"] == "failed"
        assert row["error"]["message"] == "interrupted: the server stopped during prepare"
        assert row["event_log"][-1]["event"] == "error"
    finally:
        again.stop()


def test_revert_puts_the_previous_release_back(server):
    first = deploy_json(server, "rev").json()["deployment_id"]
    deploy_json(server, "rev")
    reverted = op(server, {"operation": "revert_component", "project": "rev"}).json()
    assert reverted["reverted"] is True
    row = op(server, {"operation": "get_deployment", "deployment_id": reverted["deployment_id"]}).json()
    assert row["status"] == "rolled_back" and row["rollback_of"]
    assert os.path.realpath(server.data_dir / "components" / "rev").endswith(first)


async def test_the_listening_socket_hands_out_connections_without_nagle() -> None:
    # asyncio turns Nagle off on an accepted socket only when the listening one says IPPROTO_TCP;
    # with proto 0 every answer after the first on a kept-alive connection waited ~40 ms for the
    # client's delayed ACK (each API call of a dashboard or a command).
    import asyncio
    import socket

    from deploytui.server.runner import bind_socket

    listening = bind_socket("127.0.0.1", 0)
    accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.set_result(writer.get_extra_info("socket").getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
        writer.close()

    server = await asyncio.start_server(on_connect, sock=listening)
    async with server:
        _reader, writer = await asyncio.open_connection(*listening.getsockname()[:2])
        assert await accepted != 0
        writer.close()
