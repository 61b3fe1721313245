"""Nothing is left locked: whatever ends a deploy, its row ends ``failed`` with Harper's ``error``
event, the answer says why (4xx for the client's mistakes), and the project takes the next deploy.

Real servers on loopback for the HTTP paths, the real engine and store for the rest; each fault is
a real one (an unreadable /proc directory, a kernel file-size limit, a socket closed mid-upload).
"""

from __future__ import annotations

import base64
import os
import resource
import socket
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from deploytui.protocol.deployment import is_terminal
from deploytui.server.engine import DeployFailed
from tests.conftest import make_tarball, op
from tests.server.test_contract import multipart_deploy
from tests.server.test_engine import Env, _chunks, _component, _events, _milestones, deploy, env  # noqa: F401
from tests.server.test_http import APP, deploy_json, wait_until


def rows_of(srv, project: str) -> list[dict]:
    return op(srv, {"operation": "list_deployments", "project": project}).json()["deployments"]


def assert_failed_and_free(srv, project: str, *, answer: httpx.Response | None = None) -> dict:
    """The project's one row ended ``failed`` with an ``error`` event that says what the answer
    said, no row of the server is left non-terminal, and the project takes a new deploy."""
    rows = rows_of(srv, project)
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["status"] == "failed" and row["completed_at"], row
    assert row["event_log"][-1]["event"] == "error"
    assert row["event_log"][-1]["data"]["message"] == row["error"]["message"]
    if answer is not None:
        assert answer.json()["error"] == row["error"]["message"]
        assert answer.json()["deployment_id"] == row["deployment_id"]
    everything = op(srv, {"operation": "list_deployments"}).json()["deployments"]
    assert all(is_terminal(r["status"]) for r in everything)
    again = deploy_json(srv, project, install_command="true")
    assert again.status_code == 200, again.text  # not 409: the project was released
    return row


def assert_no_data_dir_path(srv, *texts: str) -> None:
    for text in texts:
        for spelling in {str(srv.data_dir), os.path.realpath(srv.data_dir)}:
            assert spelling not in text


# -- over HTTP ------------------------------------------------------------------------------------


@pytest.mark.skipif(not os.path.isdir("/proc/sys/vm") or os.access("/proc/sys/vm/drop_caches", os.R_OK),
                    reason="needs Linux /proc/sys/vm with a write-only entry")
def test_unreadable_package_directory_is_a_400_and_frees_the_project(server):
    r = op(server, {"operation": "deploy_component", "package": "file:/proc/sys/vm", "install_command": "true"})
    assert r.status_code == 400, r.text
    assert "Permission denied" in r.json()["error"]
    # Refused while packing, before or after the row was written: either way nothing stays locked.
    rows = rows_of(server, "vm")
    if rows:
        assert_failed_and_free(server, "vm")
    else:
        assert deploy_json(server, "vm", install_command="true").status_code == 200


def test_malformed_multipart_mid_payload_is_a_400_and_frees_the_project(server):
    boundary = "deploytuiboundary"
    fields = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="operation"\r\n\r\ndeploy_component\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="project"\r\n\r\nmangled\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="payload"; filename="p.tar.gz"\r\n\r\n'
    ).encode()

    def body():  # the broken part header comes megabytes into the payload, after the row exists
        yield fields
        for _ in range(32):
            yield b"x" * 65536
        yield f"\r\n--{boundary}\r\nnot a header line\r\n\r\n".encode()

    r = httpx.post(server.url + "/", content=body(), auth=(server.user, server.password), timeout=60,
                   headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert r.status_code == 400, r.text
    assert_failed_and_free(server, "mangled", answer=r if r.json().get("deployment_id") else None)


def test_client_gone_mid_upload_fails_the_row_and_frees_the_project(server):
    boundary = "deploytuiboundary"
    head_of_body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="operation"\r\n\r\ndeploy_component\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="project"\r\n\r\ngone\r\n'
        f'--{boundary}\r\nContent-Disposition: form-data; name="payload"; filename="p.tar.gz"\r\n\r\n'
    ).encode() + b"x" * 100_000
    host, port = server.url.removeprefix("http://").split(":")
    auth = base64.b64encode(f"{server.user}:{server.password}".encode()).decode()
    head = (f"POST / HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\nContent-Length: 10000000\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n\r\n").encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(head + head_of_body)
        # The row exists once the server has read the fields; then the client goes away.
        assert wait_until(lambda: rows_of(server, "gone"), timeout=60), "the deploy never started"
    assert wait_until(lambda: rows_of(server, "gone")[0]["status"] != "pending", timeout=60), "the row stayed pending"
    row = assert_failed_and_free(server, "gone")
    assert "disconnected" in row["error"]["message"] and row["error"]["code"] == 400


