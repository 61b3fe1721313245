"""Every binding id of the dashboard: what a user keymap (``keymap.toml``) may remap.

The ids are read from the ``BINDINGS`` of the dashboard's own screens and widgets (imported here,
not instantiated), so a keymap entry naming no binding can be reported as a typo at start-up
instead of silently doing nothing.
"""

from __future__ import annotations

import importlib
from functools import cache

from textual.binding import Binding
from textual.dom import DOMNode

# The modules whose classes hold the dashboard's bindings (screens import their widgets; the app's
# own module is loaded by whoever asks, and importing it here would close a circle).
_MODULES = (
    "deploytui.tui.screens.deployments",
    "deploytui.tui.screens.deployment",
    "deploytui.tui.screens.deploy_form",
    "deploytui.tui.screens.confirm",
    "deploytui.tui.screens.help",
)


def _subclasses(cls: type) -> set[type]:
    found: set[type] = set()
    for sub in cls.__subclasses__():
        found.add(sub)
        found |= _subclasses(sub)
    return found


@cache
def known_binding_ids() -> frozenset[str]:
    """The id of every binding a class of ``deploytui.tui`` declares."""
    for name in _MODULES:
        try:
            importlib.import_module(name)
        except ImportError:  # a screen being reworked must not stop the others' ids from counting
            continue
    ids: set[str] = set()
    for cls in _subclasses(DOMNode):
        if not cls.__module__.startswith("deploytui.tui"):
            continue
        for binding in cls.__dict__.get("BINDINGS", []):
            if isinstance(binding, Binding) and binding.id:
                ids.add(binding.id)
    return frozenset(ids)
