"""Harper's integration-test assertions (contract §7.1, 7.2, 7.4, 7.6) against the real server."""

from __future__ import annotations

import hashlib
import json
import re
import socket
import time

import httpx
import pytest

from tests.conftest import make_tarball, op

UUID = re.compile(r"^[0-9a-f-]{36}$", re.I)
APP = {"package.json": json.dumps({"name": "app", "version": "1.0.0"}), "index.js": "console.log('hi')\n"}


def multipart_deploy(srv, fields: dict, payload: bytes, *, headers=None, timeout=60) -> httpx.Response:
    data = {k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()}
    files = {"payload": ("package.tar.gz", payload, "application/gzip")}
    return httpx.post(
        srv.url + "/", data={"operation": "deploy_component", **data}, files=files,
        auth=(srv.user, srv.password), headers=headers, timeout=timeout,
    )


def wait_status(srv, project: str, predicate, tries: int = 200) -> dict:
    """Poll list_deployments the way Harper's tests do, until a row satisfies ``predicate``."""
    for _ in range(tries):
        rows = op(srv, {"operation": "list_deployments", "project": project}).json()["deployments"]
        if rows and predicate(rows[0]):
            return rows[0]
        time.sleep(0.05)
    raise AssertionError(f"no row of {project} reached the expected state: {rows}")


def test_health(server):
    r = httpx.get(server.url + "/health")
    assert r.status_code == 200 and r.text == "Harper is running."


# -- 7.1 deploy-tracking ------------------------------------------------------------------------


def test_deploy_records_a_row_with_hash_size_and_success(server):
    payload = make_tarball(APP)
    r = multipart_deploy(server, {"project": "app71", "restart": False}, payload)
    assert r.status_code == 200, r.text
    body = r.json()
    assert UUID.match(body["deployment_id"])
    row = op(server, {"operation": "get_deployment", "deployment_id": body["deployment_id"]}).json()
    assert row["deployment_id"] == body["deployment_id"] and row["project"] == "app71"
    assert row["status"] == "success" and row["payload_blob_present"] is True
    assert row["payload_hash"] == hashlib.sha256(payload).hexdigest()
    assert row["payload_size"] == len(payload) > 0
    assert row["started_at"] > 0 and row["completed_at"] >= row["started_at"]
    listed = op(server, {"operation": "list_deployments", "project": "app71"}).json()
    assert listed["total"] >= 1 and body["deployment_id"] in [d["deployment_id"] for d in listed["deployments"]]
    assert "payload_blob" not in listed["deployments"][0] and "payload_blob_present" in listed["deployments"][0]


def test_failed_deploy_is_recorded_with_install_output(server):
    r = multipart_deploy(
        server,
        {"project": "fail71", "install_command": 'sh -c "echo simulated-install-failure; exit 1"', "install_timeout": 30000},
        make_tarball(APP),
    )
    assert r.status_code >= 400
    body = r.json()
    assert body["phase"] == "prepare" and isinstance(body["deployment_id"], str)
    lines = body["install_output"]["lines"]
    assert any(l["stream"] == "stdout" and "simulated-install-failure" in l["line"] for l in lines)
    row = op(server, {"operation": "list_deployments", "project": "fail71"}).json()["deployments"][0]
    assert row["status"] == "failed" and row["error"]["message"]
    assert any(e["event"] == "error" for e in row["event_log"])


# -- 7.2 deploy-tracking-events -----------------------------------------------------------------


