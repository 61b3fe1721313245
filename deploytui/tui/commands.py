"""The command palette's deploytui commands (``ctrl+p``): the rarer actions, by name.

Open a deployment by id, deploy a directory or the bundled demos, switch to another server of the
contexts file. Themes, quit and screenshots come from Textual's own system commands.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from deploytui.tui.services import Dashboard


class DeploytuiCommands(Provider):
    """Commands of the dashboard, matched fuzzily by name."""

    def _commands(self) -> list[tuple[str, Callable[[], Any], str]]:
        app: Dashboard = self.app  # type: ignore[assignment]
        commands: list[tuple[str, Callable[[], Any], str]] = [
            ("Open deployment by id", app.action_open_by_id, "Type an id or its first characters"),
            ("Deploy a directory", app.action_deploy_form, "Pack a local directory and deploy it"),
            ("Help: key bindings", app.action_help, "Every binding of the current screen"),
        ]
        demos = app.demos()
        if demos:
            commands.append(("Deploy all demos", partial(app.action_deploy_demos, ""), "Deploy every bundled demo"))
            for spec in demos:
                commands.append((f"Deploy demo: {spec.name}", partial(app.action_deploy_demos, spec.name), spec.description))
        for name in self._contexts():
            commands.append((f"Switch server: {name}", partial(app.switch_server, name), "A context of the contexts file"))
        return commands

    @staticmethod
    def _contexts() -> list[str]:
        try:
            from deploytui.config import load_contexts

            return sorted(load_contexts().contexts)
        except Exception:
            return []

    async def discover(self) -> Hits:
        for name, callback, help_text in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, callback, help_text in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)
