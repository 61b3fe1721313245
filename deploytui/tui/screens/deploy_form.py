"""The deploy form: pick a directory (or a bundled demo), name the project, deploy, watch it live.

The directory starts empty unless the dashboard was given one (``deploy_dir``): the form never
deploys the working directory by default. Submitting asks first, in a :class:`ConfirmScreen` naming
the directory (its file count and size, as it will be packed), the project and the server; only a
yes closes the form and opens the new deployment's screen, attached to the deploy's own event
stream from its first event. Packing (a tar.gz without ``.git`` and ``node_modules``) and the
streamed multipart upload happen in that screen's worker, never on the UI loop.

"Stage only" (``activate: false``) is offered when the server has two-phase deploys (learnt from
``registration_info``, see ``OperationsClient.learn_operations``): the build and install run, the
running release stays, and the deployment rests ``staged`` until it is activated.
"""

from __future__ import annotations

import asyncio
import os
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.suggester import Suggester
from textual.widgets import Button, Input, Label, Select, Static, Switch

from deploytui.protocol.deployment import TWO_PHASE
from deploytui.client.humanize import size as human_size
from deploytui.tui.widgets.formatting import clean

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from deploytui.tui.services import Dashboard

DIRECTORY = "__directory__"


class PathSuggester(Suggester):
    """Completes a directory path from the filesystem (the first sub-directory matching the prefix)."""

    def __init__(self) -> None:
        super().__init__(use_cache=False, case_sensitive=True)

    async def get_suggestion(self, value: str) -> str | None:
        return await asyncio.to_thread(complete_directory, value)


def complete_directory(value: str) -> str | None:
    """``~/pro`` → ``~/projects/``: the first directory starting with what was typed, or None."""
    if not value:
        return None
    expanded = os.path.expanduser(value)
    parent, prefix = os.path.split(expanded)
    try:
        names = sorted(os.listdir(parent or "."))
    except OSError:
        return None
    for name in names:
        if name.startswith(prefix) and (prefix or not name.startswith(".")) and os.path.isdir(os.path.join(parent or ".", name)):
            completed = name[len(prefix):]
            if not completed and not prefix:
                continue
            return value + completed + ("/" if not completed.endswith("/") else "")
    return None


@dataclass(frozen=True)
class DeployRequest:
    """What the form asks for: a directory and the deploy_component fields."""

    path: Path
    project: str
    install_command: str | None
    restart: bool
    stage_only: bool = False

    def fields(self) -> dict[str, Any]:
        fields: dict[str, Any] = {"project": self.project, "restart": self.restart}
        if self.install_command:
            fields["install_command"] = self.install_command
        if self.stage_only:
            fields["activate"] = False
        return fields


def confirmation(request: DeployRequest, files: int, total_bytes: int, server: str) -> Text:
    """What the confirmation says: which directory (as packed), as which project, to which server,
    and what happens there."""
    body = Text("Deploy ")
    body.append(clean(str(request.path)), style="bold")
    body.append(f" ({files} file{'s' if files != 1 else ''}, {human_size(total_bytes)}; .git and node_modules left out)"
                " as project ")
    body.append(clean(request.project), style="bold")
    body.append(" to ")
    body.append(clean(server), style="bold")
    body.append("?\n")
    if request.stage_only:
        body.append("Stage only: it is built and installed, and waits as 'staged'; the running release stays "
                    "until you activate it.")
    else:
        body.append("It replaces the running release of the project" + (", then restarts." if request.restart else "."))
    return body


def pack(path: Path) -> bytes:
    """The directory as a tar.gz (``deploytui.client.pack``: no .git, no node_modules)."""
    from deploytui.client.pack import pack_directory

    return pack_directory(path)


def stream_opener(api: Any, request: DeployRequest) -> Any:
    """An async context manager factory: pack, upload, and yield the deploy's event stream."""

    @asynccontextmanager
    async def open_stream() -> AsyncIterator[Any]:
        payload = await asyncio.to_thread(pack, request.path)
        async with api.deploy_stream(request.fields(), payload) as stream:
            yield stream

    return open_stream