@pytest.mark.skipif(not hasattr(resource, "prlimit"), reason="needs prlimit (Linux)")
def test_full_disk_during_ingest_is_a_507_with_a_plain_message_and_frees_the_project(server):
    """The kernel refuses the payload file past a file-size limit (EFBIG, as a full disk refuses
    with ENOSPC): set on the running server with prlimit, lifted again for the second deploy."""
    pid = server.process.pid
    old = resource.prlimit(pid, resource.RLIMIT_FSIZE)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (1024 * 1024, old[1]))
    try:
        r = multipart_deploy(server, {"project": "full"}, os.urandom(3 * 1024 * 1024))
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, old)
    assert r.status_code == 507, r.text
    assert r.json()["error"] == "The server has no room to store the payload (File too large)"
    assert_no_data_dir_path(server, r.text)
    row = assert_failed_and_free(server, "full", answer=r)
    assert row["error"]["code"] == 507 and row["payload_blob_present"] is False
    assert not (server.data_dir / "payloads" / f"{row['deployment_id']}.tar.gz").exists()


def test_unsafe_tarball_message_names_the_member_not_the_data_dir(server):
    """A link out of the release: the refusal names ``releases/<id>/<member>``, relative."""
    import io
    import tarfile
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        link = tarfile.TarInfo("escape")
        link.type, link.linkname = tarfile.SYMTYPE, "../../../../../../etc/passwd"
        tar.addfile(link)
    r = op(server, {"operation": "deploy_component", "project": "linky",
                    "payload": base64.b64encode(buf.getvalue()).decode()})
    assert r.status_code == 400 and "escape" in r.json()["error"]
    assert_no_data_dir_path(server, r.text)
    row = assert_failed_and_free(server, "linky", answer=r)
    assert_no_data_dir_path(server, str(row))


# -- the engine ------------------------------------------------------------------------------------


async def test_an_unwritable_payloads_dir_fails_the_row_with_a_plain_500(env: Env, tmp_path: Path) -> None:
    env.config.data_dir.mkdir(parents=True, exist_ok=True)
    env.config.payloads_dir.write_text("in the way")  # a file where the payloads dir should be
    d = await env.engine.begin(project="blocked", user=None)
    with pytest.raises(DeployFailed) as info:
        await env.engine.run(d, _chunks(b"some payload"))
    assert info.value.status_code == 500 and info.value.body["phase"] == "pending"
    message = info.value.body["error"]
    assert message.startswith("The server could not store the payload (") and "payloads" in message
    assert str(env.config.data_dir) not in message and os.path.realpath(env.config.data_dir) not in message
    row = await env.store.get_row(d.deployment_id)
    assert row["status"] == "failed" and row["error"]["message"] == message
    assert _milestones(await _events(env, d.deployment_id)) == [("error",)]
    assert await env.store.nonterminal_rows() == []

    env.config.payloads_dir.unlink()
    payload = _component(tmp_path, "b", {"package.json": "{}"})
    assert (await deploy(env, "blocked", payload, install_command="true"))["deployment_id"]


async def test_any_exception_while_reading_the_payload_fails_the_row(env: Env, tmp_path: Path) -> None:
    async def buggy() -> AsyncIterator[bytes]:
        yield b"start"
        raise RuntimeError("a bug in a payload source")

    d = await env.engine.begin(project="bug", user=None)
    with pytest.raises(DeployFailed) as info:
        await env.engine.run(d, buggy())
    assert info.value.status_code == 500 and "a bug in a payload source" in info.value.body["error"]
    assert (await env.store.get_row(d.deployment_id))["status"] == "failed"
    assert list(env.config.payloads_dir.iterdir()) == []
    await deploy(env, "bug", _component(tmp_path, "b", {"package.json": "{}"}), install_command="true")


async def test_a_failed_revert_ends_its_row_and_frees_the_project(env: Env, tmp_path: Path) -> None:
    v1 = await deploy(env, "rv", _component(tmp_path, "v1", {"package.json": "{}"}), install_command="true")
    await deploy(env, "rv", _component(tmp_path, "v2", {"package.json": "{}"}), install_command="true")
    releases = env.releases("rv")
    import shutil
    shutil.rmtree(releases.release_dir(v1["deployment_id"]))  # the release to go back to is gone
    with pytest.raises(DeployFailed) as info:
        await env.engine.revert(project="rv", user=None)
    assert "missing on disk" in info.value.body["error"] and "install_output" not in info.value.body
    assert await env.store.nonterminal_rows() == []
    await deploy(env, "rv", _component(tmp_path, "v3", {"package.json": "{}"}), install_command="true")
