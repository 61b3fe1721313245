"""The deploytui dashboard application.

:class:`DeploytuiApp` owns the connection (one :class:`OperationsClient`), the clock and the
screens: the deployments list first, then a deployment's detail on top of it. Everything that talks
to the server runs in a worker; workers post messages, handlers update widgets. Failures of the
server or the network become notifications or a banner, never a crash.

The clock (``now``), the client and the attach function are injectable so tests and snapshots can
run the real screens on recorded data with a frozen time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import App
from textual.binding import Binding

from deploytui.tui.commands import DeploytuiCommands
from deploytui.tui.glyphs import set_ascii_mode
from deploytui.tui.settings import UserSettings, save_settings

if TYPE_CHECKING:
    from textual.widget import AwaitMount

    from deploytui.client.api import ConnectionSettings, OperationsClient
    from deploytui.tui.first_rows import FirstRows


def bundled_demos() -> list[Any]:
    """The demo components shipped with the server (``demo_specs()``), or [] when not installed.

    ``deploytui.server.demos`` is a small data module (paths and install commands, no server code).
    """
    try:
        from deploytui.server.demos import demo_specs
    except Exception:
        return []
    try:
        return [spec for spec in demo_specs() if Path(spec.path).is_dir()]
    except Exception:
        return []


QUIT_QUERY_LIMIT = 500
QUIT_QUERY_TIMEOUT_S = 1.0


def quit_note(unfinished: list[dict[str, Any]], come_back: str) -> str | None:
    """What to tell someone who quits while deploys run: which, that they continue, how to return."""
    if not unfinished:
        return None
    from deploytui.client.ansi import strip_controls  # server text: shown, never obeyed

    lines = [f"deploytui: {len(unfinished)} deploy(s) still running; they continue on the server:"]
    for row in unfinished:
        project, stage, deployment_id = (strip_controls(str(value or "?")) for value in (
            row.get("project"), row.get("phase") or row.get("status"), row.get("deployment_id")))
        lines.append(f"  {project:<16} {stage:<10} {deployment_id}")
    lines.append(f"Follow one with `{come_back.replace('deploytui', 'deploytui watch <id>', 1)}`"
                 f" or come back with `{come_back}`.")
    return "\n".join(lines)


class DeploytuiApp(App[int]):
    """The dashboard: deployments of one server, each one's live progress, and deploys."""

    CSS_PATH = "app.tcss"
    TITLE = "deploytui"
    COMMANDS = App.COMMANDS | {DeploytuiCommands}
    BINDINGS = [
        Binding("question_mark,f1", "help", "Help", id="app.help"),
        # `q` quits from the list only (its screen binds it); elsewhere it goes back or is text.
        Binding("ctrl+c", "quit", "Quit", show=False, id="app.interrupt"),
    ]

    def __init__(
        self,
        settings: ConnectionSettings | None = None,
        *,
        embedded: bool = False,
        context: str | None = None,
        client: Any = None,
        attach: Callable[..., Any] | None = None,
        now: Callable[[], float] | None = None,
        poll_interval: float = 1.5,
        fast_poll_interval: float = 0.5,
        demos: Callable[[], list[Any]] | None = None,
        animate: bool = True,
        deploy_dir: str | None = None,
        theme: str | None = None,
        follow: bool = False,
        follow_pause: float = 4.0,
        user_settings: UserSettings | None = None,
        ascii: bool = False,
        first_rows: FirstRows | None = None,
    ) -> None:
        super().__init__()
        self.user_settings = user_settings or UserSettings()
        """settings.toml and keymap.toml (none in tests: nothing is read or written then)."""
        set_ascii_mode(ascii)
        self.settings = settings
        self.embedded = embedded
        self.context = context
        self._client = client
        self.attach_fn = attach
        self.now: Callable[[], float] = now or time.time
        """The clock (epoch seconds); frozen in snapshots."""
        self.poll_interval = poll_interval
        self.fast_poll_interval = fast_poll_interval
        self.demos = demos or bundled_demos
        self.animate = animate
        self.deploy_dir = deploy_dir
        """Where the deploy form starts (the working directory by default)."""
        self.quit_note: str | None = None
        """Set when quitting while deploys run: printed by the launcher after the app has exited."""
        self.theme_override = theme
        """``--theme``: wins over the saved theme for this session."""
        self.follow_on_start = follow
        """``--follow``: the list starts in follow mode (see tui/follow_action.py)."""
        self.follow_pause = follow_pause
        """Seconds a followed deploy stays on screen after it ends."""
        self.first_rows = first_rows
        """The list's first answer, asked for at launch (see tui/first_rows.py); None in tests."""

    # ------------------------------------------------------------------ connection

    @property
    def api(self) -> OperationsClient:
        """The Operations API client of the current server."""
        if self._client is None:
            from deploytui.client.api import OperationsClient

            if self.settings is None:
                raise RuntimeError("no server to talk to")
            self._client = OperationsClient(self.settings)
        return self._client

    @property
    def existing_api(self) -> OperationsClient | None:
        """The client if one was made, else None: nothing is known of the server before the first
        request, and what only asks what is known (which keys to offer) must not make one (and
        import httpx) in front of the first frame."""
        return self._client

    @property
    def server_url(self) -> str:
        if self.settings is not None:
            return self.settings.url
        return str(getattr(self._client, "url", "offline"))

    @property
    def server_label(self) -> str:
        if self.embedded:
            return "embedded"
        return f"context {self.context}" if self.context else "remote"

    def attach(self, deployment_id: str | None, **kwargs: Any) -> Any:
        """``attach(api, deployment_id, ...)`` — the stitched replay-then-live stream."""
        if self.attach_fn is not None:
            return self.attach_fn(self.api, deployment_id, **kwargs)
        from deploytui.client.attach import attach

        return attach(self.api, deployment_id, **kwargs)

    # ------------------------------------------------------------------ lifecycle

    def on_mount(self) -> None:
        from deploytui.tui.screens.deployments import DeploymentsScreen

        if not self.animate:
            self.animation_level = "none"
        self._apply_user_settings()
        if self.theme_override:
            self.theme = self.theme_override
        self.theme_changed_signal.subscribe(self, self._theme_picked)
        self.push_screen(DeploymentsScreen())

    def _apply_user_settings(self) -> None:
        """The saved theme and the user's keymap; what is unusable in them is said, then ignored."""
        from deploytui.tui.keymap import known_binding_ids
        from deploytui.tui.settings import unknown_ids

        prefs = self.user_settings
        problems = list(prefs.problems)
        if prefs.theme and prefs.theme != self.theme:
            if prefs.theme in self.available_themes:
                self.theme = prefs.theme
            else:
                problems.append(f"{prefs.settings_path}: unknown theme {prefs.theme!r}; using {self.theme}")
        if prefs.keymap:
            unknown = unknown_ids(prefs.keymap, known_binding_ids())
            if unknown:
                problems.append(f"{prefs.keymap_path}: no binding has the id {', '.join(unknown)} "
                                "(`?` lists the ids); ignored")
            self.set_keymap({k: v for k, v in prefs.keymap.items() if k not in unknown})
        for problem in problems:
            self.notify(problem, title="Settings", severity="warning", timeout=12, markup=False)

    def _theme_picked(self, theme: Any) -> None:
        """Keep the theme picked in the palette for the next start (settings.toml)."""
        prefs = self.user_settings
        name = getattr(theme, "name", None)
        if not name or name == prefs.theme or prefs.directory is None:
            return
        prefs.theme = name
        try:
            save_settings(prefs)
        except OSError as exc:
            self.notify(f"Could not save the theme to {prefs.settings_path}: {exc.strerror or exc}",
                        title="Settings", severity="warning", markup=False)

    def on_app_focus(self) -> None:
        """Back from another window with nothing focused (a screen opened while the app had no
        focus, as follow mode does for a presenter typing elsewhere): focus what the screen
        would have, so its keys work without a Tab first."""
        if self.focused is None:
            default = getattr(self.screen, "focus_default", None)
            if default is not None:
                default()
            else:
                self.screen.focus_next()

    async def on_unmount(self) -> None:
        client = self._client
        if client is not None and hasattr(client, "aclose"):
            try:
                await client.aclose()
            except Exception:
                pass

    async def action_quit(self) -> None:
        """Quit without touching the server: its deploys go on. What still runs is named in
        :attr:`quit_note`, which the launcher prints once the terminal is back."""
        self.quit_note = quit_note(await self._unfinished_deployments(), self.come_back_command())
        self.exit()

    async def _unfinished_deployments(self) -> list[dict[str, Any]]:
        """Deployments not yet ended: asked of the server now (a deploy may have just started), else
        the list's last poll."""
        from deploytui.protocol.deployment import is_terminal

        try:
            data = await asyncio.wait_for(self.api.list_deployments(limit=QUIT_QUERY_LIMIT), QUIT_QUERY_TIMEOUT_S)
            rows = list(data.get("deployments") or [])
        except Exception:  # unreachable, refused, slow: what the list showed last will do
            from deploytui.tui.screens.deployments import DeploymentsScreen

            screens = [s for s in self.screen_stack if isinstance(s, DeploymentsScreen)]
            rows = list(screens[0].rows().values()) if screens else []
        return [r for r in rows if isinstance(r, dict) and not is_terminal(r.get("status"))]

    def come_back_command(self) -> str:
        """The command that opens this dashboard again."""
        if self.context:
            return f"deploytui --context {self.context}"
        if self.embedded or self.settings is None:
            return "deploytui"
        return f"deploytui --url {self.settings.url}"

    # ------------------------------------------------------------------ navigation

    def open_deployment(self, deployment_id: str | None, row: dict[str, Any] | None = None, *, opener: Any = None) -> None:
        """Show one deployment (``opener`` opens a deploy's own stream to attach from its first event)."""
        from deploytui.tui.screens.deployment import DeploymentScreen

        self.push_screen(DeploymentScreen(deployment_id, row=row, opener=opener))

    def action_help(self) -> None:
        """Show every binding active on the current screen."""
        from deploytui.tui.screens.help import HelpScreen

        if isinstance(self.screen, HelpScreen):
            self.screen.dismiss()
            return
        self.push_screen(HelpScreen(self.screen))

    def action_deploy_form(self) -> AwaitMount:
        """Open the deploy form; a submitted form opens the new deployment, attached from its start.

        Returns the mount to await: keys read after it go to the form's focused field."""
        from deploytui.tui.screens.deploy_form import (
            DeployFormScreen,
            DeployRequest,
            stream_opener,
        )

        def submitted(request: DeployRequest | None) -> None:
            if request is not None:
                row = {"project": request.project, "status": "pending", "user": getattr(self.settings, "user", None)}
                self.open_deployment(None, row, opener=stream_opener(self.api, request))

        return self.push_screen(DeployFormScreen(start=self.deploy_dir), submitted)

    def action_open_by_id(self) -> None:
        """Ask for a deployment id (or its first characters) and open it."""
        from deploytui.tui.screens.confirm import PromptScreen

        def chosen(value: str | None) -> None:
            if value:
                self.find_and_open(value.strip())

        self.push_screen(PromptScreen("Open deployment", "Deployment id (or its first characters)", ""), chosen)

    @work(exclusive=True, group="open-by-id", exit_on_error=False)
    async def find_and_open(self, prefix: str) -> None:
        """Open the deployment whose id is or starts with ``prefix``."""
        from deploytui.client.errors import DeploytuiError

        try:
            if len(prefix) >= 36:
                row = await self.api.get_deployment(prefix)
            else:
                rows = (await self.api.list_deployments(limit=1000)).get("deployments") or []
                matches = [r for r in rows if str(r.get("deployment_id", "")).startswith(prefix)]
                if len(matches) != 1:
                    what = "no deployment" if not matches else f"{len(matches)} deployments"
                    self.notify(f"{what} with an id starting {prefix!r}", severity="warning", markup=False)
                    return
                row = matches[0]
        except DeploytuiError as exc:
            self.notify(exc.message, title="Open deployment", severity="error", markup=False)
            return
        self.open_deployment(str(row.get("deployment_id")), row)

    # ------------------------------------------------------------------ demos

    def action_deploy_demos(self, name: str = "") -> None:
        """Deploy every bundled demo (or the one called ``name``)."""
        specs = [s for s in self.demos() if not name or s.name == name]
        if not specs:
            self.notify("No bundled demos are installed", severity="warning")
            return
        self.notify(f"Deploying {', '.join(s.name for s in specs)}", title="Demos")
        self.deploy_demos(specs)

    @work(group="demos", exit_on_error=False)
    async def deploy_demos(self, specs: list[Any]) -> None:
        """Deploy demos concurrently (one per project); the list shows their progress."""

        from deploytui.client.errors import DeploytuiError
        from deploytui.client.pack import pack_directory

        async def one(spec: Any) -> None:
            try:
                # Uploaded like any directory, so the demos work on a remote server too.
                payload = await asyncio.to_thread(pack_directory, spec.path)
                fields = {"project": spec.name, "install_command": spec.install_command, "restart": False}
                await self.api.deploy_component_multipart(fields, payload)
            except DeploytuiError as exc:
                if exc.deployment_id:
                    return  # a recorded deploy failure (some demos fail on purpose): the list shows it
                self.notify(f"{spec.name}: {exc.message}", title="Demo deploy", severity="error", markup=False)

        await asyncio.gather(*(one(spec) for spec in specs))

    # ------------------------------------------------------------------ servers

    def switch_server(self, name: str) -> None:
        """Talk to the server of context ``name`` from now on (the list starts over)."""
        import argparse

        try:
            from deploytui.config import resolve_connection

            settings = resolve_connection(argparse.Namespace(context=name, url=None, user=None, password=None, token=None, insecure=False))
        except Exception as exc:
            self.notify(str(exc), title="Switch server", severity="error", markup=False)
            return
        if settings is None:
            self.notify("The local server is the embedded one; restart deploytui without --context", severity="warning")
            return
        old = self._client
        self.settings, self.context, self.embedded, self._client = settings, name, False, None
        if old is not None and hasattr(old, "aclose"):
            self.run_worker(old.aclose(), exit_on_error=False)
        from deploytui.tui.screens.deployments import DeploymentsScreen

        while len(self.screen_stack) > 2:
            self.pop_screen()
        self.switch_screen(DeploymentsScreen())
        self.notify(f"Now on {settings.url}", title=f"Context {name}", markup=False)
