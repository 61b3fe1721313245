"""Where a component's releases live on disk, which one runs, and checking a release before it may.

Harper's layout: the running component is ``<data>/components/<project>`` itself, so its files are
at ``components/<project>/web/index.html`` as on a Harper node. Here that name is a symbolic link to
the current release, and the releases are kept beside it for revert::

    components/<project>           -> .<project>/releases/<id>[/<root>]   the running release
    components/.<project>/releases/<deployment_id>/   one extracted payload per deployment (the
                                   component root may be a single wrapper directory in it, e.g. ``package/``)
    components/.<project>/previous -> releases/<id>[/<root>]   the release it replaced, kept for revert

A project name never starts with ``.`` (:data:`PROJECT_NAME`), so ``.<project>`` is never a
component. Both links are relative (the data dir can move) and are replaced atomically: a new link
is made under a temporary name and ``os.replace``-d over the old one, so a reader (the static file
server, a process reading the component) always sees a whole release, never a half-switched state.
An older data dir (``components/<project>/{current,previous,releases}``) is converted once, at start,
by :func:`migrate_legacy_layout`.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import stat
import uuid
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .errors import DeployRequestError

CURRENT = "current"
PREVIOUS = "previous"
RELEASES = "releases"


# A project name is a directory name under components/: ASCII letters, digits, '_', '-', '.', at
# most 128, starting with a letter, digit or '_' (so never '.', '..' or a hidden name).
PROJECT_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")


def validate_project(project: Any) -> str:
    """The one rule for project names, used by every operation that takes one; returns it unchanged.

    Names are never rewritten (``my.app`` stays ``my.app``): a name that is not already a safe
    directory name (``/``, ``..``, control characters, a trailing newline) is refused with 400.
    """
    if not isinstance(project, str) or not PROJECT_NAME.fullmatch(project) or ".." in project:
        shown = repr(project) if not isinstance(project, str) or len(project) <= 80 else repr(project[:80]) + "..."
        raise DeployRequestError(
            f"Invalid project name {shown}: use 1 to 128 letters, digits, '-', '_' and '.', "
            "starting with a letter, digit or '_', without '/' or '..'"
        )
    return project


class ComponentInvalid(Exception):
    """The release's package.json or config.yaml is broken; fails the deploy in ``load``."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ComponentReleases:
    """The release directories of one project, the link that names the running one, and ``previous``."""

    def __init__(self, components_dir: Path, project: str) -> None:
        self.components_dir = components_dir
        self.link = components_dir / project  # Harper's path of the running component
        self.base = components_dir / f".{project}"
        self.releases = self.base / RELEASES

    def release_dir(self, deployment_id: str) -> Path:
        return self.releases / deployment_id

    def current_id(self) -> str | None:
        """The deployment whose release runs now (None before the first success)."""
        return _release_id(self._current_target())

    def previous_id(self) -> str | None:
        """The deployment a revert would go back to."""
        return _release_id(_readlink(self.base / PREVIOUS))

    def current_path(self) -> Path:
        """``components/<project>``: the running release, as Harper lays it out."""
        return self.link

    def activate(self, deployment_id: str, root: Path) -> None:
        """Make ``root`` (inside this deployment's release dir) current; the old current becomes previous."""
        old = self._current_target()
        if old is not None:
            self._point_previous(old)
        self._point_current(os.path.relpath(root, self.base))

    def swap(self) -> tuple[str, str]:
        """Revert: ``current`` and ``previous`` trade places; returns (from_id, to_id)."""
        current, previous = self._current_target(), _readlink(self.base / PREVIOUS)
        from_id, to_id = _release_id(current), _release_id(previous)
        if current is None or previous is None or from_id is None or to_id is None:
            raise FileNotFoundError("no previous release")
        if not (self.base / previous).is_dir():
            raise FileNotFoundError(f"previous release {to_id} is missing on disk")
        self._point_current(previous)
        self._point_previous(current)
        return from_id, to_id

    def prune(self, staged: Iterable[str] = ()) -> list[str]:
        """Remove every release dir but current, previous and the ``staged`` ones (built, waiting to
        be activated); returns the deployment ids removed."""
        keep = {self.current_id(), self.previous_id(), *staged}
        removed = []
        if self.releases.is_dir():
            for entry in self.releases.iterdir():
                if entry.name not in keep:
                    shutil.rmtree(entry, ignore_errors=True)
                    removed.append(entry.name)
        return removed

    def discard(self, deployment_id: str) -> None:
        """Remove a release that never became current (a failed or interrupted deploy)."""
        if deployment_id not in (self.current_id(), self.previous_id()):
            shutil.rmtree(self.release_dir(deployment_id), ignore_errors=True)

    def _current_target(self) -> str | None:
        """The current link's target, relative to ``base`` (``releases/<id>[/<root>]``)."""
        target = _readlink(self.link)
        prefix = self.base.name + "/"
        return target[len(prefix):] if target is not None and target.startswith(prefix) else None

    def _point_current(self, target: str) -> None:
        # The link lives in components/, so its text is relative to that directory.
        _replace_link(self.link, f"{self.base.name}/{target}", self.base)

    def _point_previous(self, target: str) -> None:
        _replace_link(self.base / PREVIOUS, target, self.base)


