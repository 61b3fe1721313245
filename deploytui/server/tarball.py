"""Safe extraction of uploaded component tarballs, and packing a directory into one.

An uploaded payload is untrusted: it may try to write outside the release directory (absolute
paths, ``..``, links leading out), create devices, or expand into more files or bytes than the disk
should take. :func:`extract_tarball` checks every member with the standard library's ``data`` filter
and the size/count limits *before* writing anything, then extracts with the same filter (which also
re-checks each member against what is already on disk, so a symlink planted by one member cannot be
used by a later one). Anything refused raises a typed :class:`TarballError` carrying an HTTP status.

Nothing in the archive is trusted before it is counted: extended headers (pax ``x``/``g``, GNU
``L``/``K`` long names) are refused over :data:`MAX_EXTENDED_HEADER_BYTES` *before* tarfile reads
them into memory, every header byte counts against the unpacked limit with the members' data, and
names deeper than :data:`MAX_MEMBER_DEPTH` levels or longer than the file system takes are refused
before anything is written. Messages name members relative to the release (``releases/<id>/…``),
never by the server's absolute paths.

:func:`pack_directory_to` packs a ``package: "file:<dir>"`` deploy's directory within the server's
limits, with the packer the client uses too (:mod:`deploytui.protocol.tarpack`), so the same tree
gives the same payload, and hash, whichever side packed it.
"""

from __future__ import annotations

import errno
import gzip
import os
import shutil
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from deploytui.protocol.tarpack import MAX_DEPTH, PackPlan, iter_entries, package_root, write_tarball

# One pax/GNU extended header (a long name, a pax record set) may hold at most this much: tarfile
# reads a whole extended header into memory, so its declared size is checked before that happens.
MAX_EXTENDED_HEADER_BYTES = 1024 * 1024
# Global pax headers accumulate for the whole archive: their total is held to the same cap.
MAX_GLOBAL_HEADER_BYTES = MAX_EXTENDED_HEADER_BYTES
# Extended headers in a row before one member (pax, long name, long link name need three).
MAX_CHAINED_HEADERS = 8
# Deeper member paths are refused: nothing real nests this far, and removing a tree that deep
# recurses past Python's limit. The packer refuses the same depth.
MAX_MEMBER_DEPTH = MAX_DEPTH
# Shown member names are cut to this many characters, so a hostile name cannot flood a message.
SHOWN_NAME_CHARS = 120
_EXTENDED_TYPES = (tarfile.XHDTYPE, tarfile.XGLTYPE, tarfile.SOLARIS_XHDTYPE, tarfile.GNUTYPE_LONGNAME,
                   tarfile.GNUTYPE_LONGLINK)


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


class ExtractionFailed(TarballError):
    """The file system refused a write (a full disk answers 507, anything else 400)."""

    def __init__(self, message: str, status_code: int = 400) -> None:
        super().__init__(message)
        self.status_code = status_code


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
    label = f"{dest_path.parent.name}/{dest_path.name}"  # releases/<id>: never the absolute path
    budget = _Budget(max_unpacked_bytes, max_members)
    try:
        with _open(path, budget) as archive:
            members = _check_members(archive, dest_real, budget)
            archive.extractall(dest_real, members=members, filter=_owner_only_data)
    except tarfile.FilterError as exc:  # raised at extraction time, e.g. a path through a symlink
        shutil.rmtree(dest_path, ignore_errors=True)
        raise _unsafe(exc) from exc
    except _DAMAGED as exc:
        shutil.rmtree(dest_path, ignore_errors=True)
        raise BadTarball(f"not a valid tar.gz archive: {exc or type(exc).__name__}") from exc
    except OSError as exc:
        shutil.rmtree(dest_path, ignore_errors=True)
        raise _write_failed(exc, dest_real, label) from exc
    except BaseException:
        shutil.rmtree(dest_path, ignore_errors=True)
        raise
    return ExtractedTarball(root=_component_root(dest_path, members), members=len(members), unpacked_bytes=budget.data)


class _Budget:
    """What one archive may cost: data and extended-header bytes against one total, and a member count."""

    def __init__(self, max_bytes: int, max_members: int) -> None:
        self.max_bytes = max_bytes
        self.max_members = max_members
        self.used = 0
        self.data = 0
        self.global_headers = 0
        self.chained = 0
        self.entries = 0

    def add(self, size: int) -> None:
        self.used += size
        if self.used > self.max_bytes:
            raise TarballTooLarge(f"tarball unpacks to more than {self.max_bytes} bytes")

    def add_data(self, size: int) -> None:
        self.data += size
        self.add(size)

    def add_entry(self, data_size: int) -> None:
        """One more packed entry holding ``data_size`` bytes of file data."""
        self.entries += 1
        if self.entries > self.max_members:
            raise TarballTooLarge(f"the package has more than {self.max_members} entries")
        self.add_data(data_size)

    def header(self, info: tarfile.TarInfo) -> None:
        """Charge one raw header; refuse an oversized extended header before it is read."""
        if info.type not in _EXTENDED_TYPES:
            self.chained = 0
            return
        # tarfile reads the header a pax/GNU header describes by recursing: keep that chain short.
        self.chained += 1
        if self.chained > MAX_CHAINED_HEADERS:
            raise UnsafeTarball(f"tarball has more than {MAX_CHAINED_HEADERS} extended headers for one member")
        if info.size > MAX_EXTENDED_HEADER_BYTES:
            raise UnsafeTarball(
                f"tarball extended header declares {info.size} bytes; "
                f"the limit is {MAX_EXTENDED_HEADER_BYTES} bytes"
            )
        self.add(tarfile.BLOCKSIZE + info.size)
        if info.type == tarfile.XGLTYPE:
            self.global_headers += info.size
            if self.global_headers > MAX_GLOBAL_HEADER_BYTES:
                raise UnsafeTarball(f"tarball global headers exceed {MAX_GLOBAL_HEADER_BYTES} bytes")


def _sparse_refused(*_args: object) -> tarfile.TarInfo:
    # Sparse maps are read into memory entry by entry with no bound; npm packages never hold them.
    raise UnsafeTarball("tarball holds a sparse file, which the server does not accept")


def _bounded_tarinfo(budget: _Budget) -> type[tarfile.TarInfo]:
    """A TarInfo class that charges every header to ``budget`` before tarfile processes it.

    ``_proc_member`` is the one place tarfile looks at a raw header before reading what it declares
    (a pax record set, a GNU long name), so the cap is applied there.
    """

    class BoundedTarInfo(tarfile.TarInfo):
        def _proc_member(self, archive: tarfile.TarFile) -> tarfile.TarInfo:
            budget.header(self)
            member = super()._proc_member(archive)
            member.pax_headers = {}  # only used for writing; do not keep a copy per member
            return member

        _proc_sparse = _proc_gnusparse_00 = _proc_gnusparse_01 = _proc_gnusparse_10 = _sparse_refused

    return BoundedTarInfo


def _open(path: str | os.PathLike[str], budget: _Budget) -> tarfile.TarFile:
    """Open a tar archive, gzipped or not; a non-archive becomes :class:`BadTarball`."""
    try:
        return tarfile.open(path, mode="r:*", tarinfo=_bounded_tarinfo(budget))
    except _DAMAGED as exc:
        raise BadTarball(f"not a valid tar.gz archive: {exc or type(exc).__name__}") from exc


def _check_members(archive: tarfile.TarFile, dest_real: str, budget: _Budget) -> list[tarfile.TarInfo]:
    """Walk the member headers once, refusing before any byte is written.

    Limits are checked as each header is read, so a hostile archive is refused before the reader
    has to decompress past a huge declared member.
    """
    members: list[tarfile.TarInfo] = []
    name_max, path_max = _fs_limits(dest_real)
    for member in archive:
        if len(members) >= budget.max_members:
            raise TarballTooLarge(f"tarball has more than {budget.max_members} members")
        if member.name.startswith(("/", "\\")):
            # The data filter would quietly strip the slash; an archive built that way is refused.
            raise UnsafeTarball(f"unsafe tarball member {_shown(member.name)}: absolute path")
        _check_name(member.name, len(dest_real), name_max, path_max)
        try:
            tarfile.data_filter(member, dest_real)
        except tarfile.FilterError as exc:
            raise _unsafe(exc) from exc
        if member.isreg() or member.type not in tarfile.SUPPORTED_TYPES:  # tarfile extracts both as data
            budget.add_data(member.size)
        members.append(member)
    return members


def _owner_only_data(member: tarfile.TarInfo, dest: str) -> tarfile.TarInfo:
    """The ``data`` filter, then no permission for group or others: a release is the server's alone
    (the filter sets file modes explicitly, so the server's umask does not reach them)."""
    safe = tarfile.data_filter(member, dest)
    return safe if safe.mode is None else safe.replace(mode=safe.mode & 0o700, deep=False)


