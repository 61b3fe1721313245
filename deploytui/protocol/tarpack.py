"""The one directory packer of both sides: the same tree always packs to the same bytes.

``deploytui deploy`` (the client) and a ``package: "file:<dir>"`` deploy (the server) pack with
this module, so the server's ``payload_hash`` says whether anything changed however a tree was
sent. It is the one protocol module that reads files: the bytes are part of what both sides agree
on, so they must come from one implementation.

Deterministic by construction: members in sorted order, named relative to the directory (no
wrapper), every mtime set to one fixed date, owner and group cleared, modes normalised to
0644/0755 (0755 for directories, 0777 for links), and a gzip header without a timestamp or file
name. Names in ``exclude`` (by default ``.git`` and ``node_modules``) are left out at any depth: the
target installs dependencies itself, and history is never part of a deploy.

Symlinks are kept as links when they stay inside the directory (an absolute one is rewritten as
relative, so it still points at the same file once extracted elsewhere); one that leads outside is
refused with :class:`PackError`, since its target would not travel and safe extraction would
reject it anyway. A socket, named pipe or device is refused too: it has no content to send, and
the server's extraction refuses such members.

:func:`iter_entries` walks lazily (so a caller with limits can stop early), :func:`scan_directory`
collects a :class:`PackPlan` (whose byte count lets a caller show progress), :func:`write_tarball`
streams a plan to any binary file, and :func:`pack_directory` does it all in memory.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

__all__ = [
    "EXCLUDED_NAMES", "FIXED_MTIME", "MAX_DEPTH", "Output", "PackEntry", "PackError", "PackPlan", "UnreadableEntry",
    "iter_entries", "pack_directory", "package_root", "scan_directory", "write_tarball",
]

# Left out wherever they appear, unless a caller says otherwise.
EXCLUDED_NAMES = frozenset({".git", "node_modules"})
# Every member's mtime: 1985-10-26 08:15 UTC, the date npm pack uses, so archives are reproducible.
FIXED_MTIME = 499162500
# Deeper trees are refused: nothing real nests this far, and the server refuses to extract deeper.
MAX_DEPTH = 128

ProgressCallback = Callable[[int, int], None]


class Output(Protocol):
    """Where :func:`write_tarball` streams the archive: a binary file, or a wrapper holding it to a limit."""

    def write(self, data: bytes, /) -> int: ...

    def flush(self) -> None: ...


class PackError(Exception):
    """The directory cannot be packed: not a directory, too deep, a symlink leading outside, a
    socket/pipe/device, a file that changed while it was packed, or an entry that could not be read
    (:class:`UnreadableEntry`). The message names the entry relative to the directory."""


class UnreadableEntry(PackError):
    """Reading the directory failed; ``error`` is the ``OSError`` (writing the output is not this)."""

    def __init__(self, message: str, error: OSError) -> None:
        super().__init__(message)
        self.error = error


@dataclass(frozen=True, slots=True)
class PackEntry:
    """One member to pack: its path on disk, its name in the archive, its kind and size."""

    path: Path
    arcname: str
    kind: str  # "file" | "dir" | "symlink"
    size: int = 0
    executable: bool = False
    link_target: str | None = None


@dataclass(frozen=True, slots=True)
class PackPlan:
    """What :func:`write_tarball` will write: the entries in order and their total file bytes."""

    root: Path
    entries: tuple[PackEntry, ...]
    total_bytes: int

    @property
    def file_count(self) -> int:
        """How many regular files the archive holds."""
        return sum(1 for e in self.entries if e.kind == "file")


def package_root(path: str | os.PathLike[str]) -> Path:
    """``path`` (``~`` expanded) resolved, once checked to be a directory; PackError otherwise."""
    given = Path(path).expanduser()
    if not given.is_dir():
        what = "does not exist" if not given.exists() else "is not a directory"
        raise PackError(f"{given} {what}")
    return given.resolve()


def iter_entries(root: Path, exclude: Collection[str] = EXCLUDED_NAMES) -> Iterator[PackEntry]:
    """Every entry under the directory ``root`` (from :func:`package_root`), sorted, depth first,
    names in ``exclude`` left out, every symlink checked; lazily, so a caller can stop early."""

    def walk(directory: Path, depth: int) -> Iterator[PackEntry]:
        if depth > MAX_DEPTH:
            raise PackError(f"the package nests deeper than {MAX_DEPTH} levels")
        try:
            children = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise UnreadableEntry(f"cannot read {directory}: {exc.strerror or exc}", exc) from None
        for child in children:
            if child.name in exclude:
                continue
            entry_path = Path(child.path)
            arcname = entry_path.relative_to(root).as_posix()
            try:
                st = child.stat(follow_symlinks=False)
            except OSError as exc:
                raise UnreadableEntry(f"cannot read {arcname}: {exc.strerror or exc}", exc) from None
            if stat.S_ISLNK(st.st_mode):
                yield PackEntry(entry_path, arcname, "symlink", link_target=_link_target(root, entry_path))
            elif stat.S_ISDIR(st.st_mode):
                yield PackEntry(entry_path, arcname, "dir")
                yield from walk(entry_path, depth + 1)
            elif stat.S_ISREG(st.st_mode):
                yield PackEntry(entry_path, arcname, "file", st.st_size, bool(st.st_mode & 0o111))
            else:
                raise PackError(f"{arcname} is {_special_kind(st.st_mode)}: only files, directories and "
                                "symlinks can be packed; remove it")

    return walk(root, 1)


def scan_directory(path: str | os.PathLike[str], *, exclude: Collection[str] = EXCLUDED_NAMES) -> PackPlan:
    """Walk ``path`` (see :func:`iter_entries`) and say what packing it will write."""
    root = package_root(path)
    entries = tuple(iter_entries(root, exclude))
    return PackPlan(root, entries, sum(e.size for e in entries))


def write_tarball(plan: PackPlan, out: Output, on_progress: ProgressCallback | None = None) -> None:
    """Stream the tar.gz of ``plan`` to ``out`` (never the whole pack in memory).

    ``on_progress(bytes_packed, total_bytes)`` follows the file bytes read. A file whose size is
    not the planned one raises :class:`PackError` (the archive would not match the plan); a failed
    read raises :class:`UnreadableEntry`, a failed write to ``out`` its own ``OSError``.
    """
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(done, plan.total_bytes)

    # filename="": no name of ``out`` (a spool file's, say) in the header, or the bytes would differ.
    with gzip.GzipFile(filename="", fileobj=out, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as archive:
            if on_progress:
                on_progress(0, plan.total_bytes)
            for entry in plan.entries:
                info = _tarinfo(entry)
                if entry.kind != "file":
                    archive.addfile(info)
                    continue
                with _open_planned(entry) as handle:
                    archive.addfile(info, _Reading(handle, entry.arcname, tick))  # type: ignore[arg-type]


def pack_directory(
    path: str | os.PathLike[str], *, exclude: Collection[str] = EXCLUDED_NAMES, plan: PackPlan | None = None,
    on_progress: ProgressCallback | None = None,
) -> bytes:
    """The reproducible tar.gz of the directory ``path``, in memory.

    ``plan`` reuses a :func:`scan_directory` result (``exclude`` is then already applied).
    """
    plan = scan_directory(path, exclude=exclude) if plan is None else plan
    buffer = io.BytesIO()
    write_tarball(plan, buffer, on_progress)
    return buffer.getvalue()


def _inside(root: Path, target: Path) -> bool:
    try:
        target.relative_to(root)
    except ValueError:
        return False
    return True


def _link_target(root: Path, link: Path) -> str:
    """The link's target, relative, once checked to stay inside ``root``; PackError otherwise."""
    raw = os.readlink(link)
    absolute = Path(os.path.normpath(link.parent / raw)) if not os.path.isabs(raw) else Path(os.path.normpath(raw))
    # Resolve what exists (a link to a link out must not pass), keep the lexical path otherwise.
    resolved = absolute.resolve() if absolute.exists() or absolute.is_symlink() else absolute
    if not (_inside(root, absolute) and _inside(root, resolved)):
        shown = link.relative_to(root).as_posix()
        raise PackError(f"{shown} is a symlink to {raw}, outside {root}; copy the file in or remove the link")
    return os.path.relpath(absolute, link.parent).replace(os.sep, "/")


