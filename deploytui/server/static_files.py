"""Serving deployed components' static files, as Harper's ``static`` plugin does (contract §1.5).

A component whose ``config.yaml`` has a ``static`` section is served on the server's port, by
``GET``/``HEAD`` and without credentials (Harper serves public files to anyone; the Operations API
stays ``POST /`` behind auth). Harper's rules, as its static plugin and component loader apply them:

- ``files`` (a glob, a list of globs, or ``{source: …}``) chooses the files; a name without glob
  characters may be a directory, which serves everything below it (``files: web``).
- A file's URL is its path with the pattern's fixed leading part taken off (``web/a/b.css`` under
  ``web/**`` is ``a/b.css``), under the component's base URL: ``urlPath`` (default ``/``;
  ``./x`` means ``/<project>/x/``; ``..`` is refused).
- ``index`` (default true): ``<dir>/`` serves ``<dir>/index.html``, and ``<dir>`` without the slash
  is redirected (301) to it. ``extensions: [html]``: ``/page`` also tries ``/page.html``.
- ``fallthrough`` (default true) hands an unmatched URL to the next component; ``false`` answers
  404 ``File not found``, or serves ``notFound`` (a file, or ``{file, statusCode}``).

Components are asked in name order. Our server is stricter than Harper in what it will send: only
regular files, never a dotfile, nothing whose real path (symbolic links resolved) leaves the release
dir, no ``..``/``.`` segment or NUL byte in the decoded URL. Each request resolves
``components/<project>`` once and reads everything from that release, so a reader during a deploy
or a revert gets the old release or the new one, whole, never a mix (the switch is one rename,
server/releases.py).
"""

from __future__ import annotations

import asyncio
import email.utils
import mimetypes
import os
import posixpath
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from starlette.types import Receive, Scope, Send

from .releases import CONFIG_NAMES, MAX_CONFIG_YAML_BYTES, ComponentInvalid, check_config_yaml

CHUNK_BYTES = 64 * 1024
GLOB_CHARS = frozenset("*?[]{}()!+@")
# Release roots whose static settings were read (a release never changes once it runs).
CONFIG_CACHE_LIMIT = 256


@dataclass(frozen=True, slots=True)
class StaticOptions:
    """One component's ``static`` settings, checked."""

    patterns: tuple[str, ...]
    base_url: str  # '/', '/static/', '/<project>/x/'
    index: bool = True
    extensions: tuple[str, ...] = ()
    fallthrough: bool = True
    not_found: str | None = None
    not_found_status: int = 404


@dataclass(frozen=True, slots=True)
class Found:
    """What a URL resolved to: a file to send (with its status), or a redirect."""

    status: int
    path: str | None = None  # the file's real path, inside its release
    location: str | None = None


def resolve_base_url(project: str, url_path: str | None) -> str:
    """Harper's base URL of a component: ``None``/``''``/``'/'`` -> ``/``; ``static`` -> ``/static/``;
    ``./x`` -> ``/<project>/x/``. A ``..`` anywhere is refused with ValueError."""
    if url_path and ".." in url_path:
        raise ValueError(f"urlPath must not contain '..': {url_path!r}")
    base = url_path or "/"
    if base == "." or base.startswith("./"):
        base = f"/{project}{base[1:]}"
    if not base.startswith("/"):
        base = "/" + base
    return base if base.endswith("/") else base + "/"


