"""Bundled demo components: each a directory with a package.json and a Python install script.

The installs imitate npm's output (timings, warnings, colours, a failing registry lookup) using
only the Python running the server: no network, no npm. Deploy one with its ``install_command``.
Those that succeed serve a page naming their version (``web/index.html``, ``static`` in their
config.yaml) at ``/<name>/`` of a server that serves static files.

``tour_steps()`` is the story ``deploytui demo --tour`` tells with them and the versions in
``tour/``: a quick success, a chatty install, a failing install, its fix, a revert.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEMOS_DIR = Path(__file__).resolve().parent
TOUR_DIR = DEMOS_DIR / "tour"
INSTALL_COMMAND = '"${DEPLOYTUI_PYTHON:-python3}" install.py'
"""The server sets DEPLOYTUI_PYTHON for installs, so this works whoever sends the command."""

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
    return [DemoSpec(name, DEMOS_DIR / name, INSTALL_COMMAND, description) for name, description in _DESCRIPTIONS.items()]


def demo_spec(name: str) -> DemoSpec:
    """One demo by name; KeyError names the ones that exist."""
    for spec in demo_specs():
        if spec.name == name:
            return spec
    raise KeyError(f"no demo named {name!r}; demos: {', '.join(_DESCRIPTIONS)}")


@dataclass(frozen=True, slots=True)
class TourStep:
    """One step of the tour: deploy ``path`` as ``project`` (a revert of ``project`` when ``path`` is
    None); ``expect`` is how the step ends when the story goes right (``success``, ``failed`` or
    ``rolled_back``), and ``serves`` the version the project's page shows after it."""

    title: str
    project: str
    path: Path | None
    expect: str
    serves: str
    install_command: str = INSTALL_COMMAND

    @property
    def action(self) -> str:
        return "revert" if self.path is None else "deploy"


def tour_steps() -> list[TourStep]:
    """The story of ``deploytui demo --tour``, in order."""
    return [
        TourStep("a quick success", "hello", DEMOS_DIR / "hello", "success", "1.0.0"),
        TourStep("a chatty install", "chatty", DEMOS_DIR / "chatty", "success", "1.0.0"),
        TourStep("a failing install", "hello", TOUR_DIR / "hello-1.1.0", "failed", "1.0.0"),
        TourStep("the fix", "hello", TOUR_DIR / "hello-1.1.1", "success", "1.1.1"),
        TourStep("a revert", "hello", None, "rolled_back", "1.0.0"),
    ]