def test_event_log_has_lifecycle_phases_and_sse_replay_closes(server):
    # Our wire runs Harper main's two-phase deploy: its events test looks for stage and activate;
    # 5.1.14's looks for prepare and replicate, which two_phase: false still gives.
    r = multipart_deploy(server, {"project": "ev72"}, make_tarball(APP))
    deployment_id = r.json()["deployment_id"]
    row = op(server, {"operation": "get_deployment", "deployment_id": deployment_id}).json()
    phases = {e["data"]["phase"] for e in row["event_log"] if e["event"] == "phase"}
    assert {"stage", "activate"} <= phases and len(row["event_log"]) >= 2
    one_shot = multipart_deploy(server, {"project": "ev72", "two_phase": False}, make_tarball(APP)).json()
    row = op(server, {"operation": "get_deployment", "deployment_id": one_shot["deployment_id"]}).json()
    assert {"prepare", "replicate"} <= {e["data"]["phase"] for e in row["event_log"] if e["event"] == "phase"}
    sse = op(server, {"operation": "get_deployment", "deployment_id": deployment_id},
             headers={"Accept": "text/event-stream"})
    assert sse.status_code == 200 and sse.headers["content-type"].startswith("text/event-stream")
    records = [rec for rec in sse.text.split("\n\n") if "event:" in rec]
    assert len(records) >= 2
    assert any("event: phase" in rec for rec in records) and any("event: done" in rec for rec in records)


def test_sse_tails_an_in_flight_deploy(server, tmp_path):
    gate = tmp_path / "gate"
    cmd = f'sh -c "echo waiting; while [ ! -e {gate} ]; do sleep 0.05; done; echo released"'
    with httpx.Client(auth=(server.user, server.password), timeout=60) as http:
        deploy = http.build_request(
            "POST", server.url + "/",
            data={"operation": "deploy_component", "project": "tail72", "install_command": cmd},
            files={"payload": ("package.tar.gz", make_tarball(APP), "application/gzip")},
        )
        import threading
        result: dict = {}
        t = threading.Thread(target=lambda: result.setdefault("r", http.send(deploy)))
        t.start()
        row = wait_status(server, "tail72", lambda r: r["status"] not in ("success", "failed"))
        with httpx.Client(auth=(server.user, server.password), timeout=60) as sse_http:
            with sse_http.stream("POST", server.url + "/", json={"operation": "get_deployment", "deployment_id": row["deployment_id"]},
                                 headers={"Accept": "text/event-stream"}) as sse:
                assert sse.status_code == 200
                text = ""
                for chunk in sse.iter_text():
                    text += chunk
                    if "waiting" in text and not gate.exists():
                        gate.touch()
        t.join(30)
    assert result["r"].status_code == 200
    assert "event: phase" in text and "event: done" in text and "released" in text


# -- 7.4 payload operations ---------------------------------------------------------------------


def test_payload_operations(server, tmp_path):
    for name in ("get_deployment_payload", "delete_deployment_payload"):
        r = op(server, {"operation": name, "deployment_id": "nope"})
        assert r.status_code == 404 and "nope" in r.json()["error"]
        assert "content-disposition" not in r.headers
    payload = make_tarball({**APP, "blob.bin": bytes(range(256)) * 16})
    deployment_id = multipart_deploy(server, {"project": "pay74"}, payload).json()["deployment_id"]
    got = op(server, {"operation": "get_deployment_payload", "deployment_id": deployment_id})
    assert got.status_code == 200 and deployment_id in got.headers["content-disposition"]
    assert hashlib.sha256(got.content).digest() == hashlib.sha256(payload).digest()

    deleted = op(server, {"operation": "delete_deployment_payload", "deployment_id": deployment_id}).json()
    assert deleted["deployment_id"] == deployment_id and deleted["freed_bytes"] == len(payload)
    row = op(server, {"operation": "get_deployment", "deployment_id": deployment_id}).json()
    assert row["payload_blob_present"] is False and row["status"] == "success"
    assert any(e["event"] == "payload_dropped" for e in row["event_log"])
    assert not list((server.data_dir / "payloads").glob(f"{deployment_id}*"))
    gone = op(server, {"operation": "get_deployment_payload", "deployment_id": deployment_id})
    assert gone.status_code == 404 and re.search("reclaim|delete", gone.json()["error"], re.I)
    again = op(server, {"operation": "delete_deployment_payload", "deployment_id": deployment_id}).json()
    assert again["freed_bytes"] == 0 and again["deployment_id"] == deployment_id
    second = multipart_deploy(server, {"project": "pay74"}, payload).json()["deployment_id"]
    assert second != deployment_id
    assert op(server, {"operation": "get_deployment", "deployment_id": second}).json()["payload_blob_present"] is True


