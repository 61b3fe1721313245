"""Pure helpers behind :class:`~deploytui.tui.widgets.install_log.InstallLog`.

Nothing here touches a widget: these functions turn one install line into Rich ``Text`` (gutter mark,
optional timestamp, SGR spans from the sanitizer, line tint, search highlights), format the gap
separator, and hold the search query. Keeping them pure keeps the widget small and lets the render
rules be tested without an app.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Protocol

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual.strip import Strip

from deploytui.client.safe_text import UNSAFE
from deploytui.tui.glyphs import pick

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

GUTTER_STDOUT = "│"
"""Gutter mark of a stdout line (the Harper CLI prints ``|`` there)."""
GUTTER_STDERR = "!"
"""Gutter mark of a stderr line (as the Harper CLI does)."""
GUTTER_CONTINUED = {"stdout": "┆", "stderr": "¦"}
"""Gutter marks of a wrapped line's continuation rows: a row that is not a new line must not look
like one (stderr keeps a mark of its own)."""
GUTTER_CURSOR = "▌"
"""Gutter mark of the current line: seen without colour too (``NO_COLOR``)."""
GUTTER_WIDTH = 2
TIMESTAMP_WIDTH = 13
"""``HH:MM:SS.mmm`` plus one space."""
MAX_RENDER_CHARS = 10_000
"""Longer lines are cut for display only (copy and save keep the whole line): a multi-megabyte npm
line must not stall a frame (toolong "Hangs on very long lines")."""

_CONTROL = UNSAFE  # the one rule of what may not reach a terminal, shared with the headless CLI


class _Span(Protocol):
    start: int
    end: int
    style: str


class _Safe(Protocol):
    text: str
    spans: Sequence[_Span]


class LineLike(Protocol):
    """The fields of ``deploytui.client.view.InstallLine`` this module reads."""

    stream: str
    text: _Safe
    t: int | None
    is_error: bool
    is_warning: bool


# Items of the display list are ints so that a plain sorted list (and ``bisect``) indexes them:
# line ``i`` is ``2 * i``; the gap separator after line ``i`` is ``2 * i + 1`` (``-1`` before line 0).


def line_item(index: int) -> int:
    """The display item of line ``index``."""
    return index * 2


def gap_item(after_index: int) -> int:
    """The display item of the gap separator shown after line ``after_index``."""
    return after_index * 2 + 1


def safe_plain(text: str) -> str:
    """``text`` with any control character replaced one-for-one, so span offsets still hold.

    The sanitizer already guarantees none are left; this is the belt to its braces, because one
    stray ESC reaching the terminal corrupts the whole screen.
    """
    if text.isprintable():
        return text
    return _CONTROL.sub(lambda m: " " if m.group() == "\t" else "\ufffd", text)


def _cut_marker(hidden: int) -> str:
    return f" … ({group_thousands(hidden)} more characters)"


def display_cells(text: str) -> int:
    """Cell width of ``text`` as :func:`line_body` displays it (long lines are cut)."""
    extra = 0
    if len(text) > MAX_RENDER_CHARS:
        extra = cell_len(_cut_marker(len(text) - MAX_RENDER_CHARS))
        text = text[:MAX_RENDER_CHARS]
    return (len(text) if text.isascii() else cell_len(text)) + extra


def format_timestamp(t_ms: int | None) -> str:
    """``HH:MM:SS.mmm`` in local time, or blanks when the server sent no time."""
    if t_ms is None:
        return " " * (TIMESTAMP_WIDTH - 1)
    moment = datetime.fromtimestamp(t_ms / 1000)
    return f"{moment:%H:%M:%S}.{t_ms % 1000:03d}"


def group_thousands(number: int) -> str:
    """``4821`` → ``"4 821"`` (a space groups digits in every locale)."""
    return f"{number:,}".replace(",", " ")


@dataclass(frozen=True, slots=True)
class LineStyles:
    """Rich styles resolved from the widget's component classes (so themes apply)."""

    base: Style
    gutter_stdout: Style
    gutter_stderr: Style
    stderr: Style
    error: Style
    error_on_cursor: Style
    warning: Style
    timestamp: Style
    match: Style
    match_current: Style
    cursor: Style
    cursor_mark: Style
    gap: Style


