"""The scrolling list of install lines inside :class:`~deploytui.tui.widgets.install_log.InstallLog`.

A Line API ``ScrollView`` (the toolong pattern): the install lines live in a plain list, only the
rows on screen are rendered, and rendered rows are kept in an LRU cache keyed by everything that
changes their look. Appending a batch extends two lists and sets ``virtual_size`` — no per-line widget
work — which is what keeps a chatty ``npm install`` cheap (``bench/bench_install_log.py`` measures
it).

What is displayed is a sorted list of *items* (see ``render.line_item``): every line plus
gap separators, or — in filter mode — the line indices that match the query. With wrap on, each item
can take several rows; a prefix sum of row counts is built lazily for the current width.
"""

from __future__ import annotations

from array import array
from bisect import bisect_left
from typing import TYPE_CHECKING, Any, ClassVar

from rich.segment import Segment
from textual.cache import LRUCache
from textual.geometry import Size
from textual.reactive import reactive, var
from textual.scroll_view import ScrollView
from textual.strip import Strip

import deploytui.tui.widgets.install_log.render as R
from deploytui.client.lines import ERROR, STDERR, LineStore
from deploytui.tui.widgets.install_log.search_index import SearchIndex
from deploytui.tui.widgets.install_log.wrapped_rows import WrappedRows

if TYPE_CHECKING:
    from collections.abc import Sequence

    from textual import events

    from deploytui.client.view import InstallLine


