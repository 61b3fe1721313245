"""Widgets of the deploytui dashboard, grouped by screen area; import each from its module.

* ``install_log`` — the install output pane (Line API list, follow, search, filter, wrap).
* ``phase_timeline`` — one row per phase on a shared time axis.
* ``status_glyphs`` — status glyphs and colours shared by all screens.

Nothing is imported here: the list screen must not pay for the output pane's modules at start-up.
"""
