"""The footer (tui/widgets/key_footer.py): one line of keys, right from the first frame, repainted
(never rebuilt, never a layout) when they change; a click presses the key under it."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.widgets import Label

from deploytui.tui.widgets.key_footer import KeyFooter


class Keys(App[None]):
    BINDINGS = [Binding("x", "extra", "Extra"), Binding("h", "help", "Help"), Binding("z", "zoom", "Zoom"),
                Binding("q", "quit", "Quit", show=False)]

    def __init__(self) -> None:
        super().__init__()
        self.offer_extra = False
        self.zoom_enabled = True
        self.pressed: list[str] = []

    def compose(self) -> ComposeResult:
        yield Label("body")
        yield KeyFooter()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "extra":
            return self.offer_extra
        if action == "zoom":
            return self.zoom_enabled or None  # None: shown, disabled
        return True

    def action_extra(self) -> None:
        self.pressed.append("extra")

    def action_help(self) -> None:
        self.pressed.append("help")

    def action_zoom(self) -> None:
        self.pressed.append("zoom")


def footer_line(app: App) -> str:
    return app.query_one(KeyFooter).render().plain


def layouts(app: App) -> int:
    return app.screen._layout_updates


async def test_the_first_frame_shows_the_keys() -> None:
    app = Keys()
    async with app.run_test(size=(80, 5)) as pilot:
        await pilot.pause()
        line = footer_line(app)
        assert " h Help " in line and " z Zoom " in line
        assert "Extra" not in line and "Quit" not in line  # hidden by check_action / show=False
        assert line.rstrip().endswith("palette")  # the command palette's key, on the right
        assert len(line) == 80
        assert not app.query_one(KeyFooter).children  # one line, no widget per key


async def test_a_change_repaints_one_line_without_a_layout() -> None:
    app = Keys()
    async with app.run_test(size=(80, 5)) as pilot:
        await pilot.pause()
        before = layouts(app)
        app.offer_extra = True
        app.refresh_bindings()
        await pilot.pause()
        await pilot.pause()
        assert " x Extra " in footer_line(app)
        assert layouts(app) == before


async def test_a_click_presses_the_key_under_it_and_a_disabled_key_rings() -> None:
    app = Keys()
    async with app.run_test(size=(80, 5)) as pilot:
        await pilot.pause()
        footer = app.query_one(KeyFooter)
        line = footer_line(app)
        await pilot.click(KeyFooter, offset=(line.index("Help"), 0))
        await pilot.pause()
        assert app.pressed == ["help"]
        app.zoom_enabled = False
        app.refresh_bindings()
        await pilot.pause()
        zoom = footer.key_at(footer_line(app).index("Zoom"))
        assert zoom is not None and not zoom.enabled
        await pilot.click(KeyFooter, offset=(footer_line(app).index("Zoom"), 0))
        await pilot.pause()
        assert app.pressed == ["help"]  # disabled: nothing pressed


async def test_keys_that_do_not_fit_are_left_out_whole() -> None:
    app = Keys()
    async with app.run_test(size=(26, 5)) as pilot:
        await pilot.pause()
        line = footer_line(app)
        assert len(line) == 26 and line.rstrip().endswith("palette")
        assert " h Help " in line and "Zoom" not in line and " z " not in line  # never half a key