def test_delete_payload_of_a_running_deploy_is_409(server, tmp_path):
    gate = tmp_path / "gate2"
    cmd = f'sh -c "while [ ! -e {gate} ]; do sleep 0.05; done"'
    import threading
    box: dict = {}
    t = threading.Thread(target=lambda: box.setdefault("r", multipart_deploy(server, {"project": "busy74", "install_command": cmd}, make_tarball(APP))))
    t.start()
    row = wait_status(server, "busy74", lambda r: r["status"] not in ("success", "failed"))
    r = op(server, {"operation": "delete_deployment_payload", "deployment_id": row["deployment_id"]})
    assert r.status_code == 409
    gate.touch()
    t.join(30)
    assert box["r"].status_code == 200
    final = op(server, {"operation": "get_deployment", "deployment_id": row["deployment_id"]}).json()
    assert final["status"] == "success" and final["payload_blob_present"] is True


# -- 7.6 multipart streaming --------------------------------------------------------------------


def test_multipart_restart_true_extracts_byte_for_byte(server):
    big = bytes((i * 7919) % 251 for i in range(4 * 1024 * 1024))
    r = multipart_deploy(server, {"project": "big76", "restart": True}, make_tarball({**APP, "data.bin": big}))
    assert r.status_code == 200
    assert r.json()["message"] == "Successfully deployed: big76, restarting Harper"
    current = server.data_dir / "components" / "big76"
    assert (current / "data.bin").read_bytes() == big


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _read_response(sock: socket.socket) -> bytes:
    sock.settimeout(10)
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, rest = data.partition(b"\r\n\r\n")
    if b"chunked" in head.lower():
        while not rest.endswith(b"0\r\n\r\n"):
            rest += sock.recv(65536)
    else:
        length = int(re.search(rb"content-length: (\d+)", head, re.I).group(1))
        while len(rest) < length:
            rest += sock.recv(65536)
    return head + b"\r\n\r\n" + rest


@pytest.mark.parametrize(
    "fields, accept, expect_status, expect_text",
    [
        ({"operation": "deploy_component", "project": "iso", "isolated": "true"}, None, b"400", b"'isolated' is only supported for package deployments"),
        ({"operation": "deploy_component", "project": "iso", "isolated": "true"}, "text/event-stream", b"200", b"'isolated' is only supported for package deployments"),
        ({"project": "noop"}, None, b"400", b"Request body must include an 'operation' property"),
    ],
)
def test_refusal_arrives_before_the_upload_ends(server, fields, accept, expect_status, expect_text):
    boundary = "deploytuiboundary"
    parts = b"".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()
    )
    file_head = (f'--{boundary}\r\nContent-Disposition: form-data; name="payload"; filename="package.tar.gz"\r\n'
                 "Content-Type: application/gzip\r\n\r\n").encode()
    host = server.url.removeprefix("http://")
    auth = __import__("base64").b64encode(f"{server.user}:{server.password}".encode()).decode()
    head = (f"POST / HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\nTransfer-Encoding: chunked\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            + (f"Accept: {accept}\r\n" if accept else "") + "\r\n").encode()
    addr = host.split(":")
    with socket.create_connection((addr[0], int(addr[1]))) as sock:
        sock.sendall(head + _chunk(parts + file_head + b"x" * 65536))
        response = _read_response(sock)  # the upload is still in progress here
        assert response.split(b" ")[1] == expect_status
        assert expect_text in response
        if accept:
            assert b"event: error" in response and b'"code":400' in response
        sock.sendall(_chunk(b"y" * 65536) + _chunk(f"\r\n--{boundary}--\r\n".encode()) + b"0\r\n\r\n")
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert b"200" in _read_response(sock).split(b"\r\n")[0]
