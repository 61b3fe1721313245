"""The deployment screen: one deployment's header, phases, live output, events and peers.

An async worker attaches to the deployment's stream (replay, then live, resumed on reconnect),
folds every event into a :class:`~deploytui.client.view.DeploymentView`, and posts at most one
:class:`StreamBatch` per frame. Only the batch handler touches widgets: it appends the new install
lines in one call, adds the batch to the Events tab, and redraws what changed. A failed deploy
leads with its error panel (the first error lines; ``E``: the last ones); ``e`` jumps to the first
error line. On a short terminal a failure starts with the header's first line and the error panel
(no timeline); ``c`` shows the whole top, then collapses it to one line; ``z`` gives the output the
whole screen.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static, TabbedContent, TabPane

from deploytui.client.attach import AttachState
from deploytui.client.cause import error_lines, output_lines
from deploytui.client.view import DeploymentView
from deploytui.protocol.deployment import is_terminal, phase_order_for
from deploytui.tui.messages import (
    DeploymentStarted,
    HistoryLoaded,
    OperationDone,
    OperationFailed,
    RowFetched,
    StreamBatch,
    StreamStateChanged,
)
from deploytui.tui.screens import deployment_actions as actions
from deploytui.tui.widgets.deployment_header import DeploymentHeader
from deploytui.tui.widgets.error_panel import ErrorPanel
from deploytui.tui.widgets.events_log import EventsLog
from deploytui.tui.widgets.formatting import clean
from deploytui.tui.widgets.install_log import InstallLog
from deploytui.tui.widgets.key_footer import KeyFooter
from deploytui.tui.widgets.peers_table import PeersTable, peers_note
from deploytui.tui.widgets.phase_timeline import PhaseTimeline
from deploytui.tui.widgets.stream_status import StreamStatus

if TYPE_CHECKING:
    from deploytui.tui.services import Dashboard

# The actions that need an operation a Harper-compatible server may lack (Harper 5.1.14 has none).
NEEDS_OPERATION = {"revert": "revert_component", "delete_payload": "delete_deployment_payload",
                   "load_history": "get_deployment_events"}

FRAME = 1 / 30
"""At most one batch of events reaches the widgets per frame."""
# While events pour in (a big batch last time), hand them over ten times a second instead: every
# hand-over repaints the followed output, and nobody reads 10 000 lines a second anyway.
BUSY_FRAME = 1 / 10
BUSY_BATCH = 300
# Tab labels carry counts; a busy stream relabels at most this often. A count of the same width
# repaints its tab only; a new width reflows the whole screen (20-35 ms at 160x48), so while a
# stream is busy that waits at most REFLOW_INTERVAL (the count shown meanwhile is the last one).
LABEL_INTERVAL = 0.5
REFLOW_INTERVAL = 2.0
# The attach worker gives the event loop a turn at least this often (seconds). A frame or a batch
# that becomes due meanwhile runs in the same loop iteration as the worker's next step, so the two
# add up. A 100,000-line replay's p99 gap, 80x24 / 160x48, medians of interleaved replays: 27 / 29
# and 27 / 33 ms at 5 ms against 26 / 33 and 31 / 37 at 8 ms, in no more time to the last line; 4 ms
# was no better (27 / 36 against 27 / 38 at 5 ms in a noisier run).
YIELD_AFTER = 0.005
# Install lines held in memory (the view's and the pane's, the same objects): a million-line
# install stays within ~100 MiB; older lines are the server's (``L`` loads the full history).
LINE_WINDOW = 150_000
# Below this many rows the screen starts with its top collapsed (``c`` shows it): output keeps rows.
SHORT_HEIGHT = 30


class BurstGc:
    """Keeps CPython's cyclic GC off the lines a burst of events leaves behind.

    A replay of 100 000 lines allocates several long-lived objects per line; every young collection
    re-walks those not yet promoted, and the middle generation's collection walked a million of them
    in one go (a 480 ms stall, bench/bench_dashboard_install.py). During a busy stream each batch
    freezes what exists (``gc.freeze``: O(1), the objects move to the permanent generation, still
    freed by reference counting), so collections only see what the last batch allocated; when the
    stream calms down or ends, :meth:`thaw` hands everything back to the oldest generation, where
    cyclic garbage of the burst is found at the next full collection. Meanwhile young collections
    run every :data:`YOUNG_THRESHOLD` allocations: each walks only that many objects (~5 ms), where
    the dashboard's usual 50 000 (``tune_gc``) took 20–50 ms under load.
    """

    YOUNG_THRESHOLD = 10_000

    def __init__(self) -> None:
        self._thresholds: tuple[int, int, int] | None = None

    @property
    def frozen(self) -> bool:
        return self._thresholds is not None

    def batch(self, busy: bool) -> None:
        if not busy:
            self.thaw()
            return
        if self._thresholds is None:
            self._thresholds = gc.get_threshold()
            gc.set_threshold(self.YOUNG_THRESHOLD, *self._thresholds[1:])
        gc.freeze()

    def thaw(self) -> None:
        if self._thresholds is not None:
            gc.set_threshold(*self._thresholds)
            self._thresholds = None
            gc.unfreeze()


def _forget(task: asyncio.Future[Any]) -> None:
    """Cancel ``task``, or take its outcome so an error nobody awaited is not logged as lost."""
    if not task.done():
        task.cancel()
    elif not task.cancelled():
        task.exception()


class DeploymentScreen(Screen):
    """One deployment, attached live. ``opener`` (a deploy's own stream) attaches from its first event."""

    BINDINGS = [
        # q goes back here (it quits only from the list); destructive keys are ctrl-chords, confirmed.
        Binding("escape,backspace,q", "back", "Back", id="deployment.back"),
        Binding("y", "copy_line", "Copy line", id="deployment.copy_line"),
        Binding("Y", "copy_all", "Copy log", id="deployment.copy_all"),
        Binding("ctrl+s", "save", "Save log", id="deployment.save"),
        Binding("ctrl+r", "revert", "Revert", id="deployment.revert"),
        Binding("ctrl+x", "delete_payload", "Delete payload", id="deployment.delete_payload"),
        Binding("1", "tab('output')", "Output", show=False, id="deployment.tab_output"),
        Binding("2", "tab('events')", "Events", show=False, id="deployment.tab_events"),
        Binding("3", "tab('peers')", "Peers", show=False, id="deployment.tab_peers"),
        Binding("r", "reattach", "Reattach", show=False, id="deployment.reattach"),
        Binding("E", "error_tail", "Error: last lines", show=False, id="deployment.error_tail"),
        Binding("c", "compact", "Compact", show=False, id="deployment.compact"),
        Binding("z", "zoom", "Zoom output", id="deployment.zoom"),
    ]
    DEFAULT_CSS = """
    DeploymentScreen #peers-note { height: auto; padding: 0 1; color: $foreground-muted; }
    DeploymentScreen.-compact #timeline, DeploymentScreen.-compact #error-panel { display: none; }
    /* A short terminal: the header's first line and the error panel, not the timeline (c shows it). */
    DeploymentScreen.-short #timeline { display: none; }
    DeploymentScreen.-compact #deployment-top { border-bottom: none; }
    DeploymentScreen.-zoom #deployment-top, DeploymentScreen.-zoom #error-panel,
    DeploymentScreen.-zoom #tabs > ContentTabs { display: none; }
    """

    def __init__(self, deployment_id: str | None, *, row: dict[str, Any] | None = None, opener: Any = None) -> None:
        super().__init__()
        self.deployment_id = deployment_id
        self.row: dict[str, Any] = dict(row or {})
        self._top_choice: str | None = None  # "full" / "compact" once c was pressed; None: by height
        self._tab_labels: dict[str, str] = {}  # what each tab says now
        self._peers_note: object = object()  # the Peers tab's note shown (a sentinel: none drawn yet)
        self.opener = opener
        self.view = DeploymentView(deployment_id, max_lines=LINE_WINDOW)
        self.stream_state: Any = None
        self.can_revert = False
        self.operations: dict[str, bool] = {}  # what the server offers, once learnt
        self._pending: list[Any] = []
        self._flush_handle: asyncio.TimerHandle | None = None
        self._last_batch_size = 0
        self._row_to_post: dict[str, Any] | None = None
        self._labels_at = 0.0
        self._reflowed_at = 0.0
        self._relabel_timer = False
        self._lines_shown = 0
        self._gaps_shown = 0
        self._error_shown = False
        self._revert_target_asked = False
        self._cause_key: tuple[int, int] | None = None  # (error id, lines) the panel's lines are for
        self._generation = 0  # bumped by a reattach, which starts the screen's stream afresh
        self.batches = 0
        """How many batches reached the widgets (tests check that lines arrive batched)."""
        self.burst_gc = BurstGc()

    @property
    def dash(self) -> Dashboard:
        """The app's services (the app implements :class:`~deploytui.tui.services.Dashboard`)."""
        return self.app  # type: ignore[return-value]

    # ------------------------------------------------------------------ layout

    def compose(self) -> ComposeResult:
        with Horizontal(id="deployment-top"):
            yield DeploymentHeader(now=self.dash.now, id="header")
            yield PhaseTimeline(animate=self.dash.animate, id="timeline")
        yield ErrorPanel(id="error-panel")
        yield StreamStatus(id="stream-status")
        with TabbedContent(initial="output", id="tabs"):
            with TabPane("Output", id="output"):
                yield InstallLog(id="install-log", max_lines=LINE_WINDOW)
            with TabPane("Events", id="events"):
                yield EventsLog(id="events-table")
            with TabPane("Peers", id="peers"):
                yield Static(id="peers-note")
                yield PeersTable(id="peers-table")
        yield KeyFooter()

    def on_mount(self) -> None:
        if self.row:
            self.query_one(DeploymentHeader).show(self.row)
            self._revert_target_once()
        self._redraw_phases()
        self._fit(self.app.size.width, self.app.size.height)
        self.focus_default()
        self.set_interval(1.0, self._tick, name="deployment-tick")
        self.attach_stream()
        self.learn_operations()

    def focus_default(self) -> None:
        """The install output takes the keys (what the screen focuses when it opens)."""
        self.query_one(InstallLog).line_list.focus()

    def _tick(self) -> None:
        self.query_one(DeploymentHeader).tick()

    def on_resize(self, event: Any) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int) -> None:
        """Narrow: the timeline below the header. A failure on a short terminal (under
        ``SHORT_HEIGHT`` rows) not laid out by hand with ``c``: the header's first line and the
        error panel, no timeline, so the output keeps rows."""
        self.set_class(width < 110, "-narrow")
        # Only a failure is short of rows (its error panel takes them); a running deploy keeps its
        # timeline, and a revert installs nothing, so its timeline is all there is to see.
        failed = self.view.error is not None
        self.set_class(self._top_choice is None and height < SHORT_HEIGHT and failed, "-short")
        self.query_one(DeploymentHeader).compact = self.has_class("-short") or self.has_class("-compact")

    def on_unmount(self) -> None:
        self.burst_gc.thaw()
        # A closed screen is cyclic garbage (Textual's DOM links both ways), which only a full
        # collection frees, and that collection walked every event it still held: 0.1-0.9 s in the
        # middle of the next deployment's replay. What it holds per event goes now, by refcount.
        self._pending = []
        self.view.events.clear()

    # ------------------------------------------------------------------ the attach worker

    @work(exclusive=True, group="attach", exit_on_error=False)
    async def attach_stream(self) -> None:
        """Attach to the deployment and fold its events; the only place that reads the stream."""
        from deploytui.client.errors import DeploytuiError

        app = self.dash
        generation = self._generation
        try:
            async with AsyncExitStack() as stack:
                initial = row_asked = None
                if self.opener is not None:
                    self.post_message(StreamStateChanged(AttachState("connecting")))
                    initial = await stack.enter_async_context(self.opener())
                    self.opener = None  # a reattach goes through get_deployment
                    found = initial.response.headers.get("x-deployment-id") if hasattr(initial, "response") else None
                    if found:  # our server names it at once; Harper only in its done or error
                        self.deployment_id = self.view.deployment_id = found
                        self.post_message(DeploymentStarted(found))
                if not self.row and self.deployment_id:
                    # Asked alongside the attach (which reads the row itself and opens the stream),
                    # not a round trip before it; it still goes out before the first batch.
                    row_asked = asyncio.ensure_future(app.api.get_deployment(self.deployment_id))
                    stack.callback(_forget, row_asked)  # the attach failed first: nobody waits for it
                # Unnamed yet: a dropped deploy stream is found again by project and start time.
                unnamed = {"project": self.row.get("project"), "started_after_ms": int(app.now() * 1000) - 5_000} \
                    if self.deployment_id is None else {}
                attachment = app.attach(
                    self.deployment_id, on_state=lambda s: self.post_message(StreamStateChanged(s)), initial_stream=initial,
                    **unnamed,
                )
                stack.push_async_callback(attachment.aclose)
                yielded = time.monotonic()
                async for event in attachment:
                    if row_asked is not None:
                        # Posted with the first batch: the header, phases and tabs settle in one layout.
                        self._row_to_post = await row_asked
                        row_asked = None
                    if self.deployment_id is None and getattr(attachment, "deployment_id", None):
                        self.deployment_id = attachment.deployment_id
                        self.post_message(DeploymentStarted(attachment.deployment_id))
                    self.view.apply(event, received_at=int(app.now() * 1000))
                    if time.monotonic() - yielded > YIELD_AFTER:
                        # A replay hands over thousands of ready events without ever suspending;
                        # let the UI draw and take keys in between.
                        await asyncio.sleep(0)
                        yielded = time.monotonic()
                    self._pending.append(event)
                    if self._flush_handle is None:
                        interval = BUSY_FRAME if self._last_batch_size > BUSY_BATCH else FRAME
                        self._flush_handle = asyncio.get_running_loop().call_later(interval, self._post_batch)
                if row_asked is not None:  # a stream without events
                    self.post_message(RowFetched(await row_asked))
                final = getattr(attachment, "final_row", None)
                if isinstance(final, dict):
                    self.view.apply_row(final)
                    self._row_to_post = None  # read at the open, older than this one
                    self.post_message(RowFetched(final))
        except DeploytuiError as exc:
            self.post_message(StreamStateChanged(AttachState("failed", message=exc.message)))
        except Exception as exc:
            self.post_message(StreamStateChanged(AttachState("failed", message=f"{type(exc).__name__}: {exc}")))
        finally:
            if generation == self._generation:
                self._post_batch(final=True)

    def _post_batch(self, final: bool = False) -> None:
        """Hand the events folded since the last batch to the screen (runs on the event loop)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        events, self._pending = self._pending, []
        self._last_batch_size = len(events)
        row, self._row_to_post = self._row_to_post, None
        if row is not None:
            self.post_message(RowFetched(row))
        if events or final:
            self.post_message(StreamBatch(events, final, self._generation))

    # ------------------------------------------------------------------ handlers

    @on(StreamBatch)
    def _batch(self, message: StreamBatch) -> None:
        if message.generation != self._generation:
            return  # queued by a stream a reattach replaced: its events are replayed again
        view = self.view
        self.batches += 1
        log = self.query_one(InstallLog)
        new = view.total_lines - self._lines_shown
        if new > 0:
            log.append_lines(view.lines.tail(min(new, len(view.lines))))  # columns: no object per line
            self._lines_shown = view.total_lines
        for gap in view.gaps[self._gaps_shown :]:
            log.add_gap(gap)
        self._gaps_shown = len(view.gaps)
        if message.events:
            self.query_one(EventsLog).add_events(message.events)
        if view.peers:
            self.query_one(PeersTable).show_peers((node, p.status, p.error) for node, p in view.peers.items())
        busy = len(message.events) > BUSY_BATCH
        self.burst_gc.batch(busy and not message.final)
        now = time.monotonic()
        if message.final or not busy or now - self._labels_at >= LABEL_INTERVAL:
            self._labels_at = now
            self._label_tabs(reflow=message.final or not busy or now - self._reflowed_at >= REFLOW_INTERVAL)
        self._redraw_phases()
        self._redraw_header()
        self._show_error()
        self._show_peers_note()
        self.query_one(StreamStatus).lines = view.total_lines
        if message.final:
            self.refresh_bindings()
            self._check_revert()

    @on(StreamStateChanged)
    def _state(self, message: StreamStateChanged) -> None:
        self.stream_state = message.state
        self.query_one(StreamStatus).state = message.state

    @on(RowFetched)
    def _row(self, message: RowFetched) -> None:
        self.row.update(message.row)
        self._revert_target_once()
        if not self.view.events:
            self.view.apply_row(message.row)
        self._redraw_header()
        self._show_error()
        self._redraw_phases()
        self._show_peers_note()
        self.refresh_bindings()
        self._check_revert()

    def _revert_target_once(self) -> None:
        if self.row.get("rollback_of") and not self._revert_target_asked:
            self._revert_target_asked = True
            self.find_revert_target()

    @work(exclusive=True, group="revert-target", exit_on_error=False)
    async def find_revert_target(self) -> None:
        """A revert's row names the deployment undone; the header says which release it went to."""
        header = self.query_one(DeploymentHeader)
        header.revert_note = await actions.revert_target_text(self.dash.api, {**(self.view.row or {}), **self.row})
        self._redraw_header()

    @on(DeploymentStarted)
    def _started(self, message: DeploymentStarted) -> None:
        self.deployment_id = message.deployment_id
        self.view.deployment_id = self.view.deployment_id or message.deployment_id
        self.row.setdefault("deployment_id", message.deployment_id)
        self._redraw_header()

    @on(InstallLog.FollowChanged)
    def _follow(self, message: InstallLog.FollowChanged) -> None:
        self.query_one(StreamStatus).follow = message.follow

    @on(InstallLog.SearchChanged)
    def _search(self, message: InstallLog.SearchChanged) -> None:
        status = self.query_one(StreamStatus)
        status.search = f"/{message.query} {message.label}".strip() if message.query else ""

    @on(InstallLog.LoadHistoryRequested)
    def _load_history(self) -> None:
        if self.deployment_id:
            self.notify("Loading the full history…", timeout=2)
            self.load_history()
        else:
            self.query_one(InstallLog).set_history_loading(False)

    @work(exclusive=True, group="history", exit_on_error=False)
    async def load_history(self) -> None:
        """Read every event the server kept (``get_deployment_events``) into a fresh view."""
        await actions.load_history(self, self.dash.api, self.deployment_id, max_lines=LINE_WINDOW)

    @on(HistoryLoaded)
    def _history(self, message: HistoryLoaded) -> None:
        view = message.view
        log = self.query_one(InstallLog)
        log.replace_lines(view.lines, view.gaps)
        total, held = f"{view.total_lines:,}".replace(",", " "), f"{len(view.lines):,}".replace(",", " ")
        events = f"{message.events:,}".replace(",", " ")
        if view.evicted_lines:  # the window: the newest lines, the older ones stay on the server
            self.notify(f"Loaded the newest {held} of {total} install lines ({events} events)", timeout=4)
        else:
            self.notify(f"Loaded all {total} install line{'s' if view.total_lines != 1 else ''} ({events} events)", timeout=4)

    @on(OperationDone)
    def _done(self, message: OperationDone) -> None:
        self.notify(Text(message.message).plain, title=message.title, markup=False)
        if isinstance(message.result, dict) and message.result.get("open"):
            self.app.switch_screen(DeploymentScreen(message.result["open"]))

    @on(OperationFailed)
    def _failed(self, message: OperationFailed) -> None:
        if message.title == "Full history":
            self.query_one(InstallLog).set_history_loading(False)
        self.notify(message.message, title=message.title, severity="error", markup=False, timeout=8)

    # ------------------------------------------------------------------ drawing

    def _replaying_finished(self) -> bool:
        """True while the stream replays a deployment the row already says is over: the replay
        passes through "running" states that are history, not news."""
        return is_terminal(self.row.get("status")) and not self.view.finished

    def _status(self) -> str | None:
        """The status to show: the stream's once it has events, but never a replay's interim one."""
        if self.view.events and not self._replaying_finished():
            return self.view.status
        return self.row.get("status")

    def _redraw_header(self) -> None:
        row = {**(self.view.row or {}), **self.row}
        row.setdefault("deployment_id", self.deployment_id)
        self.query_one(DeploymentHeader).show(row, status=self._status())

    def _redraw_phases(self) -> None:
        now = self.dash.now
        frozen = None if now is time.time else int(now() * 1000)
        phases = self.view.phases
        if self._replaying_finished():
            # Nothing runs any more: a phase the replay has seen start but not yet end is drawn
            # done (pending while a failed deploy's outcome for it is not replayed yet), on a
            # clock stopped where the deploy ended.
            settled = "done" if self.row.get("status") != "failed" else "pending"
            phases = [dataclasses.replace(p, state=settled) if p.state == "running" else p for p in phases]
            frozen = self.row.get("completed_at") or self.view.last_event_at or frozen
        # The view seeds the one-shot pipeline before it knows the plan; a revert's row settles
        # those seeds as skipped: phases the plan of the phases that ran has no place for go.
        plan = phase_order_for([p.name for p in phases if p.state in ("running", "done", "failed")])
        phases = [p for p in phases if p.name in plan or p.state not in ("pending", "skipped")]
        self.query_one(PhaseTimeline).update_phases(phases, now_ms=frozen)

    def _show_error(self) -> None:
        error = self.view.error
        if error is None:
            return
        key = (id(error), self.view.total_lines)
        if key != self._cause_key:  # a cause is looked for once per new output, not every batch
            self._cause_key = key
            lines = [(line.stream, line.text.text) for line in self.view.lines] or output_lines(error.install_output)
            cause, tail = error_lines(lines)
            self.query_one(ErrorPanel).show_error(error.message, phase=error.phase, code=error.code, cause=cause, tail=tail)
        if not self._error_shown:
            self._error_shown = True
            self.query_one("#tabs", TabbedContent).active = "output"
            self._fit(self.size.width, self.size.height)

    # ------------------------------------------------------------------ actions

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.dismiss()

    def _label_tabs(self, *, reflow: bool = True) -> None:
        """The tabs' counts; a count whose new width must wait (``reflow`` False) comes with a
        later batch or, if none comes, REFLOW_INTERVAL later."""
        deferred = not self._label_tab("events", f"Events ({self.query_one(EventsLog).count})", reflow=reflow)
        if self.view.peers:
            deferred |= not self._label_tab("peers", f"Peers ({len(self.view.peers)})", reflow=reflow)
        if deferred and not self._relabel_timer:
            self._relabel_timer = True
            self.set_timer(REFLOW_INTERVAL, self._relabel_later, name="tab-relabel")

    def _relabel_later(self) -> None:
        self._relabel_timer = False
        self._label_tabs()

    def _label_tab(self, tab: str, label: str, *, reflow: bool = True) -> bool:
        """Relabel a tab when its text changed. A new width reflows the tab bar (a layout pass of
        the whole screen, 20-35 ms at 160x48), only when ``reflow``; a count that keeps its
        width repaints the tab only. False when the new label had to wait."""
        old = self._tab_labels.get(tab)
        if old == label:
            return True
        same_width = old is not None and len(old) == len(label)
        if not same_width and not reflow:
            return False
        self._tab_labels[tab] = label
        content_tab = self.query_one("#tabs", TabbedContent).get_tab(tab)
        if same_width:
            content_tab._label = Content(label)  # Tab.label's setter always asks for a layout
            Static.update(content_tab, content_tab._label, layout=False)
        else:
            self._reflowed_at = time.monotonic()
            content_tab.label = label
        return True

    def _show_peers_note(self) -> None:
        note = peers_note(self.view, {**(self.view.row or {}), **self.row}, self._status())
        if note == self._peers_note:
            return  # asked every batch; a Static.update is a layout pass of the whole screen
        self._peers_note = note
        widget = self.query_one("#peers-note", Static)
        widget.display = bool(note)
        widget.update(Text(note or ""))

    def action_error_tail(self) -> None:
        if not self.query_one(ErrorPanel).toggle_tail():
            self.notify("No install output to show", timeout=2)

    def action_compact(self) -> None:
        """Collapse the header to its first line and hide the timeline and error panel (or undo);
        on a short terminal, where the top starts collapsed, the first press shows all of it."""
        collapsed = self.has_class("-compact") or self.has_class("-short")
        self._top_choice = "full" if collapsed else "compact"
        self.set_class(not collapsed, "-compact")
        self._fit(self.size.width, self.size.height)

    def action_zoom(self) -> None:
        """The output alone on the screen, with its status line and the footer (or back)."""
        self.toggle_class("-zoom")
        if self.has_class("-zoom"):
            self.action_tab("output")

    def action_first_error(self) -> None:
        self.query_one("#tabs", TabbedContent).active = "output"
        log = self.query_one(InstallLog)
        if not log.jump_to_first_error():
            self.notify("No error lines in the output", timeout=2)
        log.line_list.focus()

    def action_tab(self, tab: str) -> None:
        self.query_one("#tabs", TabbedContent).active = tab
        if tab == "output":
            self.query_one(InstallLog).line_list.focus()
        else:
            self.query_one(EventsLog if tab == "events" else PeersTable).focus()

    def action_copy_line(self) -> None:
        log = self.query_one(InstallLog)
        text = log.current_line_text()
        if not text and log.lines:  # "nothing to copy" would deny the line the cursor is on
            self.notify("The current line is blank: nothing copied", timeout=2)
            return
        self._copy(text, f"Copied 1 line ({len(text)} chars)")

    def action_copy_all(self) -> None:
        text = self.query_one(InstallLog).all_text()
        self._copy(text, f"Copied {text.count(chr(10)) + 1} lines to the clipboard (OSC 52)")

    def _copy(self, text: str, done: str) -> None:
        """Copy through OSC 52, which reaches the local clipboard over SSH and inside tmux."""
        if not text:
            self.notify("Nothing to copy", timeout=2)
            return
        self.app.copy_to_clipboard(text)
        self.notify(done, timeout=3)

    @staticmethod
    def default_log_dir() -> Path:
        """Where ``ctrl+s`` proposes to save: the user's downloads dir when there is one, else
        deploytui's data dir (never the working directory, often the user's clone)."""
        from platformdirs import user_data_path, user_downloads_path

        downloads = user_downloads_path()
        return downloads if downloads.is_dir() else user_data_path("deploytui", appauthor=False) / "logs"

    def default_log_name(self) -> str:
        project = "".join(c if c.isalnum() or c in "-_." else "_" for c in clean(self.row.get("project") or self.view.project, "deploy"))
        return f"deploytui-{project}-{clean(self.deployment_id)[:8]}.log"

    def action_save(self) -> None:
        from deploytui.tui.screens.confirm import PromptScreen

        def chosen(path: str | None) -> None:
            if path:
                self.save_log(Path(path).expanduser(), self.query_one(InstallLog).all_text())

        proposed = self.default_log_dir() / self.default_log_name()
        self.app.push_screen(PromptScreen("Save the install output", "File to write:", str(proposed)), chosen)

    @work(thread=True, exclusive=True, group="save", exit_on_error=False)
    def save_log(self, path: Path, text: str) -> None:
        """Write the log in a thread (a slow disk never freezes the UI)."""
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text + ("\n" if text else ""), encoding="utf-8")
        except OSError as exc:
            self.post_message(OperationFailed("Save log", f"cannot write {path}: {exc.strerror or exc}"))
            return
        self.post_message(OperationDone("Save log", f"Saved {text.count(chr(10)) + 1 if text else 0} lines to {path}"))

    def action_revert(self) -> None:
        actions.confirm_revert(self, self.dash, self.row)

    def action_delete_payload(self) -> None:
        actions.confirm_delete_payload(self, self.dash, self.row, self.deployment_id)

    def action_reattach(self) -> None:
        self._reset_stream()
        self.attach_stream()

    def _reset_stream(self) -> None:
        """Forget what the current stream showed: the reattach replays it all again, so keeping it
        would count and list every event twice."""
        self._generation += 1
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._pending = []
        self._row_to_post = None
        self.view = DeploymentView(self.deployment_id, max_lines=LINE_WINDOW)
        self._lines_shown = self._gaps_shown = 0
        self.query_one(EventsLog).reset()
        self.query_one(InstallLog).clear()

    @work(exclusive=True, group="operations", exit_on_error=False)
    async def learn_operations(self) -> None:
        """Which optional operations the server offers (asked once per server; the client keeps
        the answer): what it lacks is not offered, and ``?`` says why."""
        learn = getattr(self.dash.api, "learn_operations", None)
        if learn is None:
            return
        from deploytui.client.errors import DeploytuiError

        try:
            self.operations = await learn()
        except DeploytuiError:
            return
        log = self.query_one(InstallLog)
        log.history_available = self.operations.get("get_deployment_events")
        log.refresh_bindings()
        self.refresh_bindings()

    def unavailable_reasons(self) -> dict[str, str]:
        """``{action: why}`` for the actions this server cannot do (shown by ``?``)."""
        return {action: f"not offered: this server has no {operation}"
                for action, operation in NEEDS_OPERATION.items() if self.operations.get(operation) is False}

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in NEEDS_OPERATION and self.operations.get(NEEDS_OPERATION[action]) is False:
            return False
        status = self._status()
        row = {**(self.view.row or {}), **self.row}
        if action == "revert":
            return status == "success" and self.can_revert
        if action == "delete_payload":
            return is_terminal(status) and row.get("payload_blob_present") is not False
        return True

    def _check_revert(self) -> None:
        if (self.view.status or self.row.get("status")) == "success" and not self.can_revert:
            self.check_revert()

    @work(exclusive=True, group="revertable", exit_on_error=False)
    async def check_revert(self) -> None:
        """Is there an earlier successful release of this project to go back to?"""
        self.can_revert = await actions.has_previous_release(self.dash.api, self.row, self.deployment_id)
        self.refresh_bindings()