def _special_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a named pipe"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "a device file"


def _tarinfo(entry: PackEntry) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.arcname)
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    if entry.kind == "dir":
        info.type, info.mode = tarfile.DIRTYPE, 0o755
    elif entry.kind == "symlink":
        info.type, info.mode, info.linkname = tarfile.SYMTYPE, 0o777, entry.link_target or ""
    else:
        info.type, info.mode, info.size = tarfile.REGTYPE, 0o755 if entry.executable else 0o644, entry.size
    return info


def _open_planned(entry: PackEntry) -> io.BufferedReader:
    """The planned file, open for reading, once checked to still have its planned size."""
    try:
        handle = open(entry.path, "rb")  # noqa: SIM115 - closed by the caller's with
        size = os.fstat(handle.fileno()).st_size
    except OSError as exc:
        raise UnreadableEntry(f"cannot read {entry.arcname}: {exc.strerror or exc}", exc) from None
    if size != entry.size:
        handle.close()
        raise PackError(f"{entry.arcname} changed while it was being packed; try again")
    return handle


class _Reading(io.RawIOBase):
    """A planned file as tarfile reads it: counts bytes for progress, and tells a failed read
    (:class:`UnreadableEntry`) from a failed write of the archive."""

    def __init__(self, handle: io.BufferedReader, arcname: str, tick: Callable[[int], None]) -> None:
        self._handle, self._arcname, self._tick = handle, arcname, tick

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            data = self._handle.read(size)
        except OSError as exc:
            raise UnreadableEntry(f"cannot read {self._arcname}: {exc.strerror or exc}", exc) from None
        self._tick(len(data))
        return data