def _readlink(path: Path) -> str | None:
    try:
        return os.readlink(path)
    except OSError:
        return None


def _release_id(target: str | None) -> str | None:
    """``releases/<id>[/<root>]`` -> ``<id>``."""
    if target is None:
        return None
    parts = Path(target).parts
    return parts[1] if len(parts) >= 2 and parts[0] == RELEASES else None


def _replace_link(link: Path, target: str, scratch: Path) -> None:
    """Point ``link`` at ``target`` in one step: a new link made in ``scratch`` (same filesystem)
    and renamed over the old one, which readers therefore see either whole or not at all."""
    scratch.mkdir(parents=True, exist_ok=True)
    temp = scratch / f".link-{uuid.uuid4().hex}"
    os.symlink(target, temp)
    try:
        os.replace(temp, link)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def migrate_legacy_layout(components_dir: Path) -> list[str]:
    """Convert every ``components/<project>/{current,previous,releases}`` an older deploytui left
    into the layout above; returns the projects converted. Runs at start, under the data dir's lock,
    before anything reads a release."""
    converted: list[str] = []
    if not components_dir.is_dir():
        return converted
    for old in sorted(components_dir.iterdir()):
        if old.name.startswith(".") or old.is_symlink() or not (old / RELEASES).is_dir():
            continue
        releases = ComponentReleases(components_dir, old.name)
        if releases.base.exists():
            continue  # half converted by hand: leave it for a person to look at
        current, previous = _readlink(old / CURRENT), _readlink(old / PREVIOUS)
        releases.base.mkdir()
        os.rename(old / RELEASES, releases.releases)
        if previous is not None:
            releases._point_previous(previous)
        shutil.rmtree(old)
        if current is not None:
            releases._point_current(current)
        converted.append(old.name)
    return converted


# --------------------------------------------------------------------------- load validation

# A component's config files are small; a bigger one is refused rather than parsed (YAML parsing in
# pure Python takes about a second per 64 KiB).
MAX_PACKAGE_JSON_BYTES = 1024 * 1024
MAX_CONFIG_YAML_BYTES = 256 * 1024
CONFIG_NAMES = ("config.yaml", "config.yml")
# Keys Harper's component loader reads from an extension's options (their types are checked).
_PATH_KEYS = ("files", "path", "urlPath")


def validate_component(root: Path) -> list[str]:
    """Check the files Harper would load; returns the names checked. Raises :class:`ComponentInvalid`."""
    checked = []
    package_json = root / "package.json"
    if package_json.is_file():
        _check_package_json(package_json)
        checked.append("package.json")
    for name in CONFIG_NAMES:
        if (root / name).is_file():
            check_config_yaml(_read_text(root / name, MAX_CONFIG_YAML_BYTES), name)
            checked.append(name)
    return checked


