"""The dashboard's user settings: ``settings.toml`` and ``keymap.toml`` in the user config dir.

Both sit next to ``contexts.toml`` (:func:`deploytui.config.config_path`: ``~/.config/deploytui/``
on Linux, or the folder of ``$DEPLOYTUI_CONFIG``)::

    # settings.toml: written by the dashboard when you pick a theme (ctrl+p → theme)
    theme = "nord"
    ascii = false          # true: ASCII glyphs only (on by itself when TERM=linux)

    # keymap.toml: binding id = key(s); ids are listed by `?` in the dashboard
    deployments.deploy = "n"
    deployment.revert = "ctrl+r"
    "log.search" = "slash,ctrl+f"

A file that cannot be read or holds something unusable never stops the dashboard: the defaults are
used and :attr:`UserSettings.problems` says, in one line per problem naming the file and the line,
what was ignored. A settings file with an error is not overwritten when a theme is picked.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["KEYMAP_FILE", "SETTINGS_FILE", "UserSettings", "load_settings", "save_settings", "settings_dir"]

SETTINGS_FILE = "settings.toml"
KEYMAP_FILE = "keymap.toml"
_KEY = re.compile(r"^[A-Za-z0-9_+\-]+$")  # one Textual key name: "q", "ctrl+r", "question_mark"


@dataclass
class UserSettings:
    """What the settings and keymap files say, and what of them had to be ignored."""

    directory: Path | None = None
    theme: str | None = None
    ascii: bool | None = None
    keymap: dict[str, str] = field(default_factory=dict)
    """Binding id -> keys (comma-separated), as :meth:`textual.app.App.set_keymap` takes them."""
    problems: list[str] = field(default_factory=list)
    settings_broken: bool = False
    """The settings file could not be used as a whole: it is left as it is, never overwritten."""

    @property
    def keymap_path(self) -> Path | None:
        return self.directory / KEYMAP_FILE if self.directory else None

    @property
    def settings_path(self) -> Path | None:
        return self.directory / SETTINGS_FILE if self.directory else None


def settings_dir(environ: Any = None) -> Path:
    """The folder of ``contexts.toml``: where the settings and the keymap live."""
    from deploytui.config import config_path

    return config_path(environ).parent


def _read_toml(path: Path) -> tuple[dict[str, Any] | None, str | None]:
    """(data, None), ({}, None) for a missing file, or (None, problem) naming the file and line."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}, None
    except (OSError, UnicodeDecodeError) as exc:
        return None, f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc}); using the defaults"
    import tomllib  # only when there is a file: ~2 ms of every start otherwise

    try:
        return tomllib.loads(text), None
    except tomllib.TOMLDecodeError as exc:
        return None, f"{path}: invalid TOML: {exc}; using the defaults"


def load_settings(directory: Path | None) -> UserSettings:
    """Read ``settings.toml`` and ``keymap.toml`` of ``directory`` (None: no files, the defaults)."""
    settings = UserSettings(directory=directory)
    if directory is None:
        return settings
    _load_settings_file(settings, directory / SETTINGS_FILE)
    _load_keymap_file(settings, directory / KEYMAP_FILE)
    return settings


def _load_settings_file(settings: UserSettings, path: Path) -> None:
    data, problem = _read_toml(path)
    if data is None:
        settings.problems.append(problem or f"{path}: unusable")
        settings.settings_broken = True
        return
    for key, value in data.items():
        if key == "theme" and isinstance(value, str) and value.strip():
            settings.theme = value.strip()
        elif key == "ascii" and isinstance(value, bool):
            settings.ascii = value
        elif key in ("theme", "ascii"):
            kind = "a theme name in quotes" if key == "theme" else "true or false"
            settings.problems.append(f"{path}: '{key}' must be {kind}; ignored")
        else:
            settings.problems.append(f"{path}: unknown setting {key!r} (known: ascii, theme); ignored")


def _load_keymap_file(settings: UserSettings, path: Path) -> None:
    data, problem = _read_toml(path)
    if data is None:
        settings.problems.append(problem or f"{path}: unusable")
        return
    bad: list[str] = []
    for binding_id, keys in _flatten(data):
        names = [k.strip() for k in keys.split(",")] if isinstance(keys, str) else []
        if names and all(_KEY.match(name) for name in names):
            settings.keymap[binding_id] = ",".join(names)
        else:
            bad.append(binding_id)
    if bad:
        settings.problems.append(f"{path}: {', '.join(bad)}: give keys as a string such as \"ctrl+r\" "
                                 "or \"j,down\"; ignored")


def _flatten(data: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """``deployment.revert = "x"`` parses as a nested table in TOML: back to dotted ids."""
    items: list[tuple[str, Any]] = []
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            items += _flatten(value, f"{name}.")
        else:
            items.append((name, value))
    return items


def unknown_ids(keymap: dict[str, str], known: set[str]) -> list[str]:
    """The ids of ``keymap`` that no binding of the dashboard has (a typo, or an old id)."""
    return sorted(set(keymap) - known)


def save_settings(settings: UserSettings) -> Path | None:
    """Write ``settings.toml`` (atomically); None when there is nowhere to write or the file had
    errors (the user's text is kept rather than replaced by ours)."""
    path = settings.settings_path
    if path is None or settings.settings_broken:
        return None
    lines = ["# deploytui dashboard settings (written when you pick a theme; see README)"]
    if settings.theme:
        lines.append(f"theme = {_toml_string(settings.theme)}")
    if settings.ascii is not None:
        lines.append(f"ascii = {'true' if settings.ascii else 'false'}")
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}")
    temp.write_text("\n".join(lines) + "\n", encoding="utf-8")
    os.replace(temp, path)
    return path


def _toml_string(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + "".join(c if c.isprintable() else f"\\u{ord(c):04x}" for c in escaped) + '"'
