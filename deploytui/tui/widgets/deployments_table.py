"""The deployments list: a DataTable kept in step with the server's rows, in place.

Rows are keyed by deployment id. A poll is diffed against what is shown: new rows are added,
vanished or filtered-out rows removed, and changed cells updated with ``update_cell`` — never a
clear-and-rebuild, so nothing flickers and the cursor stays on its deployment. Sorting and the
filters are applied here too; columns that matter less drop out on narrow terminals.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text
from textual.binding import Binding
from textual.geometry import Size
from textual.widgets import DataTable

import deploytui.tui.widgets.formatting as fmt
from deploytui.tui.glyphs import pick
from deploytui.protocol.deployment import is_terminal
from deploytui.tui.widgets.status_glyphs import status_text, theme_style, tone_style

if TYPE_CHECKING:
    from rich.segment import SegmentLines
    from textual.widgets.data_table import CellKey, RowKey


@dataclass(frozen=True)
class Column:
    key: str
    label: str
    width: int | None
    wide_only: bool = False


COLUMNS: tuple[Column, ...] = (
    Column("status", " ", 2),
    Column("project", "Project", 18),
    Column("id", "ID", 8),
    Column("phase", "Phase", 10),
    Column("user", "User", 10, wide_only=True),
    Column("origin", "Origin", 14, wide_only=True),
    Column("started", "Started", 8),
    Column("duration", "Duration", 8),
    Column("size", "Size", 9, wide_only=True),
)
_NULL_STYLE = Style()
_NEWLINE = Text("\n")
WIDE_MIN_WIDTH = 110
"""Below this many columns, the User, Origin and Size columns are hidden."""
REBUILD_AFTER_REMOVALS = 16
"""DataTable's ``remove_row`` renumbers every row: past this many removals at once (a filter
narrowing thousands of rows) the table is rebuilt in one pass instead."""
PROJECT_MIN_WIDTH = 6
"""On a narrow terminal Project gives up its width first, down to this: Duration stays whole."""
CURRENT_MARK = ("★", "*")
"""After the project of the row whose release runs now (fancy, ASCII)."""


def current_releases(rows: list[dict[str, Any]]) -> dict[str, str]:
    """project -> the deployment whose release runs now, as far as ``rows`` tell: per project,
    the newest ended row decides — a success is its own release, a revert names the one it went
    back to (``reverted_to``, our server's field); failures change nothing."""
    found: dict[str, str] = {}
    decided: set[str] = set()
    for row in sorted(rows, key=lambda r: r.get("started_at") or 0, reverse=True):
        project = row.get("project")
        if not isinstance(project, str) or project in decided:
            continue
        status = row.get("status")
        if status == "success":
            found[project] = str(row.get("deployment_id"))
        elif status == "rolled_back" and isinstance(row.get("reverted_to"), str):
            found[project] = row["reverted_to"]
        elif status != "rolled_back":
            continue  # failed or still running: the release before it still runs
        decided.add(project)
    return found

SORTS: tuple[tuple[str, str], ...] = (
    ("started", "started"),
    ("project", "project"),
    ("status", "status"),
    ("duration", "duration"),
    ("size", "size"),
    ("user", "user"),
)
STATUS_FILTERS: dict[str, Callable[[str], bool] | None] = {
    "all": None,
    "running": lambda status: not is_terminal(status),
    "failed": lambda status: status in ("failed", "rolled_back"),
    "success": lambda status: status == "success",
}


class IdCell(Text):
    """The short-id cell; carries the full id so sorting can find the row's data."""

    def __init__(self, deployment_id: str) -> None:
        super().__init__(fmt.short_id(deployment_id), style="dim", no_wrap=True)
        self.deployment_id = deployment_id


def _search_blob(row: dict[str, Any]) -> str:
    fields = ("project", "deployment_id", "status", "phase", "user", "origin_node", "package_identifier")
    return " ".join(fmt.clean(row.get(name)) for name in fields).lower()


class DeploymentsTable(DataTable):
    """The list of deployments; call :meth:`update_rows` with each poll's rows."""

    DEFAULT_CSS = """
    DeploymentsTable { height: 1fr; }
    """
    BINDINGS = [
        # DataTable's own enter binding is hidden and shadows the screen's "Open" in the footer while
        # the list has focus; this one (same id, so a remap moves both) shows it.
        Binding("enter", "select_cursor", "Open", id="deployments.open"),
        Binding("j", "cursor_down", "Down", show=False, id="deployments.down"),
        Binding("k", "cursor_up", "Up", show=False, id="deployments.up"),
        Binding("g", "scroll_top", "Top", show=False, id="deployments.top"),
        Binding("G", "scroll_bottom", "Bottom", show=False, id="deployments.bottom"),
    ]

    def __init__(self, *, now: Callable[[], float], id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.now = now
        self.durations_frozen_at: float | None = None
        """While the server does not answer: the time of the last answer, where running rows'
        durations stop (we do not know they still run; a ticking figure would claim so)."""
        self.rows_by_id: dict[str, dict[str, Any]] = {}
        """Every row of the last poll, filtered or not."""
        self.text_filter = ""
        self.status_filter = "all"
        self.sort_index = 0
        self.sort_reverse = False
        self.wide: bool | None = None
        self.project_width = COLUMNS[1].width or 18
        self.current: dict[str, str] = {}
        """project -> the deployment whose release runs now (:func:`current_releases`)."""
        self._cells: dict[str, dict[str, str]] = {}
        self._built_from: dict[str, dict[str, Any]] = {}
        """Per row shown: the poll's row its cells were last built from. A poll rebuilds only the
        rows it changed; time cells are rebuilt for the rows in view (:meth:`tick`, scrolling):
        10,000 rows rebuilt each second would stall the dashboard ~0.3 s each time."""
        self._status_cells: dict[str, tuple[Text, Style]] = {}
        """Per shown status: its cell and its tone in the current theme (parsing a theme style
        costs ~1 ms; a list of thousands of rows would spend seconds on it per refresh)."""

    # DataTable measures every cell of each new or updated row to size auto-width columns (and, when
    # an updated cell got narrower, every cell of its column again). Every column here has a fixed
    # width and every row one line, so only the virtual size can change: 200 rows painted ~40 ms
    # sooner, and a tick updating a cell costs no pass over the whole column.

    def _fixed(self) -> bool:
        return not any(column.auto_width for column in self.columns.values())

    def _update_dimensions(self, new_rows: Iterable[RowKey]) -> None:
        if not self._fixed():
            super()._update_dimensions(new_rows)
            return
        width = sum(column.get_render_width(self) for column in self.columns.values())
        header = self.header_height if self.show_header else 0
        self.virtual_size = Size(width + self._row_label_column_width, self._total_row_height + header)

    def _update_column_widths(self, updated_cells: set[CellKey]) -> None:
        if not self._fixed():
            super()._update_column_widths(updated_cells)

    # DataTable renders each cell through Rich's general path (Styled(Padding(cell)) laid out by
    # Console.render_lines): ~0.2 ms a cell, so a screenful of 27 rows cost ~40 ms before the list's
    # first frame. A one-line Text cell (all of ours) is rendered here to the same segments directly.
    def _render_cell(self, row_index: int, column_index: int, base_style: Style, width: int,
                     cursor: bool = False, hover: bool = False) -> SegmentLines:
        if row_index < 0 or column_index < 0 or width < 2 * self.cell_padding:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        row_key = self._row_locations.get_key(row_index)
        cache_key = (row_key, self._column_locations.get_key(column_index), base_style, cursor, hover,
                     self._show_hover_cursor, self._update_count, self._pseudo_class_state)
        lines = self._cell_render_cache.get(cache_key)
        if lines is None:
            cell = self._get_row_renderables(row_index)[1][column_index]
            line = self._text_line(cell, width - 2 * self.cell_padding) \
                if isinstance(cell, Text) and self.rows[row_key].height == 1 else None
            if line is None:
                return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
            component_style, post_style = self._get_styles_to_render_cell(
                False, False, row_index < self.fixed_rows or column_index < self.fixed_columns, hover, cursor,
                self.show_cursor, self._show_hover_cursor, self.cursor_foreground_priority == "css",
                self.cursor_background_priority == "css")
            pre_style = base_style + Style.from_meta({"row": row_index, "column": column_index}) + component_style
            padding = Segment(" " * self.cell_padding, _NULL_STYLE)
            lines = [list(Segment.apply_style([padding, *line, padding], pre_style, post_style))]
            self._cell_render_cache[cache_key] = lines
        return lines

    def _text_line(self, cell: Text, width: int) -> list[Segment] | None:
        """``cell`` as Text.__rich_console__ renders it on one line ``width`` cells wide, without
        wrapping, padded as Padding pads it; None when it is not one line."""
        console = self.app.console
        options = self.app.console_options
        justify = cell.justify or options.justify or "default"
        overflow = cell.overflow or options.overflow or "fold"
        plain = cell.plain
        if "\n" in plain or "\t" in plain or justify not in ("default", "left"):
            wrapped = cell.wrap(console, width, justify=justify, overflow=overflow, tab_size=cell.tab_size or 8,
                                no_wrap=True)
            if len(wrapped) != 1:
                return None
            line = _NEWLINE.join(wrapped)  # as Text.__rich_console__ does: the line's own style becomes a span
        else:
            # What wrap(no_wrap=True) and join do to one line, without their copies and containers:
            # ~10% of rendering a first frame's 27 rows (~20 ms).
            line = cell.copy()
            if justify == "left":
                line.truncate(width, overflow=overflow, pad=True)
            line.truncate(width, overflow=overflow)
            if line.style:
                line.spans.insert(0, Span(0, len(line), line.style))
                line.style = ""
        return Segment.adjust_line_length(list(line.render(console, end="")), width, style=_NULL_STYLE)

    def on_mount(self) -> None:
        # Status cells hold the theme's colour as it was when built: rebuild them when it changes.
        self.app.theme_changed_signal.subscribe(self, self._recolour)

    def _recolour(self, _theme: object) -> None:
        self._status_cells.clear()
        for deployment_id in self._cells:
            self.update_cell(deployment_id, "status", self.cells_for(self.rows_by_id[deployment_id])["status"])

    # ------------------------------------------------------------------ columns

    def set_width(self, width: int) -> None:
        """Fit the columns to a terminal ``width`` cells wide: the less important ones go below
        :data:`WIDE_MIN_WIDTH`, and on a narrow one Project shrinks before Duration is cut."""
        wide = width >= WIDE_MIN_WIDTH
        others = sum((c.width or 0) + 2 * self.cell_padding for c in COLUMNS if c.key != "project" and not c.wide_only)
        project = 24 if wide else max(PROJECT_MIN_WIDTH, min(COLUMNS[1].width or 18, width - others - 2 * self.cell_padding - 2))
        self.set_wide(wide, project)

    def set_wide(self, wide: bool, project_width: int | None = None) -> None:
        """Show or hide the less important columns; rebuilds only when the choice changes."""
        project_width = project_width or (24 if wide else COLUMNS[1].width or 18)
        if wide == self.wide and project_width == self.project_width:
            return
        self.wide = wide
        self.project_width = project_width
        selected = self.selected_id
        self.clear(columns=True)
        self._cells.clear()
        self._built_from.clear()
        for column in COLUMNS:
            if wide or not column.wide_only:
                # Text, not str: DataTable would parse a str as markup (and import rich's
                # emoji table, ~4 ms of the first frame).
                self.add_column(Text(column.label), key=column.key, width=column.width if column.key != "project" else project_width)
        self._sync(selected)

    @property
    def column_keys(self) -> list[str]:
        return [c.key for c in COLUMNS if self.wide or not c.wide_only]

    # ------------------------------------------------------------------ data

    @property
    def selected_id(self) -> str | None:
        """The deployment id under the cursor, or None."""
        if not self.row_count:
            return None
        try:
            key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        except Exception:
            return None
        return key.value

    def update_rows(self, rows: list[dict[str, Any]]) -> None:
        """Take a poll's rows and bring the table in step with them, in place."""
        self.rows_by_id = {str(r.get("deployment_id")): r for r in rows if r.get("deployment_id")}
        current, self.current = self.current, current_releases(rows)
        starred = {project for project in current.keys() | self.current.keys()
                   if current.get(project) != self.current.get(project)}
        self._sync(self.selected_id, starred=starred)

    def tick(self, *, fresh: set[str] | frozenset[str] = frozenset()) -> None:
        """Refresh the time cells (relative start, running durations) of the rows in view (but
        ``fresh`` ones, built just now); rows scrolled into view are refreshed as they come."""
        keys = self.column_keys
        for deployment_id in self._ids_in_view():
            if deployment_id not in fresh:
                self._build(deployment_id, keys)

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if round(old_value) != round(new_value):
            self.tick()

    def _ids_in_view(self) -> list[str]:
        if self.wide is None or not self.row_count:
            return []
        first = max(0, int(self.scroll_y))
        return [row.key.value for row in self.ordered_rows[first : first + self.size.height + 1]
                if row.key.value in self._cells]

    def _duration_now(self) -> float:
        """The end of a running row's duration: now, or the last answer while the server is gone."""
        return self.now() if self.durations_frozen_at is None else self.durations_frozen_at

    def visible_ids(self) -> list[str]:
        """Ids of the rows that pass the filters, in display order."""
        keep = STATUS_FILTERS[self.status_filter]
        needle = self.text_filter.lower().strip()
        ids = [
            key
            for key, row in self.rows_by_id.items()
            if (keep is None or keep(str(row.get("status")))) and (not needle or needle in _search_blob(row))
        ]
        ids.sort(key=self._sort_key, reverse=self._reverse)
        return ids

    @property
    def sort_column(self) -> str:
        return SORTS[self.sort_index][0]

    @property
    def _reverse(self) -> bool:
        # "started" sorts newest first by default; the rest ascending.
        default = self.sort_column in ("started", "duration", "size")
        return default != self.sort_reverse

    def _sort_key(self, deployment_id: str) -> tuple[Any, ...]:
        row = self.rows_by_id[deployment_id]
        column = self.sort_column
        started = row.get("started_at") or 0
        if column == "started":
            value: Any = started
        elif column == "duration":
            end = row.get("completed_at") or self._duration_now() * 1000
            value = end - started
        elif column == "size":
            value = row.get("payload_size") or 0
        elif column == "status":
            value = str(row.get("status"))
        else:
            value = fmt.clean(row.get("project" if column == "project" else column)).lower()
        # Ties: newest first, then id (list_deployments' own tie break).
        return (value, started, deployment_id)

    def cells_for(self, row: dict[str, Any]) -> dict[str, Any]:
        """Each column's renderable for one row (server text shown literally)."""
        now = self.now()
        status = str(row.get("status") or "")
        running = not is_terminal(status)
        shown = fmt.shown_status(status, row.get("phase"))
        status_cell, tone = self._status_look(shown)
        return {
            "status": status_cell.copy(),
            "project": self._project_cell(row),
            "id": IdCell(str(row.get("deployment_id"))),
            "phase": fmt.safe(row.get("phase"), tone if running or status == "failed" else ""),
            "user": fmt.safe(row.get("user"), "", "-"),
            "origin": fmt.safe(row.get("origin_node"), "dim", "-"),
            "started": Text(fmt.relative_time(row.get("started_at"), now), style="dim"),
            "duration": Text(
                fmt.duration(row.get("started_at"), row.get("completed_at"), self._duration_now()),
                style=tone if running else "",
                justify="right",
            ),
            "size": Text(fmt.size(row.get("payload_size")), justify="right", style="dim"),
        }

    def _project_cell(self, row: dict[str, Any]) -> Text:
        """The project in bold, marked ★ when this row's release is the one running now."""
        cell = fmt.safe(row.get("project"), "bold", "-")
        if self.current.get(str(row.get("project"))) == row.get("deployment_id"):
            cell.append(" " + pick(*CURRENT_MARK), style="bold")
        return cell

    def _status_look(self, shown: str) -> tuple[Text, Style]:
        """The status cell of ``shown`` and the tone that the phase and the ticking duration of a
        running or failed row take (the status's colour), cached until the theme changes."""
        look = self._status_cells.get(shown)
        if look is None:
            variables = self.app.theme_variables
            mono = self.app.no_color  # without colour a failed row is told by reverse video
            look = (status_text(shown, variables, mono=mono), theme_style(tone_style(shown, mono=mono), variables))
            if variables:  # without a theme yet the colours are missing: do not keep them
                self._status_cells[shown] = look
        return look

    def _sync(self, selected: str | None, *, starred: set[str] | frozenset[str] = frozenset()) -> None:
        """Show the rows that pass the filters, in order: rows new to the table or changed by the
        poll (or whose ★ moved, ``starred`` projects) are built, the others kept as they are."""
        if self.wide is None:
            return
        wanted = self.visible_ids()
        wanted_set = set(wanted)
        stale = [k for k in self._cells if k not in wanted_set]
        rebuilt = len(stale) > REBUILD_AFTER_REMOVALS
        if rebuilt:  # a filter narrowing thousands of rows: one pass, not one per removed row
            self.clear()
            self._cells.clear()
            self._built_from.clear()
        for key in [] if rebuilt else stale:
            self.remove_row(key)
            del self._cells[key]
            del self._built_from[key]
        keys = self.column_keys
        built_from = self._built_from
        built = set()
        for deployment_id in wanted:
            row = self.rows_by_id[deployment_id]
            if built_from.get(deployment_id) is not row or str(row.get("project")) in starred:
                self._build(deployment_id, keys)
                built.add(deployment_id)
        current = [row.key.value for row in self.ordered_rows]
        if current != wanted:
            rank = {key: i for i, key in enumerate(wanted)}
            self.sort("id", key=lambda cell: rank[cell.deployment_id])
        if selected is not None and selected in wanted_set:
            index = self.get_row_index(selected)
            if index != self.cursor_row:
                self.move_cursor(row=index, animate=False, scroll=rebuilt)  # rebuilt: back in view
        self.tick(fresh=built)  # the rows in view that were kept may show a time gone by

    def _build(self, deployment_id: str, keys: list[str]) -> None:
        """Build one row's cells and add the row, or update the cells whose text or tone changed."""
        row = self.rows_by_id[deployment_id]
        cells = self.cells_for(row)
        signature = {k: cells[k].plain if isinstance(cells[k], Text) else str(cells[k]) for k in keys}
        signature["~style"] = str(row.get("status"))
        old = self._cells.get(deployment_id)
        if old is None:
            self.add_row(*(cells[k] for k in keys), key=deployment_id)
        else:
            for k in keys:
                if old.get(k) != signature[k] or (k in ("status", "phase") and old["~style"] != signature["~style"]):
                    self.update_cell(deployment_id, k, cells[k])
        self._cells[deployment_id] = signature
        self._built_from[deployment_id] = row
