"""Memory is bounded before anything is trusted; every hostile input is a plain 4xx (issue 7 §2, §3).

The HTTP tests talk to a real server over loopback. The memory rows read the server process's peak
RSS (``VmHWM``, reset through ``/proc/<pid>/clear_refs``) around the one request; what would blow it
up is streamed from the client or compresses to almost nothing, so the test data stays small.
"""

from __future__ import annotations

import base64
import io
import json
import os
import socket
import struct
import subprocess
import sys
import tarfile
import tracemalloc
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from deploytui.client.local import LocalServer
from deploytui.protocol.tarpack import pack_directory
from deploytui.server.body import Base64Decoder, BodyError, JsonBody
from deploytui.server.tarball import (
    MAX_EXTENDED_HEADER_BYTES,
    PackLimits,
    TarballTooLarge,
    UnsafeTarball,
    extract_tarball,
    pack_directory_to,
)
from tests.conftest import PASSWORD, USER, make_tarball, op, start_server

MiB = 1024 * 1024
APP = {"package.json": json.dumps({"name": "app", "version": "1.0.0"})}
# How much the server's peak RSS may grow while it refuses something many times that size.
BOUNDED_GROWTH_MIB = 16


# -- helpers --------------------------------------------------------------------------------------


def _status_kib(pid: int, key: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {key} in /proc/{pid}/status")


@contextmanager
def peak_rss_growth(srv: LocalServer) -> Iterator[list[float]]:
    """Yields a list that, after the block, holds how many MiB the server's peak RSS grew by."""
    assert srv.process is not None
    pid = srv.process.pid
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")  # peak RSS := current RSS
        before = _status_kib(pid, "VmRSS")
    except OSError:  # a kernel without the reset: growth past the peak so far
        before = _status_kib(pid, "VmHWM")
    growth: list[float] = []
    yield growth
    growth.append((_status_kib(pid, "VmHWM") - before) / 1024)


def warm_up(srv: LocalServer) -> None:
    """One whole deploy first, so imports and worker threads are not counted as the request's."""
    assert deploy_json(srv, "warmup", make_tarball(APP)).status_code == 200


def repeated_tgz(header: bytes, fill: bytes, size: int, trailer: bytes = b"") -> bytes:
    """A tar.gz of ``header``, ``size`` bytes of ``fill`` (one byte), ``trailer`` and the end blocks,
    built without compressing every byte: after a full flush deflate forgets its history, so each
    1 MiB block of ``fill`` compresses to the same bytes, made once."""
    block = 1 << 20
    count, rest = divmod(size, block)
    body = fill * block
    tail = fill * rest + bytes(-size % 512) + trailer + bytes(1024)
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = deflate.compress(header) + deflate.flush(zlib.Z_FULL_FLUSH)
    repeated = deflate.compress(body) + deflate.flush(zlib.Z_FULL_FLUSH)
    last = deflate.compress(tail) + deflate.flush()
    crc = zlib.crc32(header)
    for _ in range(count):
        crc = zlib.crc32(body, crc)
    crc = zlib.crc32(tail, crc)
    total = len(header) + count * block + len(tail)
    gzip_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    return gzip_header + first + repeated * count + last + struct.pack("<II", crc, total & 0xFFFFFFFF)


def raw_header(name: str, kind: bytes, size: int) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.size = kind, size
    return info.tobuf(format=tarfile.USTAR_FORMAT)


def tgz_of(*members: tuple[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def deploy_json(srv: LocalServer, project: str, tgz: bytes, **fields) -> httpx.Response:
    return op(srv, {"operation": "deploy_component", "project": project, "install_command": "true",
                    "payload": base64.b64encode(tgz).decode(), **fields})


def rows(srv: LocalServer, project: str) -> list[dict]:
    return op(srv, {"operation": "list_deployments", "project": project}).json()["deployments"]


def assert_failed_and_unlocked(srv: LocalServer, project: str) -> None:
    """The refused deploy left no row non-terminal, and the project deploys again."""
    assert all(row["status"] == "failed" for row in rows(srv, project))
    assert deploy_json(srv, project, make_tarball(APP)).status_code == 200


def assert_plain(message: str, srv: LocalServer) -> None:
    """A message that says what went wrong without the server's absolute paths."""
    assert str(srv.data_dir) not in message and str(srv.data_dir.resolve()) not in message
    assert "/tmp/" not in message and "Traceback" not in message


def multipart(boundary: bytes, fields: dict[str, str], file_part: bytes | None = None) -> bytes:
    parts = [b"--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n%s\r\n" % (boundary, k.encode(), v.encode())
             for k, v in fields.items()]
    if file_part is not None:
        parts.append(b"--%s\r\nContent-Disposition: form-data; name=\"payload\"; filename=\"p.tgz\"\r\n"
                     b"Content-Type: application/gzip\r\n\r\n%s" % (boundary, file_part))
    return b"".join(parts)


def post_raw(srv: LocalServer, content, *, auth=(USER, PASSWORD), content_type="application/json") -> httpx.Response:
    return httpx.post(srv.url + "/", content=content, auth=auth, headers={"content-type": content_type}, timeout=60)


class CountingStream:
    """A chunked request body of ``total`` bytes: ``prefix``, then ``fill`` 1 MiB at a time."""

    def __init__(self, prefix: bytes, fill: bytes, total: int) -> None:
        self.prefix, self.fill, self.total, self.sent = prefix, fill, total, 0

    def __iter__(self) -> Iterator[bytes]:
        yield self.prefix
        self.sent = len(self.prefix)
        block = self.fill * MiB
        while self.sent < self.total:
            yield block
            self.sent += len(block)


@pytest.fixture
def small_limits(tmp_path: Path) -> Iterator[LocalServer]:
    """A server with small limits, so going past them takes little data."""
    srv = start_server(tmp_path / "data", extra_args=("--max-body-mb", "1", "--max-unpacked-mb", "4",
                                                      "--max-json-kb", "64", "--max-members", "50"))
    yield srv
    srv.stop()


@pytest.mark.parametrize("flag", ["--max-body-mb", "--max-json-kb", "--max-unpacked-mb", "--max-members"])
def test_a_limit_must_be_a_positive_whole_number(tmp_path, flag):
    r = subprocess.run([sys.executable, "-m", "deploytui", "serve", "--port", "0", "--data-dir", str(tmp_path),
                        flag, "0"], capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and f"argument {flag}: must be at least 1" in r.stderr


# -- tar headers ----------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [tarfile.XHDTYPE, tarfile.GNUTYPE_LONGNAME], ids=["pax-x", "gnu-L"])
def test_a_huge_extended_header_is_refused_before_it_is_read(server, kind):
    # 96 MiB of header that compresses to under 100 KiB; reading it would cost the server 96 MiB+.
    tgz = repeated_tgz(raw_header("././@LongHeader", kind, 96 * MiB), b"a", 96 * MiB)
    assert len(tgz) < MiB
    warm_up(server)
    with peak_rss_growth(server) as growth:
        r = deploy_json(server, "hdr", tgz)
    assert growth[0] < BOUNDED_GROWTH_MIB, f"server peak RSS grew {growth[0]:.0f} MiB"
    assert r.status_code == 400
    assert f"extended header declares {96 * MiB} bytes" in r.json()["error"]
    assert_plain(r.json()["error"], server)
    assert_failed_and_unlocked(server, "hdr")


def test_extended_headers_are_capped_in_process(tmp_path):
    """The same check without a server: tarfile never holds the oversized header."""
    size = 32 * MiB
    path = tmp_path / "hdr.tgz"
    path.write_bytes(repeated_tgz(raw_header("././@PaxHeader", tarfile.XHDTYPE, size), b"a", size))
    tracemalloc.start()
    try:
        with pytest.raises(UnsafeTarball, match="extended header"):
            extract_tarball(path, tmp_path / "releases" / "r1", max_unpacked_bytes=10**12, max_members=10)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_EXTENDED_HEADER_BYTES
    assert not (tmp_path / "releases" / "r1").exists()


def test_header_bytes_count_against_the_unpacked_limit(tmp_path):
    # Three 600 KiB long-name headers (each under the 1 MiB cap) before one small file: 1.8 MiB.
    names = b"".join(raw_header("././@LongLink", tarfile.GNUTYPE_LONGNAME, 600 * 1024) + b"n" * (600 * 1024)
                     for _ in range(3))
    path = tmp_path / "h.tgz"
    path.write_bytes(repeated_tgz(names + raw_header("f", tarfile.REGTYPE, 1), b"x", 1))
    with pytest.raises(UnsafeTarball) as info:
        extract_tarball(path, tmp_path / "releases" / "r", max_unpacked_bytes=MiB, max_members=10)
    assert info.value.status_code == 413


def test_a_long_chain_of_extended_headers_is_refused(tmp_path):
    path = tmp_path / "chain.tgz"
    path.write_bytes(repeated_tgz(raw_header("x", tarfile.XHDTYPE, 0) * 5000, b"x", 0))
    with pytest.raises(UnsafeTarball, match="extended headers for one member"):
        extract_tarball(path, tmp_path / "releases" / "r", max_unpacked_bytes=MiB, max_members=10)


def test_sparse_members_are_refused(tmp_path):
    # Sparse maps are read into memory entry by entry with no bound; npm packages never hold them.
    path = tmp_path / "sparse.tgz"
    path.write_bytes(repeated_tgz(raw_header("holes.bin", tarfile.GNUTYPE_SPARSE, 0), b"x", 0))
    with pytest.raises(UnsafeTarball, match="sparse file"):
        extract_tarball(path, tmp_path / "releases" / "r", max_unpacked_bytes=MiB, max_members=10)


# -- unpacked size --------------------------------------------------------------------------------


def test_a_zero_bomb_is_refused_by_the_default_unpacked_limit(server):
    """0.9 MiB holding one 10^9-byte file of zeros: refused before a byte of it is written."""
    bomb = repeated_tgz(raw_header("zeros.bin", tarfile.REGTYPE, 10**9), b"\0", 10**9)
    assert len(bomb) < MiB
    r = deploy_json(server, "bomb", bomb)
    assert r.status_code == 413
    assert "unpacks to more than 536870912 bytes" in r.json()["error"]
    written = sum(p.stat().st_size for p in server.data_dir.rglob("*") if p.is_file())
    assert written < 16 * MiB
    assert_failed_and_unlocked(server, "bomb")


def test_the_unpacked_limit_is_a_setting(small_limits):
    r = deploy_json(small_limits, "big", tgz_of(("big.bin", bytes(5 * MiB))))
    assert r.status_code == 413 and f"unpacks to more than {4 * MiB} bytes" in r.json()["error"]
    assert deploy_json(small_limits, "big", tgz_of(("ok.bin", bytes(3 * MiB)))).status_code == 200


# -- file: packages -------------------------------------------------------------------------------


def test_a_file_package_is_packed_to_disk_not_memory(server, tmp_path):
    src = tmp_path / "pkg"
    src.mkdir()
    (src / "package.json").write_text(json.dumps({"name": "pkg", "version": "1.0.0"}))
    with open(src / "blob.bin", "wb") as handle:  # incompressible, so the pack is as big as the file
        for _ in range(40):
            handle.write(os.urandom(MiB))
    warm_up(server)
    with peak_rss_growth(server) as growth:
        r = op(server, {"operation": "deploy_component", "package": f"file:{src}", "install_command": "true"})
    assert r.status_code == 200, r.text
    assert growth[0] < BOUNDED_GROWTH_MIB, f"server peak RSS grew {growth[0]:.0f} MiB for a 40 MiB pack"
    assert not list((server.data_dir / "payloads").glob(".pack-*"))


@pytest.mark.parametrize(
    "make, message",
    [(lambda d: (d / "noise.bin").write_bytes(os.urandom(2 * MiB)), f"exceeds the limit of {MiB} bytes"),
     (lambda d: (d / "zeros.bin").write_bytes(bytes(5 * MiB)), f"unpacks to more than {4 * MiB} bytes"),
     (lambda d: [(d / f"f{i}").touch() for i in range(60)], "more than 50 entries")],
    ids=["packed-over-body-limit", "unpacked-over-limit", "over-member-limit"],
)
def test_a_file_package_over_the_limits_is_413(small_limits, tmp_path, make, message):
    src = tmp_path / "pkg"
    src.mkdir()
    make(src)
    r = op(small_limits, {"operation": "deploy_component", "project": "pkg", "package": f"file:{src}",
                          "install_command": "true"})
    assert r.status_code == 413 and message in r.json()["error"]
    assert not list((small_limits.data_dir / "payloads").glob(".pack-*"))
    assert_failed_and_unlocked(small_limits, "pkg")


def test_a_file_package_and_the_client_pack_of_it_are_the_same_payload(server, tmp_path):
    """One packer on both sides: the server packing ``file:<dir>`` stores what ``deploytui deploy``
    would upload for that directory, so both deploys record the same payload hash."""
    src = tmp_path / "same"
    (src / "lib").mkdir(parents=True)
    (src / "package.json").write_text(json.dumps({"name": "same", "version": "1.0.0"}))
    (src / "lib" / "index.js").write_text("module.exports = 1;\n")
    assert op(server, {"operation": "deploy_component", "package": f"file:{src}",
                       "install_command": "true"}).status_code == 200
    os.utime(src / "package.json", (1, 1))  # the time a file was touched is not part of it
    assert deploy_json(server, "same", pack_directory(src)).status_code == 200
    hashes = {row["payload_hash"] for row in rows(server, "same")}
    assert len(hashes) == 1 and None not in hashes


def test_a_file_package_with_a_symlink_leading_outside_is_400(server, tmp_path):
    """The packer refuses a link whose target would not travel, for the server as for the client."""
    src = tmp_path / "linked"
    src.mkdir()
    (src / "package.json").write_text(json.dumps({"name": "linked", "version": "1.0.0"}))
    (src / "passwd").symlink_to("/etc/passwd")
    r = op(server, {"operation": "deploy_component", "package": f"file:{src}", "install_command": "true"})
    assert r.status_code == 400 and "passwd is a symlink to /etc/passwd, outside" in r.json()["error"], r.text
    assert_failed_and_unlocked(server, "linked")


def test_a_directory_over_the_limits_is_refused_before_any_packing(tmp_path):
    src = tmp_path / "pkg"
    src.mkdir()
    for name in "abc":
        (src / name).write_bytes(bytes(400 * 1024))
    out = tmp_path / "out.tgz"
    with pytest.raises(TarballTooLarge):
        pack_directory_to(src, out, PackLimits(max_packed_bytes=MiB, max_unpacked_bytes=MiB, max_members=10))
    assert not out.exists()  # refused before the output was opened: not one file was compressed


# -- JSON bodies ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix, fill",
    [(b'{"operation": "list_deployments", "pad": [', b"1,"), (b'{"operation": "list_deployments", "pad": "', b"x"),
     (b'{"operation": "deploy_component", "project": "p", "meta": {"payload": "', b"A")],
    ids=["structure", "long-string", "nested-payload-key"],
)
def test_a_big_chunked_json_body_is_refused_as_it_arrives(server, prefix, fill):
    warm_up(server)
    stream = CountingStream(prefix, fill, 256 * MiB)
    with peak_rss_growth(server) as growth:
        r = post_raw(server, iter(stream))
    assert growth[0] < BOUNDED_GROWTH_MIB, f"server peak RSS grew {growth[0]:.0f} MiB"
    assert stream.sent < 64 * MiB, f"the client sent {stream.sent} bytes before the refusal"
    assert r.status_code == 413 and "JSON body exceeds the limit of 1048576 bytes" in r.json()["error"]
    assert httpx.get(server.url + "/health").status_code == 200


def test_a_base64_payload_may_exceed_the_json_limit(small_limits):
    """Harper's CLI sends payloads as base64 JSON: that string streams to disk, it is not capped."""
    blob = os.urandom(300 * 1024)
    tgz = tgz_of(("package.json", APP["package.json"].encode()), ("blob.bin", blob))
    body = json.dumps({"operation": "deploy_component", "project": "b64", "install_command": "true",
                       "payload": base64.b64encode(tgz).decode()}).replace("/", "\\/")  # as PHP would send it
    assert len(body) > 64 * 1024
    r = post_raw(small_limits, body.encode())
    assert r.status_code == 200, r.text
    assert (small_limits.data_dir / "components" / "b64" / "blob.bin").read_bytes() == blob
    assert not list((small_limits.data_dir / "payloads").glob(".incoming-*"))


def test_json_text_fields_over_the_limit_are_413(small_limits):
    r = deploy_json(small_limits, "p", make_tarball(APP), note="x" * (70 * 1024))
    assert r.status_code == 413 and "JSON body exceeds" in r.json()["error"]
    assert rows(small_limits, "p") == []  # refused before a row exists


def test_json_nested_100k_deep_is_invalid_json(server):
    body = b'{"operation": "list_deployments", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    r = post_raw(server, body)
    assert r.status_code == 400 and r.json() == {"error": "Invalid JSON."}


def test_a_multipart_field_nested_deep_stays_a_string(server):
    boundary = b"b0undary"
    body = multipart(boundary, {"operation": "list_deployments", "deep": "[" * 100_000}) + b"--b0undary--\r\n"
    r = post_raw(server, body, content_type="multipart/form-data; boundary=b0undary")
    assert r.status_code == 200


def test_split_escapes_and_padding_in_a_streamed_base64_payload():
    data = os.urandom(1000)
    text = base64.b64encode(data).replace(b"/", b"\\/")
    for step in (1, 3, 7, 64):
        decoder = Base64Decoder()
        out = b"".join(decoder.decode(text[i:i + step]) for i in range(0, len(text), step))
        decoder.finish()
        assert out == data
    decoder = Base64Decoder()
    with pytest.raises(ValueError):
        decoder.decode(b"AA==AAAA")


def test_a_json_body_keeps_at_most_its_limit_in_memory(tmp_path):
    body = JsonBody(4096, tmp_path)
    with pytest.raises(BodyError) as info:
        for _ in range(100):
            body.feed(b'{"a": [' + b"1," * 1000)
    assert info.value.status_code == 413
    body.discard()
    assert list(tmp_path.iterdir()) == []


def test_a_spool_the_server_cannot_write_is_a_plain_error(tmp_path):
    blocked = tmp_path / "payloads"
    blocked.write_text("a file where the payloads dir belongs")
    body = JsonBody(4096, blocked)
    with pytest.raises(BodyError) as info:
        body.feed(b'{"operation": "deploy_component", "payload": "' + b"A" * 4096)
    assert info.value.status_code == 500 and "could not store the upload" in info.value.message
    assert str(tmp_path) not in info.value.message


def test_spool_files_left_by_a_stopped_server_are_removed_at_start(tmp_path):
    payloads = tmp_path / "data" / "payloads"
    payloads.mkdir(parents=True)
    left = [payloads / ".incoming-abc", payloads / ".pack-def.tar.gz"]
    for path in left:
        path.write_bytes(b"half an upload")
    kept = payloads / "someone-elses.tar.gz"
    kept.write_bytes(b"not a spool")
    srv = start_server(tmp_path / "data")
    try:
        assert not any(path.exists() for path in left) and kept.exists()
    finally:
        srv.stop()


# -- authentication first -------------------------------------------------------------------------


def test_an_anonymous_large_body_is_401_before_any_of_it_is_sent(server):
    """Content-Length says 256 MiB and not one body byte is sent: the answer comes anyway."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=20) as conn:
        conn.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     b"Content-Length: %d\r\n\r\n" % (256 * MiB))
        answer = b""
        while chunk := conn.recv(65536):  # until the server closes the connection
            answer += chunk
    head = answer.split(b"\r\n\r\n")[0].lower()
    assert head.startswith(b"http/1.1 401") and b"connection: close" in head
    assert b'"error"' in answer


def test_an_anonymous_chunked_body_is_401_after_a_few_kib(server):
    warm_up(server)
    stream = CountingStream(b'{"operation": "list_deployments", "pad": "', b"x", 256 * MiB)
    with peak_rss_growth(server) as growth:
        r = post_raw(server, iter(stream), auth=None)
    assert r.status_code == 401
    assert stream.sent < 64 * MiB and growth[0] < BOUNDED_GROWTH_MIB


def test_a_token_request_needs_no_credentials(server):
    r = httpx.post(server.url + "/", json={"operation": "create_authentication_tokens", "username": USER,
                                          "password": PASSWORD})
    assert r.status_code == 200 and r.json()["operation_token"]


# -- multipart ------------------------------------------------------------------------------------


MULTIPART = "multipart/form-data; boundary=b0undary"


@pytest.mark.parametrize(
    "body",
    [b"--b0undary\r\n\x00\x01garbage\xff" * 100,
     b"--b0undary\r\nContent-Disposition: form-data; name=\"operation\"; x=\"" + b"h" * (8 * MiB + 1) + b"\"\r\n\r\n",
     multipart(b"b0undary", {"operation": "deploy_component", "project": "mp", "install_command": "true"},
               make_tarball(APP)) + b"\r\n--b0undary\r\n\x00\x01: garbage where a part header belongs\r\n"],
    ids=["garbage", "part-header-over-8MiB", "garbage-mid-payload"],
)
def test_malformed_multipart_is_400_and_locks_nothing(server, body):
    r = post_raw(server, body, content_type=MULTIPART)
    assert r.status_code == 400
    assert_plain(r.json()["error"], server)
    assert_failed_and_unlocked(server, "mp")


def test_non_ascii_bytes_in_a_part_header_are_read_as_latin_1(server):
    body = b'--b0undary\r\nContent-Disposition: form\xfadata; name="operation"\r\n\r\nlist_deployments\r\n--b0undary--\r\n'
    r = post_raw(server, body, content_type=MULTIPART)
    assert r.status_code == 200 and "deployments" in r.json()


def test_a_boundary_too_long_for_the_parser_is_400(server):
    r = post_raw(server, b"--" + b"b" * 5000 + b"\r\n", content_type="multipart/form-data; boundary=" + "b" * 5000)
    assert r.status_code == 400 and "Malformed multipart body" in r.json()["error"]


# -- member names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name, message",
    [("a/" * 2100 + "f", "is nested 2101 levels deep"),
     ("n" * 300, "has a name part longer than 255 bytes"),
     ("/".join(["d" * 250] * 20), "has a path too long for the file system")],
    ids=["2100-levels", "name-over-NAME_MAX", "path-over-PATH_MAX"],
)
def test_a_member_the_file_system_cannot_take_fails_the_deploy_plainly(server, name, message):
    r = deploy_json(server, "names", tgz_of(("package.json", b"{}"), (name, b"x")))
    assert r.status_code == 400 and message in r.json()["error"]
    assert_plain(r.json()["error"], server)
    assert len(r.json()["error"]) < 500
    assert_failed_and_unlocked(server, "names")
