"""Safe extraction refuses every hostile archive and writes nothing outside the target; packing is
deterministic (the same bytes from the server's and the client's path) and leaves out .git and
node_modules."""

from __future__ import annotations

import gzip
import io
import os
import tarfile
from pathlib import Path

import pytest

from deploytui.client import pack as client_pack
from deploytui.protocol.tarpack import FIXED_MTIME, PackError
from deploytui.server.tarball import (
    BadTarball,
    PackLimits,
    TarballTooLarge,
    UnsafeTarball,
    extract_tarball,
    pack_directory_to,
)

LIMITS = dict(max_unpacked_bytes=10_000_000, max_members=1000)
PACK_LIMITS = PackLimits(max_packed_bytes=10_000_000, **LIMITS)


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _link(name: str, target: str, kind: bytes = tarfile.SYMTYPE) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _dir(name: str) -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    return info, None


def make_tgz(path: Path, members: list[tuple[tarfile.TarInfo, bytes | None]]) -> Path:
    with tarfile.open(path, "w:gz", format=tarfile.GNU_FORMAT) as archive:
        for info, data in members:
            archive.addfile(info, io.BytesIO(data) if data is not None else None)
    return path


@pytest.fixture
def sandbox(tmp_path: Path) -> tuple[Path, Path]:
    """A parent directory holding only `dest`, so anything written beside it is visible."""
    parent = tmp_path / "sandbox"
    parent.mkdir()
    return parent, parent / "dest"


def _outside_untouched(parent: Path, dest: Path) -> None:
    assert [p.name for p in parent.iterdir()] in ([], ["dest"]), list(parent.iterdir())
    assert not dest.exists(), "a refused extraction leaves no partial release"


HOSTILE = {
    "path escape": [_file("ok.txt"), _file("../evil.txt")],
    "deep escape": [_file("a/../../evil.txt")],
    "absolute path": [_file("/tmp/deploytui-evil.txt")],
    "symlink out (absolute)": [_link("link", "/etc")],
    "symlink out (relative)": [_link("link", "../../etc/passwd")],
    "hardlink out": [_link("hard", "../evil.txt", tarfile.LNKTYPE)],
}


@pytest.mark.parametrize("case", list(HOSTILE))
def test_hostile_members_are_refused(tmp_path: Path, sandbox: tuple[Path, Path], case: str) -> None:
    parent, dest = sandbox
    tgz = make_tgz(tmp_path / "evil.tgz", HOSTILE[case])
    with pytest.raises(UnsafeTarball) as info:
        extract_tarball(tgz, dest, **LIMITS)
    assert info.value.status_code == 400 and info.value.message
    _outside_untouched(parent, dest)
    assert not Path("/tmp/deploytui-evil.txt").exists()


