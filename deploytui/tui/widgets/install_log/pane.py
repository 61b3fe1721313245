"""The install output pane: npm/pnpm/yarn output of a deployment, live.

:class:`InstallLog` is the pane a screen mounts. It wraps a :class:`LineList` — a Line API
``ScrollView`` that renders only the visible rows from a list of ``InstallLine`` objects — and adds
what a ``ScrollView`` cannot hold as children: the "+N new lines" badge and the search bar. Keys are
bound here, each with an id so users can remap them (``App.set_keymap``).

Lines must arrive in batches: call :meth:`InstallLog.append_lines` at most once per frame with
everything that arrived, or let a :class:`LineBuffer` collect them and flush every ~1/30 s.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import Input

from deploytui.client.lines import ERROR, LineStore
from deploytui.tui.widgets.install_log.line_list import LineList
from deploytui.tui.widgets.install_log.new_lines_badge import NewLinesBadge
from deploytui.tui.widgets.install_log.render import group_thousands
from deploytui.tui.widgets.install_log.search_bar import SearchBar

if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence

    from deploytui.client.view import Gap, InstallLine

__all__ = ["InstallLog"]


class InstallLog(Vertical):
    """The install output pane: follow, search, filter, wrap, timestamps, cursor, gaps.

    Public state is reactive (``wrap``, ``timestamps``, ``filter_active``, ``search_query``,
    ``search_regex``) and passed on to the line list; ``follow`` is read from the list because the
    user's scrolling changes it. Everything a screen must react to is a message.
    """

    DEFAULT_CSS = """
    InstallLog {
        height: 1fr;
        layers: base overlay;
        align: right bottom;
        border: round $primary-muted;
        border-title-color: $foreground;
        border-subtitle-color: $foreground-muted;
        &:focus-within { border: round $primary; }
    }
    InstallLog.-searching NewLinesBadge { margin-bottom: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j,down", "cursor(1)", "Down", show=False, id="log.cursor_down"),
        Binding("k,up", "cursor(-1)", "Up", show=False, id="log.cursor_up"),
        Binding("pagedown,ctrl+f,space", "page(1)", "Page down", show=False, id="log.page_down"),
        Binding("pageup,ctrl+b", "page(-1)", "Page up", show=False, id="log.page_up"),
        Binding("ctrl+d", "half_page(1)", "Half page down", show=False, id="log.half_page_down"),
        Binding("ctrl+u", "half_page(-1)", "Half page up", show=False, id="log.half_page_up"),
        Binding("h,left", "scroll_sideways(-4)", "Left", show=False, id="log.left"),
        Binding("l,right", "scroll_sideways(4)", "Right", show=False, id="log.right"),
        Binding("home,g", "top", "Top", show=False, id="log.top"),
        Binding("end,G", "follow", "Live", id="log.follow"),
        Binding("slash", "open_search", "Search", id="log.search"),
        Binding("n", "next_match", "Next", show=False, id="log.next_match"),
        Binding("N", "previous_match", "Prev", show=False, id="log.previous_match"),
        Binding("f", "toggle_filter", "Filter", id="log.filter"),
        Binding("w", "toggle_wrap", "Wrap", id="log.wrap"),
        Binding("t", "toggle_timestamps", "Times", show=False, id="log.timestamps"),  # footer room at 80 cols; ? lists it
        Binding("e", "first_error", "1st error", id="log.first_error"),
        Binding("L", "load_history", "Full history", id="log.load_history"),
        # L with nothing missing: said so, not silently ignored (the footer offers L only for a gap).
        Binding("L", "history_complete", "Full history", show=False, id="log.history_complete"),
        Binding("escape", "clear_search", "Clear search", show=False, id="log.clear_search"),
    ]

    wrap: reactive[bool] = reactive(False)
    """Soft-wrap long lines (``w``)."""
    timestamps: reactive[bool] = reactive(False)
    """Prefix lines with ``HH:MM:SS.mmm`` local time (``t``)."""
    filter_active: reactive[bool] = reactive(False)
    """Show only lines matching :attr:`search_query` (``f``)."""
    search_query: reactive[str] = reactive("")
    """Current search text; matches are highlighted in every visible line."""
    search_regex: reactive[bool] = reactive(False)
    """Treat :attr:`search_query` as a regular expression (``ctrl+r`` in the search bar)."""

    # Nested, as Textual's own messages are: handlers are ``on_install_log_follow_changed`` etc.

    class FollowChanged(Message):
        """Follow was paused (the user scrolled up) or resumed."""

        def __init__(self, install_log: InstallLog, follow: bool) -> None:
            super().__init__()
            self.install_log = install_log
            self.follow = follow

        @property
        def control(self) -> InstallLog:
            return self.install_log

    class LoadHistoryRequested(Message):
        """The user asked (``L``) for the events the server's bounded log dropped."""

        def __init__(self, install_log: InstallLog) -> None:
            super().__init__()
            self.install_log = install_log

        @property
        def control(self) -> InstallLog:
            return self.install_log

    class SearchChanged(Message):
        """The query, the match count or the current match changed (``label`` is "match 3/41")."""

        def __init__(self, install_log: InstallLog, query: str, total: int, label: str) -> None:
            super().__init__()
            self.install_log = install_log
            self.query = query
            self.total = total
            self.label = label

        @property
        def control(self) -> InstallLog:
            return self.install_log

    def __init__(
        self,
        *,
        title: str | None = "install output",
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
        max_lines: int | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        if title:
            self.border_title = title
        self.max_lines = max_lines
        """Hold at most this many lines (None: no bound); see :meth:`_drop_oldest`."""
        self.line_list = LineList()
        """The Line API list that holds and draws the lines (focus goes here)."""
        self.history_available: bool | None = None
        """False once the server is known to keep no full history (Harper): ``L`` is not offered."""
        self.has_error_lines = False
        """True once an error line is held: only then does the footer offer ``e``."""
        self.history_loading = False
        """True from ``L`` until the history is shown (or failed): the subtitle says so."""
        self.badge = NewLinesBadge()
        self.search_bar = SearchBar()
        self._search_said: tuple[str, int, str] | None = None  # the last SearchChanged posted
        self.last_search: tuple[str, bool] | None = None
        """``(query, regex)`` of the search ``Esc`` cleared: ``n``/``N`` take it up again (as in
        less and vim, the last pattern outlives the highlight)."""

    def compose(self) -> ComposeResult:
        yield self.line_list
        yield self.search_bar
        yield self.badge

    def on_mount(self) -> None:
        self.watch(self.line_list, "follow", self._follow_changed, init=False)
        self.watch(self.line_list, "new_lines_waiting", self.badge.show_count)
        self._update_subtitle()

    # ---------------------------------------------------------------- public API

    @property
    def follow(self) -> bool:
        """True while the list sticks to the newest line."""
        return self.line_list.follow

    @property
    def lines(self) -> LineStore:
        """Every line held, in order (read only; ``lines[i]`` builds an ``InstallLine``)."""
        return self.line_list.lines

    def append_lines(self, lines: Sequence[InstallLine] | LineStore) -> None:
        """Add a batch of lines; cheap enough to call once per frame with thousands of lines."""
        if lines:
            gaps = len(self.line_list.gaps)
            self.line_list.append_lines(lines)
            if self.max_lines is not None and len(self.line_list.lines) > self.max_lines:
                self._drop_oldest()
            self._search_changed()
            self._update_subtitle()
            if len(self.line_list.gaps) != gaps or self._first_error_arrived():
                self.refresh_bindings()

    def _drop_oldest(self) -> None:
        """Keep the newest two thirds of :attr:`max_lines` (a million-line install must not hold a
        million lines): the list is rebuilt through :meth:`replace_lines`, which keeps search,
        filter, toggles and the reading position; gaps among the kept lines stay. Keeping a third
        less than the bound rebuilds once per ``max_lines / 3`` lines, not per batch."""
        from deploytui.client.view import Gap

        line_list = self.line_list
        held = line_list.lines
        keep = held.tail(self.max_lines * 2 // 3 if self.max_lines else 0)
        first = keep.first_index
        gaps = [Gap(held.index_at(position), dropped) for position, dropped in sorted(line_list.gaps.items())
                if position >= 0 and held.index_at(position) >= first]
        gaps += [Gap(after, dropped) for after, dropped in line_list.pending_gaps]
        self.replace_lines(keep, gaps)

    def add_gap(self, gap: Gap) -> None:
        """Show "N events not kept by the server" after ``gap.after_index`` (``L`` loads them);
        without a number when the server's count is not to be trusted (Harper's)."""
        self.line_list.add_gap(gap.after_index, gap.dropped_events if gap.exact else 0)
        self.refresh_bindings()

    def clear(self) -> None:
        """Remove every line and gap."""
        self.line_list.clear()
        self.has_error_lines = False
        self._search_changed()
        self._update_subtitle()
        self.refresh_bindings()

    def replace_lines(self, lines: Sequence[InstallLine] | LineStore, gaps: Iterable[Gap] = ()) -> None:
        """Swap in a new set of lines (the full history), keeping search, filter and toggles."""
        self.history_loading = False
        line_list = self.line_list
        follow = line_list.follow
        anchor_seq = None
        if not follow and line_list.items:
            top = line_list.items[min(line_list.position_of_row(round(line_list.scroll_y))[0], len(line_list.items) - 1)]
            anchor_seq = line_list.lines.seq_at(top >> 1)
        line_list.clear()
        for gap in gaps:
            line_list.add_gap(gap.after_index, gap.dropped_events if gap.exact else 0)
        line_list.append_lines(lines)
        if not follow:
            line_list.follow = False
            seqs = line_list.lines.seqs if anchor_seq is not None else ()
            same = next((i for i, seq in enumerate(seqs) if seq == anchor_seq), 0)
            position = line_list.position_of_line(same) or 0
            line_list.scroll_to(y=line_list.row_of_position(position), animate=False, immediate=True)
        self.has_error_lines = False
        self._first_error_arrived()
        self._search_changed()
        self._update_subtitle()
        self.refresh_bindings()

    def _first_error_arrived(self) -> bool:
        """True once, when the lines held first include an error line (``e`` is offered from then)."""
        if self.has_error_lines:
            return False
        self.has_error_lines = self.line_list.lines.first_with(ERROR) is not None
        return self.has_error_lines

    def jump_to_first_error(self) -> bool:
        """Make the first ``is_error`` line current and scroll to it; False when there is none."""
        first = self.line_list.lines.first_with(ERROR)
        if first is None:
            return False
        if self.line_list.position_of_line(first) is None:
            self.filter_active = False
        self.line_list.follow = False
        self.line_list.show_line(first)
        return True

    def current_line_text(self) -> str:
        """Plain text of the current line (or of the newest line when there is no cursor)."""
        lines = self.line_list.lines
        if not lines:
            return ""
        index = self.line_list.cursor_line
        return lines.text(index if index is not None else len(lines) - 1)

    def all_text(self) -> str:
        """Every line as plain text, one per line (what the filter shows, when it is on)."""
        lines = self.line_list.lines
        if self.filter_active:
            return "\n".join(lines.text(item >> 1) for item in self.line_list.items if not item & 1)
        return "\n".join(lines.plain_texts())

    def open_search(self) -> None:
        """Open the search bar and focus its input."""
        self.add_class("-searching")
        self.search_bar.add_class("-open")
        self.search_bar.query_one(Input).focus()

    def close_search(self, *, clear: bool = False) -> None:
        """Close the search bar (optionally clearing the query and filter); focus the log."""
        self.remove_class("-searching")
        self.search_bar.remove_class("-open")
        if clear:
            if self.search_query:
                self.last_search = (self.search_query, self.search_regex)
            self.search_bar.query_one(Input).value = ""
            self.search_query = ""
            self.filter_active = False
        self.line_list.focus()

    def next_match(self, forward: bool = True) -> None:
        """Go to the next (or previous) match, making its line current; with no search set, the
        last one ``Esc`` cleared comes back first."""
        if not self.search_query and self.last_search is not None:
            query, regex = self.last_search
            self.search_regex = regex
            self.search_query = query
            self.search_bar.query_one(Input).value = query
        search = self.line_list.search
        start = self.line_list.cursor_line
        if start is None and self.line_list.items:
            top, _ = self.line_list.position_of_row(round(self.line_list.scroll_y))
            item = self.line_list.items[min(top, len(self.line_list.items) - 1)]
            start = item >> 1
        found = search.step(forward, start)
        if found is not None:
            self.line_list.follow = False
            self.line_list.show_line(found[0])
            self._reveal_column(found)
        self._search_changed()

    # ---------------------------------------------------------------- actions

    def action_cursor(self, delta: int) -> None:
        self.line_list.move_cursor(delta)

    def action_page(self, direction: int) -> None:
        self._page(direction * max(1, self.line_list.scrollable_content_region.height - 1))

    def action_half_page(self, direction: int) -> None:
        self._page(direction * max(1, self.line_list.scrollable_content_region.height // 2))

    def _page(self, rows: int) -> None:
        """Scroll by ``rows``; the current line, if there is one, moves along."""
        if self.line_list.cursor_line is None:
            self.line_list.scroll_to(y=self.line_list.scroll_y + rows, animate=False, immediate=True)
        else:
            self.line_list.move_cursor(rows)

    def action_scroll_sideways(self, cells: int) -> None:
        self.line_list.scroll_to(x=self.line_list.scroll_x + cells, animate=False, immediate=True)

    def action_top(self) -> None:
        line_list = self.line_list
        line_list.follow = False
        line_list.scroll_home(animate=False, immediate=True)
        first = next((item >> 1 for item in line_list.items if not item & 1), None)
        if first is not None:
            line_list.show_line(first)

    def action_follow(self) -> None:
        """Jump back to live and resume follow (``end``/``G``, or a click on the badge)."""
        self.line_list.cursor_line = None
        self.line_list.resume_follow()

    def action_open_search(self) -> None:
        self.open_search()

    def action_next_match(self) -> None:
        self.next_match(True)

    def action_previous_match(self) -> None:
        self.next_match(False)

    def action_toggle_filter(self) -> None:
        self.filter_active = not self.filter_active

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

    def action_toggle_timestamps(self) -> None:
        self.timestamps = not self.timestamps

    def action_first_error(self) -> None:
        if not self.jump_to_first_error():
            self.notify("No error lines", timeout=2)

    @property
    def missing_lines(self) -> bool:
        """True when lines are not held here: a gap the server left, or older lines dropped."""
        return bool(self.line_list.gaps) or self.line_list.lines.first_index > 0

    def action_load_history(self) -> None:
        self.set_history_loading(True)
        self.post_message(self.LoadHistoryRequested(self))

    def action_history_complete(self) -> None:
        lines = len(self.line_list.lines)
        self.notify(f"Nothing missing: all {group_thousands(lines)} line{'s' if lines != 1 else ''} are here",
                    timeout=3)

    def set_history_loading(self, loading: bool) -> None:
        """Show (or stop showing) "loading full history…" in the subtitle."""
        self.history_loading = loading
        self._update_subtitle()
        self.refresh_bindings()

    def action_clear_search(self) -> None:
        self.close_search(clear=True)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Hide ``L`` unless a gap is shown and the server keeps a full history, and escape unless
        a search is set."""
        if action == "load_history":
            return self.missing_lines and self.history_available is not False and not self.history_loading
        if action == "history_complete":
            return not self.missing_lines and self.history_available is not False
        if action == "first_error":
            return self.has_error_lines
        if action == "clear_search":
            return bool(self.search_query) or self.filter_active
        return True

    # ---------------------------------------------------------------- plumbing

    def _follow_changed(self, follow: bool) -> None:
        self.post_message(self.FollowChanged(self, follow))
        self._update_subtitle()

    # The line list's copies are set here rather than with ``data_bind`` so that the search results are
    # up to date before the counter and the message go out.

    def watch_wrap(self, wrap: bool) -> None:
        self.line_list.wrap = wrap

    def watch_timestamps(self, timestamps: bool) -> None:
        self.line_list.timestamps = timestamps

    def watch_search_query(self, query: str) -> None:
        self.line_list.search_query = query
        self._search_changed()
        self._update_subtitle()
        self.refresh_bindings()

    def watch_search_regex(self, regex: bool) -> None:
        self.line_list.search_regex = regex
        self._search_changed()

    def watch_filter_active(self, active: bool) -> None:
        self.line_list.filter_active = active
        self._search_changed()
        self._update_subtitle()
        self.refresh_bindings()

    def _search_changed(self) -> None:
        search = self.line_list.search
        label = search.label()
        flags = [flag for flag, on in (("regex", self.search_regex), ("filter", self.filter_active)) if on]
        self.search_bar.set_status(" · ".join([label, *flags]) if label else " · ".join(flags))
        said = (self.search_query, search.total, label)
        if said != self._search_said:  # a batch with no new match says nothing (no message per frame)
            self._search_said = said
            self.post_message(self.SearchChanged(self, *said))

    def _reveal_column(self, found: tuple[int, int]) -> None:
        """Scroll sideways so the current match is visible when lines are not wrapped."""
        if self.wrap:
            return
        index, number = found
        spans = self.line_list.search.query.spans(self.line_list.lines.text(index))
        if number >= len(spans):
            return
        start, end = spans[number]
        x = self.line_list.prefix_width + start
        width = self.line_list.scrollable_content_region.width
        left = round(self.line_list.scroll_x)
        if not left <= x <= x + (end - start) <= left + width:
            target = 0 if x < width - 8 else max(0, x - width // 3)
            self.line_list.scroll_to(x=target, animate=False, immediate=True)

    def _update_subtitle(self) -> None:
        line_list = self.line_list
        held = len(line_list.lines)
        parts = [f"{group_thousands(held)} line{'s' if held != 1 else ''}"]
        if line_list.stderr_count:
            parts.append(f"{group_thousands(line_list.stderr_count)} stderr")
        if line_list.error_count:
            parts.append(f"{group_thousands(line_list.error_count)} error{'s' if line_list.error_count != 1 else ''}")
        if self.filter_active:
            parts.append(f"{group_thousands(len(line_list.items))} shown")
        if not line_list.follow:
            parts.append("paused")
        if self.history_loading:
            parts.append("loading full history…")
        self.border_subtitle = " · ".join(parts)

    @on(Input.Changed)
    def _query_typed(self, event: Input.Changed) -> None:
        event.stop()
        self.search_query = event.value

    @on(SearchBar.Submitted)
    def _search_submitted(self) -> None:
        self.line_list.focus()
        if self.line_list.search.current is None:
            self.next_match(True)

    @on(SearchBar.Closed)
    def _search_closed(self) -> None:
        self.close_search(clear=False)

    @on(NewLinesBadge.Clicked)
    def _badge_clicked(self) -> None:
        self.action_follow()
