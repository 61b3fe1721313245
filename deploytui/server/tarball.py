"""Safe extraction of uploaded component tarballs, and packing a directory into one.

An uploaded payload is untrusted: it may try to write outside the release directory (absolute
paths, ``..``, links leading out), create devices, or expand into more files or bytes than the disk
should take. :func:`extract_tarball` checks every member with the standard library's ``data`` filter
and the size/count limits *before* writing anything, then extracts with the same filter (which also
re-checks each member against what is already on disk, so a symlink planted by one member cannot be
used by a later one). Anything refused raises a typed :class:`TarballError` carrying an HTTP status.

:func:`pack_directory` is the server-side packer for ``package: "file:<dir>"`` deploys and the bundled
demos; the client has its own.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import tarfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

# Directories never worth shipping: VCS metadata and installed dependencies (the target installs).
PACK_EXCLUDES = frozenset({".git", "node_modules"})


class TarballError(Exception):
    """A payload the server will not extract; ``status_code`` is what the API answers with."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadTarball(TarballError):
    """Not a (gzipped) tar archive at all, or a damaged one (e.g. truncated gzip)."""


class UnsafeTarball(TarballError):
    """A well-formed archive with a hostile member: path escape, link out, device file."""


class TarballTooLarge(UnsafeTarball):
    """More members or more unpacked bytes than the server's limits allow."""

    status_code = 413


@dataclass(frozen=True, slots=True)
class ExtractedTarball:
    """What :func:`extract_tarball` produced: the component root and what it wrote."""

    root: Path
    members: int
    unpacked_bytes: int


# Errors the tarfile/gzip/zlib stack raises on a damaged or non-tar stream.
_DAMAGED = (tarfile.ReadError, tarfile.CompressionError, EOFError, zlib.error, gzip.BadGzipFile)


def extract_tarball(
    path: str | os.PathLike[str],
    dest: str | os.PathLike[str],
    *,
    max_unpacked_bytes: int,
    max_members: int,
) -> ExtractedTarball:
    """Extract the (gzipped) tarball at ``path`` into ``dest`` and return the component root.

    ``dest`` is created if missing and must be empty. Every member is checked before anything is
    written; on any refusal ``dest`` is removed again, so a failed extraction leaves no partial
    release behind. When the archive holds exactly one top-level directory and nothing else (``npm
    pack`` wraps everything in ``package/``), that directory is the root.
    """
    dest_path = Path(dest)
    dest_path.mkdir(parents=True, exist_ok=True)
    if any(dest_path.iterdir()):
        raise ValueError(f"extraction target {dest_path} is not empty")
    dest_real = os.path.realpath(dest_path)
    try:
        with _open(path) as archive:
            members, total = _check_members(archive, dest_real, max_unpacked_bytes, max_members)
            archive.extractall(dest_real, members=members, filter="data")
    except tarfile.FilterError as exc:  # raised at extraction time, e.g. a path through a symlink
        shutil.rmtree(dest_path, ignore_errors=True)
        raise UnsafeTarball(f"unsafe tarball: {exc}") from exc
    except _DAMAGED as exc:
        shutil.rmtree(dest_path, ignore_errors=True)
        raise BadTarball(f"not a valid tar.gz archive: {exc or type(exc).__name__}") from exc
    except BaseException:
        shutil.rmtree(dest_path, ignore_errors=True)
        raise
    return ExtractedTarball(root=_component_root(dest_path, members), members=len(members), unpacked_bytes=total)


def _open(path: str | os.PathLike[str]) -> tarfile.TarFile:
    """Open a tar archive, gzipped or not; a non-archive becomes :class:`BadTarball`."""
    try:
        return tarfile.open(path, mode="r:*")
    except _DAMAGED as exc:
        raise BadTarball(f"not a valid tar.gz archive: {exc or type(exc).__name__}") from exc


def _check_members(
    archive: tarfile.TarFile, dest_real: str, max_bytes: int, max_members: int
) -> tuple[list[tarfile.TarInfo], int]:
    """Walk the member headers once, refusing before any byte is written.

    Limits are checked as each header is read, so a hostile archive is refused before the reader
    has to decompress past a huge declared member.
    """
    members: list[tarfile.TarInfo] = []
    total = 0
    for member in archive:
        if len(members) >= max_members:
            raise TarballTooLarge(f"tarball has more than {max_members} members")
        if member.name.startswith(("/", "\\")):
            # The data filter would quietly strip the slash; an archive built that way is refused.
            raise UnsafeTarball(f"unsafe tarball member {member.name!r}: absolute path")
        try:
            tarfile.data_filter(member, dest_real)
        except tarfile.FilterError as exc:
            raise UnsafeTarball(f"unsafe tarball member {member.name!r}: {exc}") from exc
        if member.isfile():
            total += member.size
            if total > max_bytes:
                raise TarballTooLarge(f"tarball unpacks to more than {max_bytes} bytes")
        members.append(member)
    return members, total


def _component_root(dest: Path, members: list[tarfile.TarInfo]) -> Path:
    """``dest``, or its single top-level directory when the archive wraps everything in one."""
    tops: set[str] = set()
    for member in members:
        parts = [p for p in member.name.replace("\\", "/").split("/") if p not in ("", ".")]
        if not parts:
            continue  # the "./" entry of `tar -C dir .`
        if len(parts) == 1 and not member.isdir():
            return dest  # a file (or link) at the top level: no wrapper directory
        tops.add(parts[0])
    if len(tops) == 1:
        candidate = dest / next(iter(tops))
        if candidate.is_dir() and not candidate.is_symlink():
            return candidate
    return dest


def pack_directory(src: str | os.PathLike[str]) -> bytes:
    """A tar.gz of ``src`` as bytes (see :func:`write_tarball`)."""
    buffer = io.BytesIO()
    write_tarball(src, buffer)
    return buffer.getvalue()


def pack_directory_to(src: str | os.PathLike[str], out: str | os.PathLike[str]) -> int:
    """Write a tar.gz of ``src`` to the file ``out``; returns its size in bytes."""
    with open(out, "wb") as handle:
        write_tarball(src, handle)
        return handle.tell()


def write_tarball(src: str | os.PathLike[str], out: BinaryIO) -> None:
    """Write a tar.gz of the directory ``src`` to ``out``.

    Members are named relative to ``src`` (no wrapper directory), in sorted order, with owner and
    group cleared and a zero gzip timestamp, so the same tree packs to the same bytes and hash.
    ``.git`` and ``node_modules`` are left out at any depth; symlinks are stored as links.
    """
    root = Path(src)
    if not root.is_dir():
        raise NotADirectoryError(f"{root} is not a directory")
    with gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for path in _walk_sorted(root):
                archive.add(path, arcname=path.relative_to(root).as_posix(), recursive=False, filter=_anonymise)


def _walk_sorted(root: Path) -> Iterator[Path]:
    """Every entry under ``root`` in sorted, depth-first order, skipping :data:`PACK_EXCLUDES`."""
    for entry in sorted(root.iterdir(), key=lambda p: p.name):
        if entry.name in PACK_EXCLUDES:
            continue
        yield entry
        if entry.is_dir() and not entry.is_symlink():
            yield from _walk_sorted(entry)


def _anonymise(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
