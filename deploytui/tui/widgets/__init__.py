"""Widgets of the deploytui dashboard.

* :class:`InstallLog` — the install output pane (Line API list, follow, search, filter, wrap).
* :class:`LineBuffer` — batches install lines into one append per frame.
* :class:`PhaseTimeline` — one row per phase on a shared time axis.
* :func:`glyph_for` / :func:`status_content` — status glyphs and colours shared by all screens.
"""

from deploytui.tui.widgets.install_log import InstallLog, LineBuffer
from deploytui.tui.widgets.phase_timeline import PhaseTimeline
from deploytui.tui.widgets.status_glyphs import glyph_for, phase_glyph, status_content

__all__ = ["InstallLog", "LineBuffer", "PhaseTimeline", "glyph_for", "phase_glyph", "status_content"]