class DeployFormScreen(ModalScreen["DeployRequest | None"]):
    """Deploy a directory or a bundled demo; ``ctrl+d``/the button deploys, ``escape`` cancels."""

    DEFAULT_CSS = """
    DeployFormScreen { align: center middle; }
    DeployFormScreen > VerticalScroll {
        width: 80; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    DeployFormScreen .form--title { text-style: bold; color: $accent; height: 1; margin-bottom: 1; }
    DeployFormScreen .form--row { height: auto; margin-bottom: 1; }
    DeployFormScreen .form--row > Label { width: 12; height: 1; color: $foreground-muted; }
    DeployFormScreen .form--row > Input, DeployFormScreen .form--row > Select { width: 1fr; }
    /* One row per switch, so the whole form fits 80x24. */
    DeployFormScreen .form--row > Switch { height: 1; width: 6; border: none; padding: 0; }
    /* The switch's state in words: its colours alone say nothing without colour (NO_COLOR). */
    DeployFormScreen .form--state { width: auto; height: 1; margin-left: 1; color: $foreground-muted; }
    DeployFormScreen .form--hint { height: 1; color: $foreground-muted; margin-bottom: 1; padding-left: 12; }
    DeployFormScreen #form-error { color: $error; height: auto; }
    DeployFormScreen #form-buttons { height: auto; align-horizontal: right; }
    DeployFormScreen #form-buttons Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="deploy_form.cancel"),
        Binding("ctrl+d", "submit", "Deploy", priority=True, id="deploy_form.submit"),
    ]

    def __init__(self, demos: list[Any] | None = None, *, start: str | None = None) -> None:
        super().__init__()
        self.demos = demos
        self.start = start or ""  # never the working directory by default: what to deploy is asked
        self._project_touched = False

    def compose(self) -> ComposeResult:
        dash: Dashboard = self.app  # type: ignore[assignment]
        demos = self.demos if self.demos is not None else dash.demos()
        self.demos = demos
        options = [("A directory on this machine", DIRECTORY)] + [(f"Demo: {d.name} — {d.description}", d.name) for d in demos]
        with VerticalScroll():
            yield Static(Text("Deploy a component"), classes="form--title")
            with Horizontal(classes="form--row"):
                yield Label("What")
                yield Select(options, value=DIRECTORY, allow_blank=False, id="source", compact=True)
            with Horizontal(classes="form--row"):
                yield Label("Directory")
                yield Input(self._start_value(), id="path", suggester=PathSuggester(), compact=True,
                            placeholder="the directory to deploy, e.g. ~/projects/my-component")
            yield Static("→ accepts the completion; .git and node_modules are left out", classes="form--hint")
            with Horizontal(classes="form--row"):
                yield Label("Project")
                yield Input(Path(self.start).name if self.start else "", id="project", placeholder="project name",
                            compact=True)
            with Horizontal(classes="form--row"):
                yield Label("Install")
                yield Input("", id="install", placeholder="empty: npm install when there is a package.json", compact=True)
            with Horizontal(classes="form--row"):
                yield Label("Restart")
                yield Switch(False, id="restart")
                yield Static("off", id="restart-state", classes="form--state")
            with Horizontal(classes="form--row", id="stage-row"):
                yield Label("Stage only")
                yield Switch(False, id="stage-only")
                yield Static("off", id="stage-only-state", classes="form--state")
            yield Static("build and install now, go live later (ctrl+a on its row)",
                         classes="form--hint", id="stage-hint")
            yield Static("", id="form-error")
            with Horizontal(id="form-buttons"):
                yield Button("Cancel (esc)", id="cancel", compact=True)
                yield Button("Deploy (ctrl+d)", id="deploy", variant="primary", compact=True)

    def _start_value(self) -> str:
        home = str(Path.home())
        start = self.start
        return "~" + start[len(home):] if start.startswith(home) else start

    def on_mount(self) -> None:
        # set_focus, not Widget.focus (which defers): keys typed right after `d` land in the field.
        self.set_focus(self.query_one("#path", Input))
        self._show_stage_only()
        self._learn_two_phase()

    @work(exclusive=True, group="two-phase", exit_on_error=False)
    async def _learn_two_phase(self) -> None:
        """Offer "stage only" once the server is known to stage (a 5.1 server would go live)."""
        from deploytui.tui.screens.list_actions import learn_operations

        if await learn_operations(self._api()):
            self._show_stage_only()

    def _api(self) -> Any:
        return getattr(self.app, "api", None)

    def offers_stage_only(self) -> bool:
        supports = getattr(self._api(), "supports", None)
        return supports is not None and supports(TWO_PHASE) is True

    def _show_stage_only(self) -> None:
        offered = self.offers_stage_only()
        self.query_one("#stage-row").display = offered
        self.query_one("#stage-hint").display = offered
        if not offered:
            self.query_one("#stage-only", Switch).value = False

    @on(Switch.Changed)
    def _say_switch_state(self, event: Switch.Changed) -> None:
        self.query_one(f"#{event.switch.id}-state", Static).update("on" if event.value else "off")

    @on(Switch.Changed, "#stage-only")
    def _stage_only_changed(self, event: Switch.Changed) -> None:
        restart = self.query_one("#restart", Switch)
        restart.disabled = event.value  # nothing goes live when staging, so nothing restarts
        if event.value:
            restart.value = False

    @on(Select.Changed, "#source")
    def _source_changed(self, event: Select.Changed) -> None:
        spec = next((d for d in self.demos or [] if d.name == event.value), None)
        path, project, install = self.query_one("#path", Input), self.query_one("#project", Input), self.query_one("#install", Input)
        if spec is None:
            path.disabled = False
            return
        path.value = str(spec.path)
        path.disabled = True
        project.value = spec.name
        install.value = spec.install_command
        self._project_touched = False

    @on(Input.Changed, "#path")
    def _path_changed(self, event: Input.Changed) -> None:
        if not self._project_touched:
            name = Path(os.path.expanduser(event.value.rstrip("/"))).name
            project = self.query_one("#project", Input)
            project.value = name

    @on(Input.Changed, "#project")
    def _project_changed(self, event: Input.Changed) -> None:
        # Only the user's own typing pins the project, and they can only type into it while it has
        # focus; the Input also reports (later, as messages) the values the form set itself.
        if event.input.has_focus:
            self._project_touched = True

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        if event.input.id == "path":
            self.query_one("#project", Input).focus()
        else:
            self.action_submit()

    @on(Button.Pressed, "#deploy")
    def action_submit(self) -> None:
        request, problem = self.read_form()
        error = self.query_one("#form-error", Static)
        if problem or request is None:
            error.update(Text(problem or ""))
            return
        error.update("")
        self._confirm(request)

    @work(exclusive=True, group="confirm", exit_on_error=False)
    async def _confirm(self, request: DeployRequest) -> None:
        """Say what will be deployed where (the directory as it will be packed), and ask."""
        from deploytui.client.errors import DeploytuiError
        from deploytui.client.pack import scan_directory
        from deploytui.tui.screens.confirm import ConfirmScreen

        try:
            plan = await asyncio.to_thread(scan_directory, request.path)
        except DeploytuiError as exc:
            self.query_one("#form-error", Static).update(Text(clean(exc.message)))
            return
        server = getattr(self.app, "server_url", None) or getattr(self._api(), "url", "the server")
        body = confirmation(request, plan.file_count, plan.total_bytes, str(server))
        verb = "Stage" if request.stage_only else "Deploy"

        def answered(yes: bool | None) -> None:
            if yes:
                self.dismiss(request)

        self.app.push_screen(ConfirmScreen(f"{verb} {clean(request.project)}?", body, verb, danger=False), answered)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    def read_form(self) -> tuple[DeployRequest | None, str | None]:
        """The request, or why the form is not complete."""
        raw = self.query_one("#path", Input).value.strip()
        path = Path(os.path.expanduser(raw)) if raw else None
        if path is None or not path.is_dir():
            return None, f"not a directory: {raw or '(empty)'}"
        project = self.query_one("#project", Input).value.strip() or path.resolve().name
        install = self.query_one("#install", Input).value.strip() or None
        restart = self.query_one("#restart", Switch).value
        stage_only = self.offers_stage_only() and self.query_one("#stage-only", Switch).value
        return DeployRequest(path.resolve(), project, install, restart and not stage_only, stage_only), None
