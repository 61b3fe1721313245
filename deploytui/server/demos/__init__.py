"""Bundled demo components: each a directory with a package.json and a Python install script.

The installs imitate npm's output (timings, warnings, colours, a failing registry lookup) using
only the Python running the server: no network, no npm. Deploy one with its ``install_command``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEMOS_DIR = Path(__file__).resolve().parent

_DESCRIPTIONS = {
    "hello": "a quick success: a few install lines",
    "chatty": "about 5 000 install lines in a few seconds, with stderr warnings and ANSI colours",
    "broken-install": "npm-like 'npm ERR! code E404' on stderr, then exit 1: fails in prepare",
    "bad-config": "installs fine, then fails in load: config.yaml is broken",
    "slow": "about 10 s of steady progress lines, for watching a deploy live",
}


@dataclass(frozen=True, slots=True)
class DemoSpec:
    """A demo component: its project name, directory, install command and what it shows."""

    name: str
    path: Path
    install_command: str
    description: str


def demo_specs() -> list[DemoSpec]:
    """Every bundled demo, in a sensible order for a first look."""
    # The server sets DEPLOYTUI_PYTHON for installs, so this works whoever sends the command.
    return [
        DemoSpec(name, DEMOS_DIR / name, '"${DEPLOYTUI_PYTHON:-python3}" install.py', description)
        for name, description in _DESCRIPTIONS.items()
    ]


def demo_spec(name: str) -> DemoSpec:
    """One demo by name; KeyError names the ones that exist."""
    for spec in demo_specs():
        if spec.name == name:
            return spec
    raise KeyError(f"no demo named {name!r}; demos: {', '.join(_DESCRIPTIONS)}")