def test_device_file_is_refused(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    parent, dest = sandbox
    device = tarfile.TarInfo("null")
    device.type = tarfile.CHRTYPE
    device.devmajor, device.devminor = 1, 3
    with pytest.raises(UnsafeTarball, match="null"):
        extract_tarball(make_tgz(tmp_path / "dev.tgz", [(device, None)]), dest, **LIMITS)
    _outside_untouched(parent, dest)


def test_write_through_a_planted_symlink_is_refused(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    """An in-tree symlink to the parent passes the header check; writing through it must not."""
    parent, dest = sandbox
    (tmp_path / "outside").mkdir()
    rel = os.path.relpath(tmp_path / "outside", dest / "sub")
    members = [_dir("sub"), _link("sub/up", rel), _file("sub/up/evil.txt")]
    with pytest.raises(UnsafeTarball):
        extract_tarball(make_tgz(tmp_path / "plant.tgz", members), dest, **LIMITS)
    assert not (tmp_path / "outside" / "evil.txt").exists()
    _outside_untouched(parent, dest)


def test_too_many_members(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    parent, dest = sandbox
    tgz = make_tgz(tmp_path / "many.tgz", [_file(f"f{i}") for i in range(11)])
    with pytest.raises(TarballTooLarge, match="more than 10 members") as info:
        extract_tarball(tgz, dest, max_unpacked_bytes=10_000, max_members=10)
    assert info.value.status_code == 413
    _outside_untouched(parent, dest)


def test_too_many_bytes(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    parent, dest = sandbox
    tgz = make_tgz(tmp_path / "big.tgz", [_file("a", b"a" * 600), _file("b", b"b" * 600)])
    with pytest.raises(TarballTooLarge, match="1000 bytes"):
        extract_tarball(tgz, dest, max_unpacked_bytes=1000, max_members=10)
    _outside_untouched(parent, dest)


def test_at_the_limits_is_fine(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    _, dest = sandbox
    tgz = make_tgz(tmp_path / "edge.tgz", [_file("a", b"a" * 500), _file("b", b"b" * 500)])
    result = extract_tarball(tgz, dest, max_unpacked_bytes=1000, max_members=2)
    assert (result.members, result.unpacked_bytes) == (2, 1000)


def test_not_a_tarball(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    parent, dest = sandbox
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(b"this is not a tarball at all\n" * 20)
    with pytest.raises(BadTarball) as info:
        extract_tarball(junk, dest, **LIMITS)
    assert info.value.status_code == 400
    _outside_untouched(parent, dest)


def test_gzip_of_non_tar(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    parent, dest = sandbox
    junk = tmp_path / "junk.tgz"
    junk.write_bytes(gzip.compress(os.urandom(3000)))
    with pytest.raises(BadTarball):
        extract_tarball(junk, dest, **LIMITS)
    _outside_untouched(parent, dest)


def test_truncated_gzip(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    parent, dest = sandbox
    whole = make_tgz(tmp_path / "whole.tgz", [_file("big.bin", os.urandom(200_000))]).read_bytes()
    cut = tmp_path / "cut.tgz"
    cut.write_bytes(whole[: len(whole) // 2])
    with pytest.raises(BadTarball):
        extract_tarball(cut, dest, **LIMITS)
    _outside_untouched(parent, dest)


def test_empty_file_is_not_a_tarball(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    empty = tmp_path / "empty.tgz"
    empty.write_bytes(b"")
    with pytest.raises(BadTarball):
        extract_tarball(empty, sandbox[1], **LIMITS)


def test_normal_tarball_extracts_byte_for_byte(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    src = tmp_path / "src"
    (src / "lib" / "deep").mkdir(parents=True)
    files = {
        "package.json": b'{"name": "x", "version": "1.0.0"}',
        "lib/index.js": b"module.exports = 1;\n",
        "lib/deep/blob.bin": os.urandom(300_000),
    }
    for name, data in files.items():
        (src / name).write_bytes(data)
    os.symlink("index.js", src / "lib" / "alias.js")  # an in-tree link is allowed
    tgz = tmp_path / "ok.tgz"
    pack_directory_to(src, tgz, PACK_LIMITS)
    result = extract_tarball(tgz, sandbox[1], **LIMITS)
    assert result.root == sandbox[1]
    for name, data in files.items():
        assert (result.root / name).read_bytes() == data
    assert os.readlink(result.root / "lib" / "alias.js") == "index.js"
    assert result.unpacked_bytes == sum(len(d) for d in files.values())


def test_single_top_level_directory_is_the_root(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    """npm pack wraps the component in `package/` (without a directory entry)."""
    tgz = make_tgz(tmp_path / "npm.tgz", [_file("package/package.json", b"{}"), _file("package/lib/a.js")])
    result = extract_tarball(tgz, sandbox[1], **LIMITS)
    assert result.root == sandbox[1] / "package"
    assert (result.root / "package.json").read_bytes() == b"{}"


def test_dot_prefixed_members_and_a_single_dir(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    tgz = make_tgz(tmp_path / "dot.tgz", [_dir("./"), _dir("./app"), _file("./app/package.json", b"{}")])
    assert extract_tarball(tgz, sandbox[1], **LIMITS).root == sandbox[1] / "app"


@pytest.mark.parametrize(
    "members",
    [
        [_file("package/package.json"), _file("README.md")],  # a file beside the directory
        [_file("a/x"), _file("b/y")],  # two directories
        [_file("package")],  # a single top-level file
    ],
)
def test_no_wrapper_directory(tmp_path: Path, sandbox: tuple[Path, Path], members: list) -> None:
    tgz = make_tgz(tmp_path / "flat.tgz", members)
    assert extract_tarball(tgz, sandbox[1], **LIMITS).root == sandbox[1]


def test_dest_must_be_empty(tmp_path: Path, sandbox: tuple[Path, Path]) -> None:
    _, dest = sandbox
    dest.mkdir()
    (dest / "existing").write_text("keep me")
    tgz = make_tgz(tmp_path / "ok.tgz", [_file("a")])
    with pytest.raises(ValueError):
        extract_tarball(tgz, dest, **LIMITS)
    assert (dest / "existing").read_text() == "keep me"


def _packed_by_server(src: Path, out: Path) -> bytes:
    size = pack_directory_to(src, out, PACK_LIMITS)
    assert size == out.stat().st_size
    return out.read_bytes()


def test_pack_leaves_out_git_and_node_modules_and_is_deterministic(tmp_path: Path) -> None:
    src = tmp_path / "src"
    for rel in ("b.txt", "a/z.txt", "a/y.txt", ".git/HEAD", "node_modules/dep/index.js", "a/node_modules/x"):
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(rel)
    first = _packed_by_server(src, tmp_path / "first.tgz")
    with tarfile.open(fileobj=io.BytesIO(first)) as archive:
        names = archive.getnames()
        assert all(m.uid == 0 and m.uname == "" and m.mtime == FIXED_MTIME for m in archive.getmembers())
    assert names == ["a", "a/y.txt", "a/z.txt", "b.txt"]


def test_same_tree_same_bytes_on_the_server_and_the_client_path(tmp_path: Path) -> None:
    """Packed twice, with other mtimes and another output file name in between, by the server's
    path (to a file, within limits) and the client's (in memory): the very same bytes each time."""
    src = tmp_path / "src"
    (src / "lib").mkdir(parents=True)
    (src / "package.json").write_text('{"name": "x", "version": "1.0.0"}')
    (src / "lib" / "index.js").write_text("module.exports = 1;\n")
    (src / "run.sh").write_text("#!/bin/sh\n")
    (src / "run.sh").chmod(0o750)
    os.symlink("index.js", src / "lib" / "alias.js")
    by_server = _packed_by_server(src, tmp_path / "a.tgz")
    by_client = client_pack.pack_directory(src)
    for path in (src / "package.json", src / "lib" / "index.js", src / "lib", src):
        os.utime(path, (1_000_000, 1_000_000))
    (src / "package.json").chmod(0o600)  # modes are normalised too
    assert _packed_by_server(src, tmp_path / "a-spool-with-another-name.tgz") == by_server
    assert client_pack.pack_directory(src) == by_server
    assert by_client == by_server


def test_pack_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(PackError, match="is not a directory"):
        pack_directory_to(tmp_path / "f", tmp_path / "out.tgz", PACK_LIMITS)
