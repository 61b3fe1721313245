"""What the ``test_harper_*`` modules share: a real server per module and wire, and Harper's
harness (multipart uploads, a raw-socket upload that is answered while still being sent).

Harper's integration tests authenticate with Basic auth, send JSON operations to ``POST /`` and
deploy with a chunked multipart body (file part ``payload``, ``package.tar.gz``,
``application/gzip``); these helpers do the same against ``deploytui serve``.
"""

from __future__ import annotations

import base64
import re
import socket
import time
from collections.abc import Iterator

import pytest

from deploytui.client.local import LocalServer
from tests.conftest import op, start_server

WIRES = ["harper", "deploytui"]
TERMINAL = ("success", "failed", "rolled_back")


@pytest.fixture(scope="module", params=WIRES)
def wire(request: pytest.FixtureRequest) -> str:
    """``harper``: Harper 5.1.14 exactly; ``deploytui``: our wire (Harper's newest protocol)."""
    return request.param


@pytest.fixture(scope="module")
def srv(wire: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    server = start_server(tmp_path_factory.mktemp(f"harper-suite-{wire}") / "data", wire=wire)
    yield server
    server.stop()


def listed(srv: LocalServer, project: str) -> list[dict]:
    return op(srv, {"operation": "list_deployments", "project": project}).json()["deployments"]


def wait_listed(srv: LocalServer, project: str, predicate, tries: int = 400) -> dict:
    """Poll ``list_deployments {project}`` as Harper's tests do, until the newest row satisfies
    ``predicate`` (the state being waited for is the server's; there is no event to wait on)."""
    rows: list[dict] = []
    for _ in range(tries):
        rows = listed(srv, project)
        if rows and predicate(rows[0]):
            return rows[0]
        time.sleep(0.05)
    raise AssertionError(f"no row of {project} reached the expected state: {rows}")


def _chunk(data: bytes) -> bytes:
    return f"{len(data):x}\r\n".encode() + data + b"\r\n"


def _read_response(sock: socket.socket) -> bytes:
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


def upload_answered_early(srv: LocalServer, fields: dict[str, str], *, sse: bool) -> tuple[bytes, bytes]:
    """Start a chunked multipart upload, read the answer while the file part is still being sent,
    finish the upload, then ask ``GET /health`` on the same connection; (answer, health answer)."""
    boundary = "harperboundary"
    parts = b"".join(f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode()
                     for k, v in fields.items())
    file_head = (f'--{boundary}\r\nContent-Disposition: form-data; name="payload"; filename="package.tar.gz"\r\n'
                 "Content-Type: application/gzip\r\n\r\n").encode()
    host = srv.url.removeprefix("http://")
    auth = base64.b64encode(f"{srv.user}:{srv.password}".encode()).decode()
    head = (f"POST / HTTP/1.1\r\nHost: {host}\r\nAuthorization: Basic {auth}\r\nTransfer-Encoding: chunked\r\n"
            f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
            + ("Accept: text/event-stream\r\n" if sse else "") + "\r\n").encode()
    name, port = host.rsplit(":", 1)
    with socket.create_connection((name, int(port)), timeout=20) as sock:
        sock.sendall(head + _chunk(parts + file_head + b"x" * 65536))
        answer = _read_response(sock)  # the upload is still going: its end has not been sent
        sock.sendall(_chunk(b"y" * 65536) + _chunk(f"\r\n--{boundary}--\r\n".encode()) + b"0\r\n\r\n")
        sock.sendall(f"GET /health HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        return answer, _read_response(sock)
