"""The deployments screen: every deployment of the server, newest first, live.

A worker polls the newest ``HEAD_LIMIT`` rows of ``list_deployments`` (every ``poll_interval``
seconds, faster while something runs) and posts them; the table updates in place. Older rows are
fetched a page at a time, once, when the cursor reaches the end of what is loaded, so a server
with 10,000 deployments costs one screenful and a window, not all of them, yet every row can be
reached. Polls ask for summary rows (no ``event_log``) and pass the ``/`` filter as ``search``: our
server filters and trims; Harper ignores both, the table filters again itself, and the status line
says how many of the server's rows are loaded. The top bar names the server, its version and its
health; when the server stops answering a banner says so and the poll keeps retrying with backoff
until it is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import ComposeResult
from textual.actions import SkipAction
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Input
from textual.worker import Worker

from deploytui.protocol.deployment import is_terminal
from deploytui.tui.first_rows import HEAD_LIMIT, head_query
from deploytui.tui.follow_action import FollowAction
from deploytui.tui.messages import (
    ConnectionChanged,
    DeploymentsFetched,
    OlderDeploymentsFetched,
    OperationDone,
    OperationFailed,
    OperationsLearnt,
)
from deploytui.tui.screens import list_actions
from deploytui.tui.widgets.deployments_table import SORTS, DeploymentsTable
from deploytui.tui.widgets.key_footer import KeyFooter
from deploytui.tui.widgets.list_parts import EmptyState, FilterBar, ListStatus
from deploytui.tui.widgets.server_status import ConnectionBanner, ServerStatus

if TYPE_CHECKING:
    from textual import events

    from deploytui.tui.first_rows import FirstRows
    from deploytui.tui.services import Dashboard

PAGE_SIZE = 500
"""Older rows fetched per step as the cursor reaches the end of what is loaded."""
NEAR_END = 5
"""Rows from the end of the loaded rows at which the next page is fetched."""
REFUSED_RETRY_S = 30.0
FIRST_ROWS_WAIT_S = 2.0
"""How long the first poll waits for the answer asked at launch before asking itself."""


class DeploymentsScreen(Screen):
    """The list of deployments (the home screen)."""

    BINDINGS = [
        Binding("enter", "open", "Open", id="deployments.open"),
        # Priority: handled as the key is read, so the keys typed right after land in the new focus.
        Binding("slash", "filter", "Filter", priority=True, id="deployments.filter"),
        Binding("1", "status_filter('all')", "All", show=False, id="deployments.show_all"),
        Binding("2", "status_filter('running')", "Running", show=False, id="deployments.show_running"),
        Binding("3", "status_filter('failed')", "Failed", show=False, id="deployments.show_failed"),
        Binding("4", "status_filter('success')", "Success", show=False, id="deployments.show_success"),
        Binding("s", "cycle_sort", "Sort", id="deployments.sort"),
        Binding("S", "reverse_sort", "Reverse", show=False, id="deployments.sort_reverse"),
        Binding("d", "deploy", "Deploy", priority=True, id="deployments.deploy"),
        Binding("D", "demos", "Demos", id="deployments.demos"),
        Binding("r", "refresh", "Refresh", show=False, id="deployments.refresh"),
        Binding("p", "pause", "Pause", show=False, id="deployments.pause"),
        Binding("v", "raw", "JSON", show=False, id="deployments.raw"),
        # Destructive: ctrl-chords, behind a confirmation, offered only where the server has them.
        Binding("ctrl+k", "cancel_deploy", "Cancel deploy", id="deployments.cancel"),
        Binding("ctrl+r", "redeploy", "Redeploy", id="deployments.redeploy"),
        Binding("ctrl+a", "activate", "Activate", id="deployments.activate"),
        Binding("q", "app.quit", "Quit", id="deployments.quit"),
        Binding("f", "follow", "Follow", id="deployments.follow"),
        Binding("escape", "clear_filter", "Clear filter", show=False, id="deployments.clear_filter"),
    ]

    def __init__(self) -> None:
        super().__init__()
        self._fetched = False
        self._healthy: bool | None = None
        self._head: dict[str, dict[str, Any]] = {}
        """The newest rows by id, as the polls returned them."""
        self._older: dict[str, dict[str, Any]] = {}
        """Rows past the head, fetched page by page as the user scrolls (for the current search)."""
        self._total = 0
        """How many rows the server has for the current search (all of them on Harper)."""
        self._answered_at: float | None = None
        """When the server last answered a poll (running durations stop there while it is gone)."""
        self.paused = False
        """``p``: the list stops asking the server (and stays as it is) until ``p`` again."""
        self._notices = list_actions.DeployNotices()
        self._offered: tuple[bool | None, bool | None] | None = None
        self._unpaused = asyncio.Event()
        self._unpaused.set()
        self._rows_painted = asyncio.Event()
        """Set once a frame showing the first rows has been written."""
        self._older_worker: Worker | None = None
        self._older_asked: tuple[str, int] | None = None  # (search, rows loaded) of that request

    @property
    def dash(self) -> Dashboard:
        """The app's services (the app implements :class:`~deploytui.tui.services.Dashboard`)."""
        return self.app  # type: ignore[return-value]

    def _compositor_refresh(self) -> None:
        # Textual lays this screen out inside the app's start-up batch and renders a frame there
        # that App._display then drops (~30 ms at 100x30 before the first frame that shows).
        # Skip it: a repaint is asked for, to run once the app's message loop (after the batch) does.
        if self.app._batch_count:
            self.app.call_later(self.refresh)
            return
        super()._compositor_refresh()
        if self._fetched and self is self.app.screen and not self._rows_painted.is_set():
            # Written now, not when an after-refresh callback runs: those also run after the
            # skipped render, before any frame (then httpx's import, on a thread, slowed the first).
            self._rows_painted.set()

    def compose(self) -> ComposeResult:
        yield ServerStatus(id="server-status")
        yield ConnectionBanner(id="banner")
        yield FilterBar(id="filter-bar")
        yield DeploymentsTable(now=self.dash.now, id="deployments")
        yield EmptyState(id="empty")
        yield FollowAction(id="follow")
        yield ListStatus(id="list-status")
        yield KeyFooter()

    def on_mount(self) -> None:
        status = self.query_one(ServerStatus)
        status.url = self.dash.server_url
        status.label = self.dash.server_label
        table = self.query_one(DeploymentsTable)
        table.set_width(self.app.size.width)
        table.focus()
        self._update_status_line()
        self.set_interval(1.0, self._tick, name="deployments-tick")
        shown = self._first_rows_ready()
        if shown is not None:  # in the screen's first frame, not one frame later
            self._fetched_rows(DeploymentsFetched(*_rows_of(shown)))
        self.poll(shown)

    def on_screen_resume(self) -> None:
        """Back from a deployment: the keys go to the table again (not to a closed filter)."""
        if not self.query_one(FilterBar).has_class("-open"):
            self.query_one(DeploymentsTable).focus()

    def on_resize(self, event: events.Resize) -> None:
        self.query_one(DeploymentsTable).set_width(event.size.width)

    # ------------------------------------------------------------------ worker

    @work(exclusive=True, group="poll", exit_on_error=False)
    async def poll(self, shown: dict[str, Any] | None = None) -> None:
        """Poll ``list_deployments`` forever; back off while the server does not answer.

        ``shown`` is the answer asked at launch when the screen showed it as it mounted. The
        launch's answer is used as the first poll's, and the API client (httpx, a tenth of a
        second to import) is imported only once its rows are on screen.
        """
        first = shown or await self._first_rows()
        if first is not None:
            if shown is None:
                self.post_message(DeploymentsFetched(*_rows_of(first)))
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._rows_painted.wait(), FIRST_ROWS_WAIT_S)
            # Imported on a thread: the loop stays free to write the rows' frame meanwhile.
            await asyncio.to_thread(importlib.import_module, "deploytui.client.api")
        from deploytui.client.errors import AuthError, DeploytuiError, ForbiddenError
        from deploytui.client.retry import single_attempts

        app = self.dash
        version: str | None = None
        failures = 0
        cursor: int | None = None  # our server's: ask only for what changed since the last answer
        while True:
            try:
                with single_attempts():  # this loop is the retry, and it shows each failure
                    if version is None:  # (re)connected: maybe another server now, so ask for everything
                        cursor = None
                    shown_already = first is not None  # the launch's answer, shown above
                    data = first or await app.api.list_deployments(**head_query(), search=self._search(), changed_since=cursor)
                    first = None
                    rows, total = _rows_of(data)
                    if not shown_already:
                        self.post_message(DeploymentsFetched(rows, total))
                    if version is None:  # after the rows, so the list paints one round trip sooner
                        info = await app.api.registration_info()
                        version = str(info.get("version")) if isinstance(info, dict) and info.get("version") else "?"
                        await self._learn_operations()
            except (AuthError, ForbiddenError) as exc:
                # Asking again soon will not change the answer; ask rarely (a server switch or a
                # fixed account on the server may).
                version = None
                self.post_message(ConnectionChanged(False, exc.message, refused=True))
                await asyncio.sleep(REFUSED_RETRY_S)
                continue
            except DeploytuiError as exc:
                failures += 1
                version = None
                self.post_message(ConnectionChanged(False, exc.message))
                await asyncio.sleep(min(5.0, app.fast_poll_interval * 2 ** min(failures, 4)))
                continue
            except Exception as exc:  # a bug or an unexpected answer: say it, keep going
                failures += 1
                self.post_message(ConnectionChanged(False, f"{type(exc).__name__}: {exc}"))
                await asyncio.sleep(5.0)
                continue
            failures = 0
            self.post_message(ConnectionChanged(True, None, version))
            # A full page of changes may have left some out: then the next poll asks for everything.
            next_cursor = data.get("cursor")
            complete = cursor is None or len(rows) < HEAD_LIMIT
            cursor = next_cursor if isinstance(next_cursor, int) and complete else None
            running = any(not is_terminal(r.get("status")) for r in rows)
            await asyncio.sleep(app.fast_poll_interval if running else app.poll_interval)
            await self._unpaused.wait()

    @work(exclusive=True, group="older", exit_on_error=False)
    async def load_older(self) -> None:
        """Fetch the next page of rows past those loaded (offset = how many are loaded: new
        deployments only push rows further down, so a page may repeat a row but never skips one)."""
        from deploytui.client.errors import DeploytuiError

        search = self._search()
        offset = len(self.query_one(DeploymentsTable).rows_by_id)
        try:
            data = await self.dash.api.list_deployments(limit=PAGE_SIZE, offset=offset, summary=True, search=search)
        except DeploytuiError as exc:
            self.notify(f"Could not load older deployments: {exc.message}", title="List", severity="warning")
            return
        rows = data.get("deployments") if isinstance(data, dict) else None
        rows = [r for r in rows or [] if isinstance(r, dict)]
        self.post_message(OlderDeploymentsFetched(rows, int(data.get("total") or 0), search or ""))

    def _launch_answer(self) -> FirstRows | None:
        """The answer asked for at launch, if it may be used: once, for the server it was asked
        of, unfiltered."""
        first = self.dash.first_rows
        if first is None or first.settings != getattr(self.dash, "settings", None) or self._search():
            return None
        return first

    def _first_rows_ready(self) -> dict[str, Any] | None:
        """The launch's answer if it is already here (else the poll waits for it)."""
        first = self._launch_answer()
        answer = first.take_ready() if first is not None else None
        if answer is not None:
            self.dash.first_rows = None
        return answer

    async def _first_rows(self) -> dict[str, Any] | None:
        """The launch's answer, waited for a little."""
        first = self._launch_answer()
        if first is None:
            return None
        self.dash.first_rows = None
        return await first.take(FIRST_ROWS_WAIT_S)

    async def _learn_operations(self) -> None:
        """Which of cancel / redeploy this server offers (asked once per server; never fatal)."""
        if await list_actions.learn_operations(self.dash.api):
            self.post_message(OperationsLearnt())

    def _search(self) -> str | None:
        return self.query_one(DeploymentsTable).text_filter.strip() or None

    # ------------------------------------------------------------------ handlers

    @on(DeploymentsFetched)
    def _fetched_rows(self, message: DeploymentsFetched) -> None:
        self._fetched = True
        self._answered_at = self.dash.now()
        polled = {str(r.get("deployment_id")): r for r in message.rows if r.get("deployment_id")}
        # Rows are never deleted, so a poll only adds or refreshes (a new search starts afresh).
        self._head.update(polled)
        self._total = message.total
        self._show_rows()
        self.query_one(ServerStatus).summary = f"{message.total} deployment{'s' if message.total != 1 else ''}"
        self._update_empty()
        self._update_status_line()
        self.query_one(FollowAction).rows_polled(message.rows)
        self._announce(message.rows)
        self._offer_row_actions()

    def _offer_row_actions(self) -> None:
        """Cancel / redeploy follow the selected row's state: the footer changes when it does."""
        offered = (self.check_action("cancel_deploy", ()), self.check_action("redeploy", ()))
        if offered != self._offered:
            self._offered = offered
            self.refresh_bindings()

    def _announce(self, rows: list[dict[str, Any]]) -> None:
        """A bell and a toast for each deploy that just failed, or that ended while open on top."""
        watched = {str(getattr(screen, "deployment_id", None)) for screen in self.app.screen_stack[1:]}
        for row, failed in self._notices.ended(rows, watched):
            title, text = list_actions.notice_text(row, failed)
            self.app.bell()
            self.notify(text, title=title, severity="error" if failed else "information", timeout=8, markup=False)

    @on(OlderDeploymentsFetched)
    def _older_rows(self, message: OlderDeploymentsFetched) -> None:
        if message.search != (self._search() or ""):
            return  # the filter changed while the page was on its way
        self._older.update((str(r.get("deployment_id")), r) for r in message.rows if r.get("deployment_id"))
        self._total = max(self._total, message.total)
        self._show_rows()
        self._update_status_line()

    def _show_rows(self) -> None:
        """The table gets the polled head and the older pages (the head's copy wins)."""
        older = [row for key, row in self._older.items() if key not in self._head]
        self.query_one(DeploymentsTable).update_rows([*self._head.values(), *older])

    @on(DataTable.RowHighlighted, "#deployments")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        table = self.query_one(DeploymentsTable)
        if event.cursor_row >= table.row_count - NEAR_END and self._unloaded():
            self._load_older_once(table)

    def _load_older_once(self, table: DeploymentsTable) -> None:
        """Ask for the next page, unless that very page is already on its way: a highlight comes
        with every cursor move and row update, and restarting the request each time (the worker
        is exclusive) would keep it from landing while cancelled workers pile up."""
        asked = (self._search() or "", len(table.rows_by_id))
        loading = self._older_worker is not None and not self._older_worker.is_finished
        if asked != self._older_asked or not loading:
            self._older_asked = asked
            self._older_worker = self.load_older()

    def _unloaded(self) -> int:
        """Rows the server has (for the current search) that are not loaded yet."""
        return max(0, self._total - len(self.query_one(DeploymentsTable).rows_by_id))

    @on(ConnectionChanged)
    def _connection_changed(self, message: ConnectionChanged) -> None:
        status = self.query_one(ServerStatus)
        banner = self.query_one(ConnectionBanner)
        table = self.query_one(DeploymentsTable)
        status.healthy = message.ok
        status.refused = message.refused
        if message.ok:
            if message.version:
                status.version = message.version
            if self._healthy is False:
                self.notify("The server is back", title="Connection", severity="information", timeout=3)
            banner.clear_problem()
            frozen_at = None
        else:
            banner.show_problem(message.message, refused=message.refused)
            frozen_at = table.durations_frozen_at or self._answered_at or self.dash.now()
        if frozen_at != table.durations_frozen_at:
            table.durations_frozen_at = frozen_at
            table.tick()
        self._healthy = message.ok

    def _tick(self) -> None:
        self.query_one(DeploymentsTable).tick()

    def _update_empty(self) -> None:
        table = self.query_one(DeploymentsTable)
        empty = self.query_one(EmptyState)
        nothing = self._fetched and not table.rows_by_id
        if nothing:
            empty.explain(demos=bool(self.dash.demos()))
        empty.set_class(nothing, "-visible")
        was_hidden = not table.display
        table.display = not nothing
        if was_hidden and not nothing and self.focused is None:
            # Hiding the table took its focus; the rows are back, so are the keys (j/↓ without Tab).
            self.set_focus(table)

    def _update_status_line(self) -> None:
        table = self.query_one(DeploymentsTable)
        self.query_one(ListStatus).show(table, paused=self.paused, server_total=self._total)

    # ------------------------------------------------------------------ actions

    @on(DataTable.RowSelected, "#deployments")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._open(event.row_key.value)

    def action_open(self) -> None:
        self._open(self.query_one(DeploymentsTable).selected_id)

    def _open(self, deployment_id: str | None) -> None:
        if deployment_id:
            table = self.query_one(DeploymentsTable)
            self.dash.open_deployment(deployment_id, table.rows_by_id.get(deployment_id))

    def _typing_in_filter(self) -> bool:
        """True while the filter input has the keys (then ``/`` and ``d`` are text, not commands)."""
        return self.focused is self.query_one("#filter-input", Input)

    def action_filter(self) -> None:
        if self._typing_in_filter():
            raise SkipAction()
        self.query_one(FilterBar).add_class("-open")
        # Now, not later (Widget.focus defers): the keys already queued behind "/" go to the input.
        self.set_focus(self.query_one("#filter-input", Input))

    @on(Input.Changed, "#filter-input")
    def _filter_changed(self, event: Input.Changed) -> None:
        table = self.query_one(DeploymentsTable)
        searched = self._search()
        table.text_filter = event.value
        table.update_rows(list(table.rows_by_id.values()))
        self._update_status_line()
        if self._search() != searched:
            # Ask the server for the matches (ours filters; Harper answers the newest rows again).
            self._head.clear()
            self._older.clear()
            self.poll()

    @on(Input.Submitted, "#filter-input")
    def _filter_submitted(self, event: Input.Submitted) -> None:
        self.query_one(DeploymentsTable).focus()
        if not event.value:
            self.query_one(FilterBar).remove_class("-open")

    def action_clear_filter(self) -> None:
        field = self.query_one("#filter-input", Input)
        field.value = ""
        self.query_one(FilterBar).remove_class("-open")
        self.query_one(DeploymentsTable).focus()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "clear_filter":
            return self.query_one(FilterBar).has_class("-open")
        if action == "demos":
            return bool(self.dash.demos())
        if action == "cancel_deploy":
            return list_actions.can_cancel(self.dash.existing_api, self._selected_row())
        if action == "redeploy":
            row = self._selected_row()
            return list_actions.can_redeploy(self.dash.existing_api, row, self._current_of(row))
        if action == "activate":
            return list_actions.can_activate(self.dash.existing_api, self._selected_row())
        return True

    def action_status_filter(self, which: str) -> None:
        table = self.query_one(DeploymentsTable)
        table.status_filter = which
        table.update_rows(list(table.rows_by_id.values()))
        self._update_status_line()

    def action_cycle_sort(self) -> None:
        table = self.query_one(DeploymentsTable)
        table.sort_index = (table.sort_index + 1) % len(SORTS)
        table.sort_reverse = False
        table.update_rows(list(table.rows_by_id.values()))
        self._update_status_line()

    def action_reverse_sort(self) -> None:
        table = self.query_one(DeploymentsTable)
        table.sort_reverse = not table.sort_reverse
        table.update_rows(list(table.rows_by_id.values()))
        self._update_status_line()

    async def action_deploy(self) -> None:
        if self._typing_in_filter():
            raise SkipAction()
        # Wait for the form to be mounted with its field focused before the next key is read.
        await self.dash.action_deploy_form()

    def action_demos(self) -> None:
        self.dash.action_deploy_demos()

    def action_refresh(self) -> None:
        self.poll()

    def action_follow(self) -> None:
        """Follow the action: open each new deploy as it starts (tui/follow_action.py)."""
        if self._typing_in_filter():
            raise SkipAction()
        self.query_one(FollowAction).toggle()

    def action_pause(self) -> None:
        """Stop or resume the auto-refresh: a still list to read (running durations stop too)."""
        self.paused = not self.paused
        table = self.query_one(DeploymentsTable)
        if self.paused:
            self._unpaused.clear()
            table.durations_frozen_at = table.durations_frozen_at or self.dash.now()
        else:
            self._unpaused.set()
            if self._healthy is not False:
                table.durations_frozen_at = None
        table.tick()
        self._update_status_line()

    def _selected_row(self) -> dict[str, Any] | None:
        table = self.query_one(DeploymentsTable)
        selected = table.selected_id
        return table.rows_by_id.get(selected) if selected else None

    def _current_of(self, row: dict[str, Any] | None) -> str | None:
        return self.query_one(DeploymentsTable).current.get(str((row or {}).get("project")))

    def action_raw(self) -> None:
        if row := self._selected_row():
            self.run_worker(list_actions.show_raw(self, self.dash, row), group="raw", exclusive=True, exit_on_error=False)

    def action_cancel_deploy(self) -> None:
        if list_actions.can_cancel(self.dash.api, row := self._selected_row()):
            list_actions.confirm_cancel(self, self.dash, row)  # type: ignore[arg-type]

    def action_redeploy(self) -> None:
        if list_actions.can_redeploy(self.dash.api, row := self._selected_row(), current := self._current_of(row)):
            list_actions.confirm_redeploy(self, self.dash, row, current)  # type: ignore[arg-type]

    def action_activate(self) -> None:
        if list_actions.can_activate(self.dash.api, row := self._selected_row()):
            list_actions.confirm_activate(self, self.dash, row)  # type: ignore[arg-type]

    @on(OperationsLearnt)
    def _operations_learnt(self) -> None:
        self._offer_row_actions()

    @on(DataTable.RowHighlighted, "#deployments")
    def _selection_moved(self) -> None:
        self._offer_row_actions()

    @on(OperationDone)
    def _operation_done(self, message: OperationDone) -> None:
        self.notify(message.message, title=message.title, markup=False)
        self.poll()

    @on(OperationFailed)
    def _operation_failed(self, message: OperationFailed) -> None:
        self.notify(message.message, title=message.title, severity="error", markup=False)

    def rows(self) -> dict[str, Any]:
        """The rows of the last poll by id (for tests and commands)."""
        return self.query_one(DeploymentsTable).rows_by_id


def _rows_of(data: Any) -> tuple[list[dict[str, Any]], int]:
    """A ``list_deployments`` answer's rows (dicts only) and its total."""
    rows = data.get("deployments") if isinstance(data, dict) else None
    rows = [r for r in rows or [] if isinstance(r, dict)]
    return rows, int(data.get("total") or len(rows)) if isinstance(data, dict) else len(rows)
