"""Packing a component directory into the gzipped tarball ``deploy_component`` uploads.

The same tree always packs to the same bytes (so the server's ``payload_hash`` says whether anything
changed): members in sorted order, named relative to the directory (no wrapper), every mtime set to
one fixed date, owner and group cleared, modes normalised to 0644/0755, and a gzip header without
a timestamp or file name. ``.git`` and ``node_modules`` are left out at any depth: the server
installs dependencies itself, and history is never part of a deploy.

Symlinks are kept as links when they stay inside the directory (an absolute one is rewritten as
relative, so it still points at the same file once extracted elsewhere); one that leads outside is
refused with :class:`PackError`, since its target would not travel and the server's safe extraction
would reject it anyway. Sockets, FIFOs and devices are skipped.

:func:`scan_directory` walks the tree first, so a caller knows the byte count before packing and can
show progress; the TUI's deploy form uses the same two calls.
"""

from __future__ import annotations

import gzip
import io
import os
import stat
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from deploytui.client.errors import DeploytuiError

__all__ = ["PackError", "PackEntry", "PackPlan", "EXCLUDED_NAMES", "FIXED_MTIME", "scan_directory", "pack_directory"]

# Left out wherever they appear.
EXCLUDED_NAMES = frozenset({".git", "node_modules"})
# Every member's mtime: 1985-10-26 08:15 UTC, the date npm pack uses, so archives are reproducible.
FIXED_MTIME = 499162500

ProgressCallback = Callable[[int, int], None]


class PackError(DeploytuiError):
    """The directory cannot be packed: not a directory, unreadable, or a symlink leading outside."""


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
    """What :func:`pack_directory` will write: the entries in order and their total file bytes."""

    root: Path
    entries: tuple[PackEntry, ...]
    total_bytes: int

    @property
    def file_count(self) -> int:
        """How many regular files the archive holds."""
        return sum(1 for e in self.entries if e.kind == "file")


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


def scan_directory(path: str | os.PathLike[str]) -> PackPlan:
    """Walk ``path`` (sorted, depth first, exclusions left out) and check every symlink."""
    given = Path(path).expanduser()
    if not given.is_dir():
        what = "does not exist" if not given.exists() else "is not a directory"
        raise PackError(f"{given} {what}")
    root = given.resolve()
    entries: list[PackEntry] = []
    total = 0

    def walk(directory: Path) -> None:
        nonlocal total
        try:
            children = sorted(os.scandir(directory), key=lambda e: e.name)
        except OSError as exc:
            raise PackError(f"cannot read {directory}: {exc.strerror or exc}") from None
        for child in children:
            if child.name in EXCLUDED_NAMES:
                continue
            entry_path = Path(child.path)
            arcname = entry_path.relative_to(root).as_posix()
            st = child.stat(follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                entries.append(PackEntry(entry_path, arcname, "symlink", link_target=_link_target(root, entry_path)))
            elif stat.S_ISDIR(st.st_mode):
                entries.append(PackEntry(entry_path, arcname, "dir"))
                walk(entry_path)
            elif stat.S_ISREG(st.st_mode):
                entries.append(PackEntry(entry_path, arcname, "file", st.st_size, bool(st.st_mode & 0o111)))
                total += st.st_size

    walk(root)
    return PackPlan(root, tuple(entries), total)


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


class _Counting(io.RawIOBase):
    """A file wrapper that reports bytes read, for packing progress."""

    def __init__(self, handle: io.BufferedReader, tick: Callable[[int], None]) -> None:
        self._handle, self._tick = handle, tick

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        data = self._handle.read(size)
        self._tick(len(data))
        return data


def pack_directory(
    path: str | os.PathLike[str], *, plan: PackPlan | None = None, on_progress: ProgressCallback | None = None
) -> bytes:
    """The reproducible tar.gz of the directory ``path``.

    ``plan`` reuses a :func:`scan_directory` result; ``on_progress(bytes_packed, total_bytes)``
    follows the file bytes read. Raises :class:`PackError` (a file that changed size while packing
    included: the archive would not match what was scanned).
    """
    plan = scan_directory(path) if plan is None else plan
    done = 0

    def tick(n: int) -> None:
        nonlocal done
        done += n
        if on_progress:
            on_progress(done, plan.total_bytes)

    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", fileobj=buffer, mode="wb", mtime=0) as gz:
        with tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as archive:
            if on_progress:
                on_progress(0, plan.total_bytes)
            for entry in plan.entries:
                info = _tarinfo(entry)
                if entry.kind != "file":
                    archive.addfile(info)
                    continue
                try:
                    with open(entry.path, "rb") as handle:
                        if os.fstat(handle.fileno()).st_size != entry.size:
                            raise PackError(f"{entry.arcname} changed while it was being packed; try again")
                        archive.addfile(info, _Counting(handle, tick))  # type: ignore[arg-type]
                except OSError as exc:
                    raise PackError(f"cannot read {entry.arcname}: {exc.strerror or exc}") from None
    return buffer.getvalue()
