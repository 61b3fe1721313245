"""ASCII mode: the one switch that turns the dashboard's drawing characters into plain ASCII.

The Linux console (``TERM=linux``) and some fonts have no braille spinner, no ``✓``/``✗`` and no
box-drawing gutter; there the dashboard draws ``|/-\\``, ``+``/``x``, ``#``/``=`` bars and a ``|``
gutter instead. The switch is on by itself for ``TERM=linux`` and by ``--ascii`` or ``ascii = true``
in the settings file (:mod:`deploytui.tui.settings`); the app sets it once, before any screen is
drawn. Widgets read it through :func:`ascii_mode` (the status glyphs, the phase timeline and the
install output's gutter each keep their own pair of characters; this module only says which to use).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

__all__ = ["ascii_mode", "ascii_wanted", "pick", "set_ascii_mode"]

_ascii = False


def ascii_mode() -> bool:
    """True when the dashboard draws ASCII only."""
    return _ascii


def set_ascii_mode(on: bool) -> None:
    """Switch ASCII mode on or off for everything drawn from now on."""
    global _ascii
    _ascii = bool(on)


def ascii_wanted(flag: bool | None, setting: bool | None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether to draw ASCII: ``--ascii`` (``flag``) wins, then the setting, then the terminal
    (``TERM=linux``, the Linux virtual console, whose font lacks the glyphs)."""
    if flag:
        return True
    if setting is not None:
        return setting
    environ = os.environ if environ is None else environ
    return environ.get("TERM", "") == "linux"


def pick(fancy: str, plain: str) -> str:
    """``fancy`` normally, ``plain`` in ASCII mode (for a widget's own one-off glyphs)."""
    return plain if _ascii else fancy