def package_name(directory: Path) -> str | None:
    """The ``name`` in ``directory``'s package.json, or None when there is none to read.

    The directory is the client's (``file:`` packages), so the file is read only if it is a regular
    file (a FIFO would block the server; it is opened without waiting for a writer) and only up to
    :data:`MAX_PACKAGE_JSON_BYTES`.
    """
    try:
        fd = os.open(directory / "package.json", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        with os.fdopen(os.dup(fd), "rb") as handle:
            data = handle.read(MAX_PACKAGE_JSON_BYTES + 1)
        manifest = json.loads(data) if len(data) <= MAX_PACKAGE_JSON_BYTES else None
    except (OSError, ValueError, RecursionError):
        return None
    finally:
        os.close(fd)
    name = manifest.get("name") if isinstance(manifest, dict) else None
    return name if isinstance(name, str) and name else None


def _read_text(path: Path, limit: int) -> str:
    """The file as UTF-8 text; messages name it by its name only, never its absolute path."""
    if path.stat().st_size > limit:
        raise ComponentInvalid(f"{path.name} is larger than {limit} bytes")
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ComponentInvalid(f"{path.name} is not valid UTF-8 text (byte {exc.start})") from exc


def _check_package_json(path: Path) -> None:
    try:
        data = json.loads(_read_text(path, MAX_PACKAGE_JSON_BYTES))
    except json.JSONDecodeError as exc:
        raise ComponentInvalid(f"package.json is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    except RecursionError:
        raise ComponentInvalid("package.json is nested too deeply") from None
    if not isinstance(data, dict):
        raise ComponentInvalid("package.json must hold a JSON object")
    for key in ("name", "version", "main"):
        if key in data and not isinstance(data[key], str):
            raise ComponentInvalid(f"package.json: '{key}' must be a string")


def check_config_yaml(text: str, name: str = "config.yaml") -> dict[str, Any]:
    """Parse a component's config with YAML's safe loader and check the shape Harper loads.

    Harper reads one YAML document whose top level is a mapping from names (extensions, mostly)
    to their settings. Where those settings are a mapping, the keys Harper's loader uses must have
    its types: ``files`` a glob or a list of globs, ``path`` and ``urlPath`` strings. An empty file
    is an empty configuration. A syntax error names the file, line and column; nothing names an
    absolute path. Returns the parsed mapping.
    """
    from .config_yaml import YamlProblem, load_config  # PyYAML: imported when a config is checked

    try:
        data = load_config(text, name)
    except YamlProblem as exc:
        raise ComponentInvalid(str(exc)) from None
    except RecursionError:
        raise ComponentInvalid(f"{name} is nested too deeply") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ComponentInvalid(f"{name} must be a mapping of extension names to options, not {_yaml_kind(data)}")
    for key, options in data.items():
        if not isinstance(key, str):
            raise ComponentInvalid(f"{name}: the key {key!r} is not a name")
        if isinstance(options, dict):
            _check_options(options, f"{name}: '{key}'")
    return data


def _check_options(options: dict[Any, Any], where: str) -> None:
    for key in _PATH_KEYS:
        value = options.get(key)
        if value is None or isinstance(value, str):
            continue
        if key == "files" and isinstance(value, list) and all(isinstance(item, str) for item in value):
            continue
        expected = "a string or a list of strings" if key == "files" else "a string"
        raise ComponentInvalid(f"{where}: '{key}' must be {expected}, not {_yaml_kind(value)}")


def _yaml_kind(value: Any) -> str:
    kinds = {bool: "a boolean", str: "a string", int: "a number", float: "a number", list: "a list", dict: "a mapping"}
    return next((kind for cls, kind in kinds.items() if isinstance(value, cls)), f"a {type(value).__name__}")