class LineList(ScrollView, can_focus=True, inherit_bindings=False):
    """Renders install lines on demand; owns follow, wrap, timestamps, search and filter state."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "install-log--gutter-stdout",
        "install-log--gutter-stderr",
        "install-log--stderr",
        "install-log--error",
        "install-log--warning",
        "install-log--timestamp",
        "install-log--match",
        "install-log--match-current",
        "install-log--cursor",
        "install-log--cursor-mark",
        "install-log--gap",
    }
    DEFAULT_CSS = """
    LineList {
        height: 1fr;
        background: $surface;
        color: $foreground;
        overflow-x: auto;
        overflow-y: scroll;
        scrollbar-gutter: stable;
        & > .install-log--gutter-stdout { color: $foreground-muted; }
        & > .install-log--gutter-stderr { color: $warning; text-style: bold; }
        & > .install-log--stderr { color: $text-warning; }
        & > .install-log--warning { color: $warning; }
        & > .install-log--error { color: $text-error; background: $error 15%; text-style: bold; }
        & > .install-log--timestamp { color: $foreground-muted; }
        & > .install-log--match { background: $warning-muted; }
        & > .install-log--match-current { background: $warning; color: $background; text-style: bold; }
        & > .install-log--cursor { background: $primary 50%; }
        & > .install-log--cursor-mark { color: $accent; text-style: bold; }
        &:nocolor > .install-log--cursor { text-style: reverse; }
        & > .install-log--gap { color: $accent; text-style: italic; }
    }
    """

    follow: var[bool] = var(True)
    """True while the list sticks to the newest line."""
    new_lines_waiting: var[int] = var(0)
    """Lines that arrived (and would be shown) while follow was paused."""
    wrap: reactive[bool] = reactive(False)
    """Soft-wrap long lines instead of scrolling horizontally."""
    timestamps: reactive[bool] = reactive(False)
    """Prefix each line with its ``HH:MM:SS.mmm`` local time."""
    filter_active: reactive[bool] = reactive(False)
    """Show only the lines matching the search query."""
    search_query: reactive[str] = reactive("")
    """The text (or pattern) searched for; empty for no search."""
    search_regex: reactive[bool] = reactive(False)
    """Treat :attr:`search_query` as a regular expression."""
    cursor_line: var[int | None] = var(None)
    """Index of the current line (the one ``current_line_text`` copies), or None."""

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.lines = LineStore()
        """Every line, in order, as columns: the source of truth (read only for callers)."""
        self.gaps: dict[int, int] = {}
        """``position of the line before the gap -> dropped events`` for each gap shown."""
        self._pending_gaps: list[tuple[int, int]] = []
        self.stderr_count = 0
        self.error_count = 0
        self._cells = array("l")
        self._max_cells = 0
        self._items = array("q")
        self._filtered: list[int] | None = None
        self._filtered_max = 0
        self._wrapped = WrappedRows()
        self._search = SearchIndex()
        self._cache: LRUCache[tuple[Any, ...], list[Strip]] = LRUCache(2048)
        self._styles: R.LineStyles | None = None

    # ---------------------------------------------------------------- data in

    def append_lines(self, lines: Sequence[InstallLine] | LineStore) -> None:
        """Add a batch of lines (``InstallLine`` objects, or a store's columns): extends the columns
        and the virtual size, no object per line."""
        if not lines:
            return
        start = len(self.lines)
        if isinstance(lines, LineStore):
            self.lines.extend_from(lines)
        else:
            self.lines.extend(lines)
        texts = self.lines.plain_texts(start)
        cells = array("l", map(R.display_cells, texts))
        self._cells.extend(cells)
        self._max_cells = max(self._max_cells, max(cells))
        self.stderr_count += self.lines.count_flag(STDERR, start)
        self.error_count += self.lines.count_flag(ERROR, start)
        new_items = range(R.line_item(start), R.line_item(start + len(texts)), 2)
        self._items.extend(new_items)
        matched = self._search.extend(texts, start)
        if self._filtered is None or not self._search.query.active:
            shown = new_items
        else:
            shown = [R.line_item(index) for index in matched]
        if self._filtered is not None:
            self._filtered.extend(shown)
            self._filtered_max = max(self._filtered_max, *(self._cells[item >> 1] for item in shown), 0)
        self._wrapped.extend(shown, self._cells)
        self._content_changed(len(shown))
        if self._pending_gaps:
            self._place_pending_gaps()

    def add_gap(self, after_index: int, dropped_events: int) -> None:
        """Show a separator after the line whose ``InstallLine.index`` is ``after_index``.

        A gap after a line not appended yet waits for it (lines may still sit in a ``LineBuffer``).
        """
        last = self.lines.index_at(-1) if self.lines else -1
        if after_index > last:
            self._pending_gaps.append((after_index, dropped_events))
            return
        position = self.lines.position_of_index(after_index)
        self.gaps[position] = self.gaps.get(position, 0) + dropped_events
        item = R.gap_item(position)
        at = bisect_left(self._items, item)
        if at < len(self._items) and self._items[at] == item:
            self._cache.clear()
        else:
            self._items.insert(at, item)
            if self._filtered is None:
                self._wrapped.invalidate()
        self._content_changed(0)

    @property
    def pending_gaps(self) -> list[tuple[int, int]]:
        """``(after_index, dropped_events)`` of the gaps after lines not appended yet."""
        return list(self._pending_gaps)

    def _place_pending_gaps(self) -> None:
        last = self.lines.index_at(-1)
        ready = [gap for gap in self._pending_gaps if gap[0] <= last]
        if ready:
            self._pending_gaps = [gap for gap in self._pending_gaps if gap[0] > last]
            for after_index, dropped in ready:
                self.add_gap(after_index, dropped)

    def clear(self) -> None:
        """Forget every line and gap (and the search results), back to an empty pane."""
        self.lines = LineStore()
        self.gaps.clear()
        self._pending_gaps.clear()
        self._cells = array("l")
        self._items = array("q")
        self._max_cells = self.stderr_count = self.error_count = 0
        self._filtered = [] if self._filtered is not None else None
        self._search.reset(self._search.query, ())
        self._wrapped.invalidate()
        self._cache.clear()
        self.cursor_line = None
        self.new_lines_waiting = 0
        self._content_changed(0)
        self.follow = True

    # ---------------------------------------------------------------- geometry

    @property
    def items(self) -> Sequence[int]:
        """The items displayed now (filtered or all)."""
        return self._items if self._filtered is None else self._filtered

    @property
    def prefix_width(self) -> int:
        """Cells taken by the gutter (and timestamp) in front of every line."""
        return R.GUTTER_WIDTH + (R.TIMESTAMP_WIDTH if self.timestamps else 0)

    @property
    def body_width(self) -> int:
        """Cells available to a line's text when wrapping."""
        return max(1, self.scrollable_content_region.width - self.prefix_width)

    def _ensure_rows(self) -> list[int] | None:
        """The wrapped-row prefix sums for the current width, or None without wrap."""
        return self._wrapped.starts(self.items, self._cells, self.body_width) if self.wrap else None

    @property
    def row_count(self) -> int:
        """Rows the displayed items take (the virtual height)."""
        rows = self._ensure_rows()
        return rows[-1] if rows is not None else len(self.items)

    def row_of_position(self, position: int) -> int:
        """First row of the item at ``position`` in :attr:`items`."""
        rows = self._ensure_rows()
        return rows[min(position, len(rows) - 1)] if rows is not None else position

    def position_of_row(self, row: int) -> tuple[int, int]:
        """``(item position, row within the item)`` of a virtual row."""
        rows = self._ensure_rows()
        return (row, 0) if rows is None else WrappedRows.locate(rows, row)

    def position_of_line(self, index: int) -> int | None:
        """Position of line ``index`` in :attr:`items`, or None when it is filtered out."""
        items = self.items
        position = bisect_left(items, R.line_item(index))
        return position if position < len(items) and items[position] == R.line_item(index) else None

    def _update_virtual_size(self) -> None:
        widest = self._max_cells if self._filtered is None else self._filtered_max
        width = 0 if self.wrap else self.prefix_width + widest
        size = Size(width, self.row_count)
        if size == self.virtual_size:
            return
        if self.styles.auto_dimensions or not self.is_mounted:
            self.virtual_size = size
            return
        # Setting the reactive asks for a layout of the whole screen; a longer log changes nothing
        # but this widget's scrollbars, so update those alone (_scroll_update still asks for a
        # layout when a scrollbar appears or goes). One layout per batch was most of a replay.
        self.set_reactive(ScrollView.virtual_size, size)
        self._scroll_update(size)

    def _content_changed(self, shown: int) -> None:
        self._update_virtual_size()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        elif shown:
            self.new_lines_waiting += shown
        self.refresh()

    def _relayout(self) -> None:
        """Re-measure after a toggle, keeping the top line in place unless following."""
        top = self.position_of_row(round(self.scroll_y))[0] if self.items else 0
        self._wrapped.invalidate()
        self._cache.clear()
        self._update_virtual_size()
        if self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            self.scroll_to(y=self.row_of_position(top), animate=False, immediate=True)
        self.refresh()

    def on_resize(self, event: events.Resize) -> None:
        if self.wrap:
            self._relayout()
        elif self.follow:
            self.scroll_end(animate=False, immediate=True, x_axis=False)

    def watch_wrap(self) -> None:
        self.scroll_x = 0
        self._relayout()

    def watch_timestamps(self) -> None:
        self._relayout()

    # ---------------------------------------------------------------- search and filter

    @property
    def search(self) -> SearchIndex:
        """Search results: matching lines, counts and the current match."""
        return self._search

    def _apply_search(self) -> None:
        self._search.reset(R.SearchQuery(self.search_query, self.search_regex), self.lines.plain_texts())
        self._filtered = self._filter_items() if self.filter_active else None
        self._relayout()

    def _filter_items(self) -> list[int]:
        if not self._search.query.active:
            items = [item for item in self._items if not item & 1]
        else:
            items = [R.line_item(index) for index in self._search.lines]
        self._filtered_max = max((self._cells[item >> 1] for item in items), default=0)
        return items

    def watch_search_query(self) -> None:
        self._apply_search()

    def watch_search_regex(self) -> None:
        self._apply_search()

    def watch_filter_active(self, active: bool) -> None:
        self._filtered = self._filter_items() if active else None
        if self.cursor_line is not None and not self.follow:
            self._relayout()
            self.show_line(self.cursor_line)
        else:
            self._relayout()

    # ---------------------------------------------------------------- follow and moving

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """Pause follow when the list scrolls up; resume it when it reaches the bottom."""
        super().watch_scroll_y(old_value, new_value)
        at_end = new_value >= self.max_scroll_y
        if at_end and not self.follow:
            self.follow = True
        elif not at_end and new_value < old_value and self.follow:
            self.follow = False

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self.new_lines_waiting = 0

    def resume_follow(self) -> None:
        """Jump to the newest line and stick to it again."""
        self.follow = True
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def scroll_to_row(self, row: int, *, center: bool = True) -> None:
        """Bring a virtual row into view (centred when it was off screen); moving up pauses follow."""
        height = self.scrollable_content_region.height
        top = round(self.scroll_y)
        if top <= row < top + height:
            return
        target = max(0, row - height // 2) if center else (row if row < top else row - height + 1)
        if target < top:
            self.follow = False
        self.scroll_to(y=target, animate=False, immediate=True)

    def show_line(self, index: int) -> None:
        """Make line ``index`` the current line and scroll it into view."""
        self.cursor_line = index
        position = self.position_of_line(index)
        if position is not None:
            self.scroll_to_row(self.row_of_position(position))
        self.refresh()

    def move_cursor(self, delta: int) -> None:
        """Move the current line by ``delta`` displayed lines, skipping gap rows.

        Without a current line, the first press picks the bottom line on screen (moving up) or the
        top one (moving down).
        """
        items = self.items
        if not items:
            return
        if delta < 0:
            self.follow = False  # reading upwards: new lines must not pull the view away
        position = None if self.cursor_line is None else self.position_of_line(self.cursor_line)
        if position is None:
            edge = self.scrollable_content_region.height - 1 if delta < 0 else 0
            position = min(self.position_of_row(round(self.scroll_y) + edge)[0], len(items) - 1)
            delta = 0
        landed = R.walk_lines(items, position, delta)
        if landed is not None:
            self.show_line(landed)

    def on_click(self, event: events.Click) -> None:
        """Clicking a line makes it the current line."""
        position, _ = self.position_of_row(round(self.scroll_y) + event.y)
        if 0 <= position < len(self.items) and not self.items[position] & 1:
            self.cursor_line = self.items[position] >> 1
            self.refresh()

    # ---------------------------------------------------------------- rendering

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._styles = None
        self._cache.clear()

    def _line_styles(self) -> R.LineStyles:
        if self._styles is None:
            self._styles = R.resolve_line_styles(self.get_component_rich_style, self.rich_style)
        return self._styles

    def _render_item(self, item: int, width: int) -> list[Strip]:
        """Rows of one item (cached): one full-length strip, or several when wrapping at ``width``."""
        index = item >> 1
        is_cursor = not item & 1 and index == self.cursor_line
        current = self._search.current_in_line(index)
        key = (item, width if self.wrap else 0, self.timestamps, self._search.generation, is_cursor, current)
        rows = self._cache.get(key)
        if rows is None:
            styles = self._line_styles()
            if item & 1:
                gap = R.gap_text(self.gaps.get(index, 0), self.scrollable_content_region.width, styles.gap)
                rows = [Strip(gap.render(self.app.console)).apply_style(styles.base)]
            else:
                rows = R.line_rows(
                    self.app.console,
                    self.lines[index],
                    styles,
                    timestamps=self.timestamps,
                    query=self._search.query,
                    current_match=current,
                    cursor=is_cursor,
                    wrap_width=width if self.wrap else None,
                )
            self._cache[key] = rows
        return rows

    def render_line(self, y: int) -> Strip:
        """The strip for screen row ``y`` (Line API)."""
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        styles = self._line_styles()
        position, sub_row = self.position_of_row(scroll_y + y)
        items = self.items
        if not 0 <= position < len(items):
            return Strip.blank(width, styles.base)
        item = items[position]
        rows = self._render_item(item, self.body_width)
        strip = rows[min(sub_row, len(rows) - 1)]
        pad = styles.base + styles.cursor if (not item & 1 and item >> 1 == self.cursor_line) else styles.base
        if self.wrap:
            return strip.extend_cell_length(width, pad).crop(0, width)
        return strip.crop_extend(scroll_x, scroll_x + width, pad)

    def rendered_text(self) -> list[str]:
        """The visible rows as plain text (for tests and screen dumps)."""
        return ["".join(segment.text for segment in self.render_line(y)) for y in range(self.size.height)]

    def rendered_segments(self) -> list[list[Segment]]:
        """The visible rows as Rich segments (for tests)."""
        return [list(self.render_line(y)) for y in range(self.size.height)]
