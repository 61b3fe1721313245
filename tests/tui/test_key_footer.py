"""The footer (tui/widgets/key_footer.py): rebuilt only when its keys change, and not while held."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Label

from deploytui.tui.widgets.key_footer import HELD_WAIT_S, KeyFooter


class Keys(App[None]):
    BINDINGS = [Binding("x", "extra", "Extra"), Binding("h", "help", "Help")]

    def __init__(self) -> None:
        super().__init__()
        self.offer_extra = False
        self.rebuilds = 0

    def compose(self) -> ComposeResult:
        yield Label("body")
        yield KeyFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        return self.offer_extra if action == "extra" else True

    def action_extra(self) -> None: ...

    def action_help(self) -> None: ...


def shown(app: Keys) -> set[str]:
    return {key[0] for key in app.query_one(KeyFooter)._shown or ()}


async def test_keys_wait_while_held_and_come_when_released() -> None:
    app = Keys()
    async with app.run_test() as pilot:
        footer = app.query_one(KeyFooter)
        await pilot.pause()
        assert "h" in shown(app) and "x" not in shown(app)
        footer.hold(True)
        app.offer_extra = True
        app.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        assert "x" not in shown(app)  # held: no rebuild in the middle of a burst
        footer.hold(False)
        await pilot.pause()
        await pilot.pause()
        assert "x" in shown(app)


async def test_an_unchanged_refresh_rebuilds_nothing() -> None:
    app = Keys()
    async with app.run_test() as pilot:
        await pilot.pause()
        before = app.query_one(KeyFooter).children[0]
        app.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        assert app.query_one(KeyFooter).children[0] is before


async def test_keys_held_too_long_come_anyway() -> None:
    """A stream busy for minutes must not leave the keys stale: held changes wait HELD_WAIT_S."""
    app = Keys()
    async with app.run_test() as pilot:
        footer = app.query_one(KeyFooter)
        await pilot.pause()
        footer.hold(True)
        app.offer_extra = True
        app.refresh_bindings()
        await pilot.pause()
        assert "x" not in shown(app)
        deadline = asyncio.get_running_loop().time() + HELD_WAIT_S + 5
        while "x" not in shown(app) and asyncio.get_running_loop().time() < deadline:
            await pilot.pause(0.05)
        assert "x" in shown(app) and footer._held  # still held, yet shown