class SearchQuery:
    """A case-insensitive search, literal or regular expression.

    An invalid regular expression leaves :attr:`error` set and matches nothing, so typing a
    half-finished pattern never raises.
    """

    __slots__ = ("_pattern", "error", "regex", "text")

    def __init__(self, text: str, regex: bool = False) -> None:
        self.text = text
        self.regex = regex
        self.error: str | None = None
        source = text if regex else re.escape(text)
        try:
            self._pattern: re.Pattern[str] | None = re.compile(source, re.IGNORECASE) if text else None
        except re.error as error:
            self.error = str(error)
            self._pattern = None

    @property
    def active(self) -> bool:
        """True when the query can match something."""
        return self._pattern is not None

    def spans(self, text: str) -> list[tuple[int, int]]:
        """Non-empty match spans in ``text``."""
        if self._pattern is None:
            return []
        return [m.span() for m in self._pattern.finditer(text) if m.end() > m.start()]

    def count(self, text: str) -> int:
        """How many non-empty matches ``text`` holds."""
        if self._pattern is None or self._pattern.search(text) is None:
            return 0
        return len(self.spans(text))


def line_prefix(line: LineLike, styles: LineStyles, timestamps: bool, *, first: bool = True,
                cursor: bool = False) -> Text:
    """The gutter (and timestamp) in front of a line; continuation rows get a continuation mark
    and no timestamp; the current line's first row gets the cursor mark."""
    stderr = line.stream == "stderr"
    prefix = Text(no_wrap=True, end="")
    if cursor and first:
        mark = pick(GUTTER_CURSOR, ">")
    elif not first:
        mark = pick(GUTTER_CONTINUED["stderr" if stderr else "stdout"], ":")
    else:
        mark = GUTTER_STDERR if stderr else pick(GUTTER_STDOUT, "|")
    prefix.append(mark, styles.cursor_mark if cursor and first else styles.gutter_stderr if stderr else styles.gutter_stdout)
    prefix.append(" ")
    if timestamps:
        stamp = format_timestamp(line.t) if first else " " * (TIMESTAMP_WIDTH - 1)
        prefix.append(stamp, styles.timestamp)
        prefix.append(" ")
    return prefix


def line_tint(line: LineLike, styles: LineStyles, cursor: bool = False) -> Style | None:
    """The whole-line style: errors over warnings over stderr (no error background under the cursor)."""
    if line.is_error:
        return styles.error_on_cursor if cursor else styles.error
    if line.is_warning:
        return styles.warning
    if line.stream == "stderr":
        return styles.stderr
    return None


def line_body(
    line: LineLike,
    styles: LineStyles,
    query: SearchQuery | None,
    current_match: int | None = None,
    *,
    cursor: bool = False,
) -> Text:
    """The line's text with its SGR spans and search highlights, never parsed as markup.

    ``current_match`` is the index (within this line) of the match the user is on.
    """
    plain = safe_plain(line.text.text)
    cut = len(plain) > MAX_RENDER_CHARS
    if cut:
        plain = plain[:MAX_RENDER_CHARS]
    body = Text(plain, no_wrap=True, end="")
    tint = line_tint(line, styles, cursor)
    if tint is not None:
        body.stylize(tint)  # a span, not ``Text.style``: ``Text.render`` drops the latter when no span exists
    for span in line.text.spans:
        if span.start < len(plain) and span.style:
            body.stylize(span.style, span.start, min(span.end, len(plain)))
    if query is not None and query.active:
        for number, (start, end) in enumerate(query.spans(plain)):
            body.stylize(styles.match_current if number == current_match else styles.match, start, end)
    if cut:
        body.append(_cut_marker(len(line.text.text) - MAX_RENDER_CHARS), styles.timestamp)
    return body


