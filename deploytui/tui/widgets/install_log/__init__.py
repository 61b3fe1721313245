"""The install output pane and its parts.

* :mod:`.pane` — :class:`InstallLog`, the pane a screen mounts (keys, search bar, badge, messages).
* :mod:`.line_list` — :class:`LineList`, the Line API scroll view that holds and draws the lines.
* :mod:`.line_buffer` — :class:`LineBuffer`, batches arriving lines into one append per frame.
* :mod:`.search_bar` / :mod:`.new_lines_badge` — the ``/`` bar and the "+N new lines" overlay.
* :mod:`.search_index` — which lines match the search, and which match is current.
* :mod:`.wrapped_rows` — row geometry when long lines wrap.
* :mod:`.render` — pure functions that turn a line into styled rows (no widget).

Modules here import each other by module path, never through this ``__init__``, so the package has
no import cycle.
"""

from deploytui.tui.widgets.install_log.line_buffer import LineBuffer
from deploytui.tui.widgets.install_log.line_list import LineList
from deploytui.tui.widgets.install_log.pane import InstallLog

__all__ = ["InstallLog", "LineBuffer", "LineList"]
