"""The client packer: same tree, same bytes; exclusions; symlinks kept inside, refused outside."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest

from deploytui.client.pack import FIXED_MTIME, PackError, pack_directory, scan_directory


def make_tree(root: Path) -> Path:
    (root / "lib").mkdir(parents=True)
    (root / "package.json").write_text('{"name": "app"}')
    (root / "lib" / "index.js").write_text("export default 1;\n")
    (root / "run.sh").write_text("#!/bin/sh\n")
    (root / "run.sh").chmod(0o755)
    (root / "empty").mkdir()
    for excluded in (".git/objects", "node_modules/left-pad", "lib/node_modules/x", "lib/.git"):
        (root / excluded).mkdir(parents=True)
        (root / excluded / "file").write_text("must not ship")
    return root


def members(data: bytes) -> dict[str, tarfile.TarInfo]:
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: m for m in tar.getmembers()}


def test_same_tree_same_bytes(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "app")
    first = pack_directory(root)
    os.utime(root / "package.json", (1, 1))  # mtimes do not matter
    (root / "lib" / "index.js").touch()
    assert pack_directory(root) == first
    # a copy elsewhere packs to the very same bytes (names are relative, no wrapper directory)
    other = make_tree(tmp_path / "elsewhere" / "copy")
    assert pack_directory(other) == first


def test_content_changes_change_bytes(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "app")
    first = pack_directory(root)
    (root / "lib" / "index.js").write_text("export default 2;\n")
    assert pack_directory(root) != first


def test_exclusions_order_and_metadata(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "app")
    found = members(pack_directory(root))
    assert list(found) == ["empty", "lib", "lib/index.js", "package.json", "run.sh"]
    assert all(m.mtime == FIXED_MTIME and m.uid == 0 and m.gid == 0 and m.uname == "" for m in found.values())
    assert found["run.sh"].mode == 0o755 and found["package.json"].mode == 0o644
    assert found["lib"].isdir() and found["lib"].mode == 0o755


def test_gzip_header_has_no_time_or_name(tmp_path: Path) -> None:
    data = pack_directory(make_tree(tmp_path / "app"))
    assert data[:2] == b"\x1f\x8b"
    assert data[4:8] == b"\0\0\0\0"  # MTIME
    assert data[3] & 0x08 == 0  # no FNAME


def test_size_count_and_progress(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "app")
    plan = scan_directory(root)
    expected = sum(len((root / n).read_bytes()) for n in ("package.json", "lib/index.js", "run.sh"))
    assert plan.total_bytes == expected and plan.file_count == 3
    seen: list[tuple[int, int]] = []
    pack_directory(root, plan=plan, on_progress=lambda done, total: seen.append((done, total)))
    assert seen[0] == (0, expected) and seen[-1] == (expected, expected)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_symlink_inside_is_kept_relative(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "app")
    (root / "link-rel").symlink_to("lib/index.js")
    (root / "lib" / "link-abs").symlink_to(root / "package.json")  # absolute, but inside
    found = members(pack_directory(root))
    assert found["link-rel"].issym() and found["link-rel"].linkname == "lib/index.js"
    assert found["lib/link-abs"].linkname == "../package.json"


@pytest.mark.parametrize("target", ["../../outside.txt", "/etc/passwd"])
def test_symlink_outside_is_refused(tmp_path: Path, target: str) -> None:
    root = make_tree(tmp_path / "app")
    (tmp_path / "outside.txt").write_text("secret")
    (root / "lib" / "escape").symlink_to(target)
    with pytest.raises(PackError, match=r"lib/escape is a symlink to .*outside"):
        pack_directory(root)


def test_symlink_chain_leading_out_is_refused(tmp_path: Path) -> None:
    root = make_tree(tmp_path / "app")
    (root / "hop").symlink_to(tmp_path)  # itself outside
    (root / "inner").symlink_to("hop")  # inside lexically, outside once resolved
    with pytest.raises(PackError):
        pack_directory(root)


def test_not_a_directory(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("x")
    with pytest.raises(PackError, match="is not a directory"):
        pack_directory(tmp_path / "file")
    with pytest.raises(PackError, match="does not exist"):
        pack_directory(tmp_path / "missing")


def test_a_named_pipe_is_refused_by_name(tmp_path: Path) -> None:
    """Nothing to send and nothing the server would extract: refused, never waited on."""
    root = make_tree(tmp_path / "app")
    os.mkfifo(root / "lib" / "pipe")
    with pytest.raises(PackError, match="lib/pipe is a named pipe"):
        scan_directory(root)