def gap_label(dropped: int) -> str:
    """The words on a gap separator row; ``dropped`` 0 when the count is unknown (Harper's own
    count is wrong, and Harper keeps no full history to load)."""
    if dropped <= 0:
        return " events not kept by the server "
    noun = "event" if dropped == 1 else "events"
    return f" {group_thousands(dropped)} {noun} not kept by the server · press L to load the full history "


def gap_text(dropped: int, width: int, style: Style) -> Text:
    """A full-width ``──── N events not kept … ────`` separator."""
    label = gap_label(dropped)
    side = max(4, (width - cell_len(label)) // 2)
    right = max(4, width - side - cell_len(label))
    text = Text("─" * side + label + "─" * right, no_wrap=True, end="")
    text.stylize(style)
    return text


def wrapped_rows(cells: int, width: int) -> int:
    """Rows a body of ``cells`` cells needs at ``width`` cells per row (at least one)."""
    if width <= 0 or cells <= width:
        return 1
    return -(-cells // width)


def _foreground(style: Style) -> Style:
    """``style`` without its background."""
    return Style(
        color=style.color,
        bold=style.bold,
        dim=style.dim,
        italic=style.italic,
        underline=style.underline,
        strike=style.strike,
        reverse=style.reverse,
    )


def _cursor(style: Style) -> Style:
    """The current line's style: its background, and reverse/bold when the theme sets them (the
    ``NO_COLOR`` rule does: a background alone turns into two nearly equal greys)."""
    return Style(bgcolor=style.bgcolor, reverse=style.reverse, bold=style.bold)


def resolve_line_styles(get: Callable[..., Style], base: Style) -> LineStyles:
    """:class:`LineStyles` from a widget's ``get_component_rich_style``.

    Only errors and search highlights keep a background, so the cursor's background shows through
    everything else.
    """
    error = get("install-log--error")
    return LineStyles(
        base=base,
        gutter_stdout=_foreground(get("install-log--gutter-stdout")),
        gutter_stderr=_foreground(get("install-log--gutter-stderr")),
        stderr=_foreground(get("install-log--stderr")),
        error=error,
        error_on_cursor=_foreground(error),
        warning=_foreground(get("install-log--warning")),
        timestamp=_foreground(get("install-log--timestamp")),
        match=get("install-log--match"),
        match_current=get("install-log--match-current"),
        cursor=_cursor(get("install-log--cursor")),
        cursor_mark=_foreground(get("install-log--cursor-mark")),
        gap=_foreground(get("install-log--gap")),
    )


def line_rows(
    console: Console,
    line: LineLike,
    styles: LineStyles,
    *,
    timestamps: bool,
    query: SearchQuery | None,
    current_match: int | None,
    cursor: bool,
    wrap_width: int | None,
) -> list[Strip]:
    """A line as strips: one full-length strip, or one per ``wrap_width`` cells of text.

    Continuation rows carry a continuation mark (a stderr one for stderr) and indent under the text.
    """
    body = Strip(line_body(line, styles, query, current_match, cursor=cursor).render(console))
    prefix = Strip(line_prefix(line, styles, timestamps, cursor=cursor).render(console))
    if wrap_width is None or body.cell_length <= wrap_width:
        rows = [Strip.join([prefix, body])]
    else:
        more = Strip(line_prefix(line, styles, timestamps, first=False).render(console))
        pieces = body.divide([*range(wrap_width, body.cell_length, wrap_width), body.cell_length])
        rows = [Strip.join([prefix if n == 0 else more, piece]) for n, piece in enumerate(pieces)]
    base = styles.base + styles.cursor if cursor else styles.base
    return [row.apply_style(base) for row in rows]


def walk_lines(items: Sequence[int], position: int, delta: int) -> int | None:
    """The line index ``delta`` lines away from ``items[position]``, skipping gap items.

    Stops at either end; lands on the nearest line when ``position`` is a gap.
    """
    step = -1 if delta < 0 else 1
    remaining = abs(delta)
    while remaining and 0 <= position + step < len(items):
        position += step
        if not items[position] & 1:
            remaining -= 1
    for direction in (step, -step):
        probe = position
        while 0 <= probe < len(items):
            if not items[probe] & 1:
                return items[probe] >> 1
            probe += direction
    return None