def read_static_options(project: str, release: str) -> StaticOptions | None:
    """The release's ``static`` settings, or None when it serves nothing (or says it wrongly)."""
    for name in CONFIG_NAMES:
        path = os.path.join(release, name)
        try:
            if os.path.getsize(path) > MAX_CONFIG_YAML_BYTES or not _inside(release, os.path.realpath(path)):
                return None
            with open(path, "rb") as handle:
                text = handle.read().decode("utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        try:
            config = check_config_yaml(text, name)
        except ComponentInvalid:
            return None
        return _options(project, config.get("static"))
    return None


def _options(project: str, raw: Any) -> StaticOptions | None:
    if not isinstance(raw, dict):
        return None
    files = raw.get("files")
    if isinstance(files, dict):
        files = files.get("source")
    patterns = [files] if isinstance(files, str) else files
    if not isinstance(patterns, list) or not patterns or not all(isinstance(p, str) and p.strip() for p in patterns):
        return None
    cleaned = []
    for pattern in patterns:
        if ".." in pattern:
            return None  # Harper refuses the component
        pattern = pattern.strip().removeprefix("/") or "."  # a leading '/' is the component root
        cleaned.append(pattern.removeprefix("./").rstrip("/") or ".")
    url_path = raw.get("urlPath", raw.get("path"))
    extensions = raw.get("extensions") or []
    not_found = raw.get("notFound")
    try:
        base_url = resolve_base_url(project, url_path if isinstance(url_path, str) else None)
    except ValueError:
        return None
    if not isinstance(extensions, list) or not all(isinstance(e, str) for e in extensions):
        return None
    options = StaticOptions(
        patterns=tuple(cleaned), base_url=base_url,
        index=raw.get("index") is not False, extensions=tuple(e.lstrip(".") for e in extensions),
        fallthrough=raw.get("fallthrough") is not False,
    )
    if isinstance(not_found, str):
        return StaticOptions(**{**_fields(options), "not_found": not_found})
    if isinstance(not_found, dict) and isinstance(not_found.get("file"), str) and isinstance(not_found.get("statusCode"), int):
        return StaticOptions(**{**_fields(options), "not_found": not_found["file"],
                                "not_found_status": not_found["statusCode"]})
    return options


def _fields(options: StaticOptions) -> dict[str, Any]:
    return {name: getattr(options, name) for name in StaticOptions.__slots__}


def pattern_base(pattern: str) -> str:
    """The fixed leading directories of a glob (micromatch's ``scan().base``): ``web/**`` -> ``web``,
    ``*.html`` -> ``''``; a pattern without glob characters is its own base."""
    parts = pattern.split("/")
    fixed = []
    for part in parts:
        if any(ch in GLOB_CHARS for ch in part):
            break
        fixed.append(part)
    base = "/".join(fixed)
    return "" if base == "." else base


def glob_regex(pattern: str) -> re.Pattern[str]:
    """A glob as a regex over relative paths: ``**`` any depth, ``*``/``?`` within one segment,
    ``[…]`` classes, ``{a,b}`` alternatives; like fast-glob, ``*`` does not match a leading dot."""
    out, i, segment_start = [], 0, True
    while i < len(pattern):
        ch = pattern[i]
        at_start, segment_start = segment_start, False
        if at_start and pattern.startswith("**/", i):
            out.append("(?:[^/.][^/]*/)*")
            i, segment_start = i + 3, True
        elif at_start and pattern.startswith("**", i):
            out.append("(?:[^/.][^/]*(?:/[^/.][^/]*)*)?")
            i += 2
        elif ch == "*":
            out.append("(?:[^/.][^/]*)?" if at_start else "[^/]*")
            i += 1
        elif ch == "?":
            out.append("[^/.]" if at_start else "[^/]")
            i += 1
        elif ch == "[" and (end := pattern.find("]", i + 1)) > i:
            body = pattern[i + 1:end].replace("\\", "\\\\")
            out.append("[" + ("^" + body[1:] if body.startswith("!") else body) + "]")
            i = end + 1
        elif ch == "{" and (end := pattern.find("}", i)) > i:
            out.append("(?:" + "|".join(re.escape(a) for a in pattern[i + 1:end].split(",")) + ")")
            i = end + 1
        else:
            out.append(re.escape(ch))
            segment_start = ch == "/"
            i += 1
    return re.compile("".join(out))


def _matches(pattern: str, rel: str) -> bool:
    """Whether the release-relative file ``rel`` is among the files ``pattern`` chooses: matched
    itself, or below a directory the pattern names (``files: web``)."""
    if pattern == ".":
        return True
    regex = glob_regex(pattern)
    parts = rel.split("/")
    return any(regex.fullmatch("/".join(parts[:n])) for n in range(len(parts), 0, -1))


def _inside(root: str, real: str) -> bool:
    return real == root or real.startswith(root.rstrip("/") + "/")


def safe_segments(url_path: str) -> list[str] | None:
    """The decoded URL path's segments, or None when it may not name a file of ours: a ``.`` or
    ``..`` segment (also once percent-decoded), a NUL byte, a dotfile, a backslash."""
    if "\x00" in url_path or "\\" in url_path:
        return None
    segments = url_path.split("/")[1:]
    for segment in segments[:-1] if segments and segments[-1] == "" else segments:
        if segment in ("", ".", "..") or segment.startswith("."):
            return None
    return segments


class StaticSite:
    """Resolves ``GET`` paths to files of the components' current releases."""

    def __init__(self, components_dir: Path) -> None:
        self.components_dir = components_dir
        self._options: dict[str, StaticOptions | None] = {}

    def releases(self) -> list[tuple[str, str]]:
        """(project, real path of its current release), in name order, each resolved once."""
        found = []
        try:
            entries = sorted(os.scandir(self.components_dir), key=lambda e: e.name)
        except OSError:
            return []
        for entry in entries:
            if entry.name.startswith(".") or not entry.is_symlink():
                continue
            real = os.path.realpath(entry.path)
            if os.path.isdir(real) and _inside(os.path.realpath(self.components_dir), real):
                found.append((entry.name, real))
        return found

    def options(self, project: str, release: str) -> StaticOptions | None:
        if release not in self._options:
            if len(self._options) >= CONFIG_CACHE_LIMIT:
                self._options.clear()
            self._options[release] = read_static_options(project, release)
        return self._options[release]

    def find(self, url_path: str) -> Found | None:
        """The answer for ``url_path`` (already percent-decoded), or None: nobody serves it."""
        if safe_segments(url_path) is None:
            return None
        for project, release in self.releases():
            options = self.options(project, release)
            if options is None or not (url_path + "/").startswith(options.base_url):
                continue
            found = self._find_in(release, options, url_path)
            if found is not None:
                return found
            if not options.fallthrough:
                return self._not_found(release, options)
        return None

    def _find_in(self, release: str, options: StaticOptions, url_path: str) -> Found | None:
        if url_path + "/" == options.base_url:  # '/static' of '/static/': its index, by redirect
            has_index = options.index and self._file_for(release, options, "index.html") is not None
            return Found(301, location=options.base_url) if has_index else None
        rel_url = url_path[len(options.base_url):]
        tries = [rel_url]
        if options.index and (rel_url == "" or rel_url.endswith("/")):
            tries = [rel_url + "index.html"]
        elif options.extensions:
            tries += [f"{rel_url}.{ext}" for ext in options.extensions]
        for candidate in tries:
            path = self._file_for(release, options, candidate)
            if path is not None:
                return Found(200, path=path)
        if options.index and rel_url and not rel_url.endswith("/") and \
                self._file_for(release, options, rel_url + "/index.html") is not None:
            return Found(301, location=url_path + "/")
        return None

    def _file_for(self, release: str, options: StaticOptions, rel_url: str) -> str | None:
        """The real path of the file serving ``rel_url`` under one of the patterns, if any."""
        for pattern in options.patterns:
            base = pattern_base(pattern)
            if base and os.path.isfile(os.path.join(release, base)):
                rel = base if rel_url == posixpath.basename(base) else None
            else:
                rel = posixpath.join(base, rel_url) if base else rel_url
            if rel is None or not _matches(pattern, rel):
                continue
            real = os.path.realpath(os.path.join(release, rel))
            if _inside(release, real) and os.path.isfile(real):
                return real
        return None

    def _not_found(self, release: str, options: StaticOptions) -> Found:
        if options.not_found:
            real = os.path.realpath(os.path.join(release, options.not_found))
            if _inside(release, real) and os.path.isfile(real):
                return Found(options.not_found_status, path=real)
        return Found(404)


class StaticEndpoint:
    """ASGI app for ``GET``/``HEAD`` of any path other than the API's: a component's file or 404."""

    def __init__(self, components_dir: Path) -> None:
        self.site = StaticSite(components_dir)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        found = await asyncio.to_thread(self.site.find, scope["path"])
        head_only = scope["method"] == "HEAD"
        if found is None or (found.path is None and found.location is None):
            await _send_text(send, 404, b"File not found" if found else b"Not found", head_only)
        elif found.location is not None:
            await send({"type": "http.response.start", "status": 301,
                        "headers": [(b"location", found.location.encode("utf-8")), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
        else:
            await _send_file(send, found.status, found.path, head_only)


async def _send_text(send: Send, status: int, body: bytes, head_only: bool) -> None:
    await send({"type": "http.response.start", "status": status, "headers": [
        (b"content-type", b"text/plain; charset=utf-8"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": b"" if head_only else body})


async def _send_file(send: Send, status: int, path: str | None, head_only: bool) -> None:
    """Send the file from the descriptor opened here (not a path opened again later): what was
    checked is what is sent, even if the release is pruned meanwhile."""
    assert path is not None
    try:
        handle: BinaryIO = await asyncio.to_thread(_open_regular, path)
    except OSError:
        await _send_text(send, 404, b"Not found", head_only)
        return
    try:
        info = os.fstat(handle.fileno())
        kind = mimetypes.guess_type(path)[0] or "application/octet-stream"
        if kind.startswith("text/") or kind in ("application/javascript", "application/json"):
            kind += "; charset=utf-8"
        headers = [
            (b"content-type", kind.encode()),
            (b"content-length", str(info.st_size).encode()),
            (b"last-modified", email.utils.formatdate(info.st_mtime, usegmt=True).encode()),
            (b"etag", f'W/"{info.st_size:x}-{int(info.st_mtime * 1000):x}"'.encode()),
            (b"cache-control", b"public, max-age=0"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        if head_only:
            await send({"type": "http.response.body", "body": b""})
            return
        while chunk := await asyncio.to_thread(handle.read, CHUNK_BYTES):
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
    finally:
        handle.close()


def _open_regular(path: str) -> BinaryIO:
    """Open a regular file without following a final symlink and without blocking on a FIFO."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise IsADirectoryError(path)
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise
