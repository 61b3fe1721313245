"""Packing a component directory into the gzipped tarball ``deploy_component`` uploads.

The packer is the one both sides share (:mod:`deploytui.protocol.tarpack`: the same tree always
packs to the same bytes, ``.git`` and ``node_modules`` left out, symlinks leading outside refused);
this module gives its refusals the client's error type, so a command reports them like any other
client failure (exit 2).

:func:`scan_directory` walks the tree first, so a caller knows the byte count before packing and can
show progress; the TUI's deploy form uses the same two calls.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Iterator
from contextlib import contextmanager

from deploytui.client.errors import DeploytuiError
from deploytui.protocol import tarpack
from deploytui.protocol.tarpack import EXCLUDED_NAMES, FIXED_MTIME, PackEntry, PackPlan, ProgressCallback

__all__ = ["PackError", "PackEntry", "PackPlan", "EXCLUDED_NAMES", "FIXED_MTIME", "scan_directory", "pack_directory"]


class PackError(DeploytuiError):
    """The directory cannot be packed: not a directory, unreadable, a symlink leading outside, or a
    socket, pipe or device in it."""


@contextmanager
def _as_client_error() -> Iterator[None]:
    try:
        yield
    except tarpack.PackError as exc:
        raise PackError(str(exc)) from None


def scan_directory(path: str | os.PathLike[str], *, exclude: Collection[str] = EXCLUDED_NAMES) -> PackPlan:
    """Walk ``path`` (sorted, depth first, exclusions left out) and check every symlink."""
    with _as_client_error():
        return tarpack.scan_directory(path, exclude=exclude)


def pack_directory(
    path: str | os.PathLike[str], *, exclude: Collection[str] = EXCLUDED_NAMES, plan: PackPlan | None = None,
    on_progress: ProgressCallback | None = None,
) -> bytes:
    """The reproducible tar.gz of the directory ``path``.

    ``plan`` reuses a :func:`scan_directory` result; ``on_progress(bytes_packed, total_bytes)``
    follows the file bytes read. Raises :class:`PackError` (a file that changed size while packing
    included: the archive would not match what was scanned).
    """
    with _as_client_error():
        return tarpack.pack_directory(path, exclude=exclude, plan=plan, on_progress=on_progress)
