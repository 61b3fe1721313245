"""Where a component's releases live on disk, which one runs, and checking a release before it may.

Layout under ``<data>/components/<project>/``::

    releases/<deployment_id>/   one extracted payload per deployment (the component root may be a
                                single wrapper directory inside it, e.g. ``package/``)
    current  -> releases/<id>[/<root>]   the running release
    previous -> releases/<id>[/<root>]   the release ``current`` replaced, kept for revert

Both links are relative (the data dir can move) and are replaced atomically: a new link is made
under a temporary name and ``os.replace``-d over the old one, so a reader always sees a whole
release, never a half-switched state.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import uuid
from pathlib import Path

CURRENT = "current"
PREVIOUS = "previous"
RELEASES = "releases"


class ComponentInvalid(Exception):
    """The release's package.json or config.yaml is broken; fails the deploy in ``load``."""

    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class ComponentReleases:
    """The release directories and the ``current``/``previous`` links of one project."""

    def __init__(self, components_dir: Path, project: str) -> None:
        self.base = components_dir / project
        self.releases = self.base / RELEASES

    def release_dir(self, deployment_id: str) -> Path:
        return self.releases / deployment_id

    def current_id(self) -> str | None:
        """The deployment whose release runs now (None before the first success)."""
        return self._link_id(CURRENT)

    def previous_id(self) -> str | None:
        """The deployment a revert would go back to."""
        return self._link_id(PREVIOUS)

    def current_path(self) -> Path:
        return self.base / CURRENT

    def activate(self, deployment_id: str, root: Path) -> None:
        """Make ``root`` (inside this deployment's release dir) current; the old current becomes previous."""
        old = self._target(CURRENT)
        if old is not None:
            self._point(PREVIOUS, old)
        self._point(CURRENT, os.path.relpath(root, self.base))

    def swap(self) -> tuple[str, str]:
        """Revert: ``current`` and ``previous`` trade places; returns (from_id, to_id)."""
        current, previous = self._target(CURRENT), self._target(PREVIOUS)
        from_id, to_id = self.current_id(), self.previous_id()
        if current is None or previous is None or from_id is None or to_id is None:
            raise FileNotFoundError("no previous release")
        if not (self.base / previous).is_dir():
            raise FileNotFoundError(f"previous release {to_id} is missing on disk")
        self._point(CURRENT, previous)
        self._point(PREVIOUS, current)
        return from_id, to_id

    def prune(self) -> list[str]:
        """Remove every release dir but current and previous; returns the deployment ids removed."""
        keep = {self.current_id(), self.previous_id()}
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

    def _target(self, name: str) -> str | None:
        try:
            return os.readlink(self.base / name)
        except (FileNotFoundError, OSError):
            return None

    def _link_id(self, name: str) -> str | None:
        target = self._target(name)
        if target is None:
            return None
        parts = Path(target).parts
        return parts[1] if len(parts) >= 2 and parts[0] == RELEASES else None

    def _point(self, name: str, target: str) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        temp = self.base / f".{name}.{uuid.uuid4().hex}"
        os.symlink(target, temp)
        try:
            os.replace(temp, self.base / name)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise


# --------------------------------------------------------------------------- load validation


def validate_component(root: Path) -> list[str]:
    """Check the files Harper would load; returns the names checked. Raises :class:`ComponentInvalid`."""
    checked = []
    package_json = root / "package.json"
    if package_json.is_file():
        _check_package_json(package_json)
        checked.append("package.json")
    for name in ("config.yaml", "config.yml"):
        if (root / name).is_file():
            check_yaml_subset(_read_text(root / name), name)
            checked.append(name)
    return checked


def _read_text(path: Path) -> str:
    try:
        return path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ComponentInvalid(f"{path.name} is not valid UTF-8 text (byte {exc.start})") from exc