def _fs_limits(dest_real: str) -> tuple[int, int]:
    """The longest name part and the longest path the file system under ``dest_real`` takes."""
    try:
        return os.pathconf(dest_real, "PC_NAME_MAX"), os.pathconf(dest_real, "PC_PATH_MAX")
    except (OSError, ValueError):
        return 255, 4096


def _check_name(name: str, dest_len: int, name_max: int, path_max: int) -> None:
    """Refuse names nested too deep or too long to create, before anything is written."""
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if len(parts) > MAX_MEMBER_DEPTH:
        raise UnsafeTarball(
            f"tarball member {_shown(name)} is nested {len(parts)} levels deep; the limit is {MAX_MEMBER_DEPTH}"
        )
    if any(len(os.fsencode(part)) > name_max for part in parts):
        raise UnsafeTarball(f"tarball member {_shown(name)} has a name part longer than {name_max} bytes")
    if dest_len + 1 + len(os.fsencode(name)) >= path_max:
        raise UnsafeTarball(f"tarball member {_shown(name)} has a path too long for the file system")


def _shown(name: str) -> str:
    """A member name for a message: quoted with control characters escaped, and cut short."""
    cut = name if len(name) <= SHOWN_NAME_CHARS else name[:SHOWN_NAME_CHARS] + "..."
    return repr(cut)


_FILTER_REASONS = {
    tarfile.AbsolutePathError: "absolute path",
    tarfile.OutsideDestinationError: "it would be written outside the release directory",
    tarfile.SpecialFileError: "device files and FIFOs are not allowed",
    tarfile.AbsoluteLinkError: "a link to an absolute path",
    tarfile.LinkOutsideDestinationError: "a link leading outside the release directory",
}


def _unsafe(exc: tarfile.FilterError) -> UnsafeTarball:
    """Our own words for a filter refusal: tarfile's name the server's absolute paths."""
    reason = next((text for kind, text in _FILTER_REASONS.items() if isinstance(exc, kind)), type(exc).__name__)
    return UnsafeTarball(f"unsafe tarball member {_shown(exc.tarinfo.name)}: {reason}")


def _write_failed(exc: OSError, dest_real: str, label: str) -> ExtractionFailed:
    """An OSError while writing the release, with the file named relative to ``releases/<id>``."""
    where = label
    if isinstance(exc.filename, str):
        relative = os.path.relpath(exc.filename, dest_real)
        where = f"{label}/{relative}" if not relative.startswith("..") else label
    status = 507 if exc.errno in (errno.ENOSPC, errno.EDQUOT) else 400
    return ExtractionFailed(f"cannot write {_shown(where)}: {exc.strerror or type(exc).__name__}", status)


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


@dataclass(frozen=True, slots=True)
class PackLimits:
    """What packing a directory may produce: the server's body and tarball limits."""

    max_packed_bytes: int
    max_unpacked_bytes: int
    max_members: int


class _LimitedOutput:
    """A write-only stream that refuses to grow past ``limit`` bytes."""

    def __init__(self, out: BinaryIO, limit: int) -> None:
        self._out = out
        self._limit = limit
        self._written = 0

    def write(self, data: bytes) -> int:
        self._written += len(data)
        if self._written > self._limit:
            raise TarballTooLarge(f"the packed package exceeds the limit of {self._limit} bytes")
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()


def pack_directory_to(src: str | os.PathLike[str], out: str | os.PathLike[str], limits: PackLimits) -> int:
    """Pack the directory ``src`` into the file ``out`` within ``limits``; returns its size in bytes.

    The directory is walked first and refused with :class:`TarballTooLarge` as soon as its entries
    or file bytes pass a limit, before anything is compressed; the packed bytes are held to the
    body limit as they are written. The packer's own refusals (a symlink leading outside, a file
    changed while packed, an unreadable entry) are :class:`~deploytui.protocol.tarpack.PackError`.
    """
    root = package_root(src)
    budget = _Budget(limits.max_unpacked_bytes, limits.max_members)
    entries = []
    for entry in iter_entries(root):
        budget.add_entry(entry.size)  # 0 for directories and links
        entries.append(entry)
    plan = PackPlan(root, tuple(entries), budget.data)
    with open(out, "wb") as handle:
        # A file that grew since the walk is refused by the packer, so the walk's budget holds.
        write_tarball(plan, _LimitedOutput(handle, limits.max_packed_bytes))
        return handle.tell()