def _check_package_json(path: Path) -> None:
    try:
        data = json.loads(_read_text(path))
    except json.JSONDecodeError as exc:
        raise ComponentInvalid(f"package.json is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from exc
    if not isinstance(data, dict):
        raise ComponentInvalid("package.json must hold a JSON object")
    for key in ("name", "version", "main"):
        if key in data and not isinstance(data[key], str):
            raise ComponentInvalid(f"package.json: '{key}' must be a string")


# Block scalar indicator at the end of a value: | or >, optional chomping/indent digits.
_BLOCK_SCALAR = re.compile(r"[|>][+-]?[0-9]?[+-]?$")
_KEY = re.compile(r"""^(?:"(?:[^"\\]|\\.)*"|'(?:[^']|'')*'|[^\s#'"\[\]{},&*!|>%@`-][^#]*?|-[^\s#][^#]*?)\s*:(?:\s+|$)""")


def check_yaml_subset(text: str, name: str = "config.yaml") -> None:
    """Validate the block-style YAML that component configs use, without a YAML library.

    Accepts mappings (``key: value`` / ``key:``), sequences (``- item``), comments, ``---``,
    block scalars (``|``/``>``), and one-line flow collections and quoted strings. Refuses tabs in
    indentation, a line that is neither an entry nor a list item, indentation that matches no open
    level, a value followed by a more indented block, and unbalanced quotes or brackets. The
    message names the file and the line.
    """
    levels = [0]  # indents of the open block levels
    opens_block = False  # the previous entry ended with ':' or '- ', so a deeper line may follow
    scalar_indent: int | None = None  # inside a block scalar whose key sat at this indent
    for number, raw in enumerate(text.splitlines(), start=1):
        stripped = raw.strip()
        indent = len(raw) - len(raw.lstrip(" "))
        if scalar_indent is not None:
            if not stripped or indent > scalar_indent:
                continue
            scalar_indent = None
        if not stripped or stripped.startswith("#") or stripped in ("---", "..."):
            continue
        where = f"{name} line {number}"
        if raw[: len(raw) - len(raw.lstrip())].count("\t"):
            raise ComponentInvalid(f"{where}: tab characters are not allowed in indentation")
        if opens_block and indent > levels[-1]:
            levels.append(indent)
        elif indent > levels[-1]:
            raise ComponentInvalid(f"{where}: unexpected indentation (the line above already has a value)")
        else:
            while levels and indent < levels[-1]:
                levels.pop()
            if not levels or indent != levels[-1]:
                raise ComponentInvalid(f"{where}: indentation does not match any enclosing level")
        opens_block, block_scalar, key_column = _check_entry(stripped, where)
        if block_scalar:
            scalar_indent = indent
        if key_column:
            levels.append(indent + key_column)  # "- key: v": sibling keys align after the dash


def _check_entry(line: str, where: str) -> tuple[bool, bool, int]:
    """One logical line: (opens a block, starts a block scalar, column of a key after "- " or 0)."""
    if line == "-" or line.startswith("- "):
        rest = line[1:].lstrip()
        if not rest or rest.startswith("#"):
            return True, False, 0
        if _KEY.match(rest):
            opens, scalar, _ = _check_entry(rest, where)
            return opens, scalar, len(line) - len(rest)
        _check_value(rest, where)
        return False, bool(_BLOCK_SCALAR.search(_strip_comment(rest).strip())), 0
    match = _KEY.match(line)
    if not match:
        raise ComponentInvalid(f"{where}: expected 'key: value' or '- item', got {line[:60]!r}")
    value = _strip_comment(line[match.end():]).strip()
    if not value:
        return True, False, 0
    _check_value(value, where)
    return False, bool(_BLOCK_SCALAR.search(value)), 0


def _check_value(value: str, where: str) -> None:
    value = _strip_comment(value).strip()
    if value[:1] in ("'", '"') and (len(value) < 2 or value[-1] != value[0]):
        raise ComponentInvalid(f"{where}: unterminated quoted string")
    if value[:1] in ("[", "{"):
        depth = 0
        for char in value:
            depth += char in "[{"
            depth -= char in "]}"
            if depth < 0:
                break
        if depth != 0:
            raise ComponentInvalid(f"{where}: unbalanced brackets in {value[:60]!r}")


def _strip_comment(value: str) -> str:
    """Drop a trailing ``# comment`` that is not inside quotes."""
    quote = None
    for i, char in enumerate(value):
        if quote:
            quote = None if char == quote else quote
        elif char in "'\"":
            quote = char
        elif char == "#" and (i == 0 or value[i - 1].isspace()):
            return value[:i]
    return value
