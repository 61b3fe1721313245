"""Settings that persist (settings.toml: the theme picked; keymap.toml: binding id = keys) and the
ASCII switch. Bad files are said in a toast and the defaults used; nothing crashes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from deploytui.tui.glyphs import ascii_mode, ascii_wanted, set_ascii_mode
from deploytui.tui.launch import user_settings
from deploytui.tui.settings import load_settings
from deploytui.tui.widgets.deployments_table import DeploymentsTable
from tests.tui.app_harness import recorded_app, screen_text, wait_for


def toasts(app) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def test_a_theme_picked_is_kept_for_the_next_start(tmp_path: Path) -> None:
    app = recorded_app(user_settings=load_settings(tmp_path))
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query(DeploymentsTable), what="the list")
        app.theme = "nord"  # what the palette's theme command does
        await pilot.pause()
    assert (tmp_path / "settings.toml").read_text().splitlines()[1:] == ['theme = "nord"']
    again = recorded_app(user_settings=load_settings(tmp_path))
    async with again.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: again.screen.query(DeploymentsTable), what="the list")
        assert again.theme == "nord"


async def test_a_user_keymap_moves_a_binding(tmp_path: Path) -> None:
    (tmp_path / "keymap.toml").write_text('deployments.pause = "P"\n')
    app = recorded_app(user_settings=load_settings(tmp_path))
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DeploymentsTable).row_count, what="rows")
        await pilot.press("p")
        assert not app.screen.paused  # p no longer pauses
        await pilot.press("P")
        assert app.screen.paused and "paused (P resumes)" in screen_text(app) or "paused" in screen_text(app)
        assert not toasts(app)


@pytest.mark.parametrize(("settings", "keymap", "expected"), [
    ("theme = 5\nbogus = 1\n", "", ["'theme' must be a theme name in quotes", "unknown setting 'bogus'"]),
    ('theme = "no-such-theme"\n', "", ["unknown theme 'no-such-theme'"]),
    ("theme = [\n", "", ["settings.toml: invalid TOML"]),
    ("", "deployments.pause = 5\n", ["deployments.pause: give keys as a string"]),
    ("", 'deployments.pasue = "x"\n', ["no binding has the id deployments.pasue"]),
    ("", "[[[\n", ["keymap.toml: invalid TOML"]),
])
async def test_bad_settings_are_said_and_the_defaults_used(tmp_path: Path, settings: str, keymap: str,
                                                           expected: list[str]) -> None:
    (tmp_path / "settings.toml").write_text(settings)
    (tmp_path / "keymap.toml").write_text(keymap)
    app = recorded_app(user_settings=load_settings(tmp_path))
    async with app.run_test(size=(100, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DeploymentsTable).row_count, what="rows")
        said = "\n".join(toasts(app))
        for part in expected:
            assert part in said
        assert app.theme == "textual-dark"
        await pilot.press("p")
        assert app.screen.paused  # the default keys still work
        app.theme = "nord"
        await pilot.pause()
    if "invalid TOML" in said and "settings.toml" in said:
        assert (tmp_path / "settings.toml").read_text() == settings  # the user's text is not replaced


def test_ascii_is_asked_for_by_flag_setting_or_the_linux_console() -> None:
    assert ascii_wanted(True, False, {"TERM": "xterm"})
    assert ascii_wanted(None, None, {"TERM": "linux"})
    assert not ascii_wanted(None, False, {"TERM": "linux"})  # the setting says no
    assert ascii_wanted(None, True, {"TERM": "xterm-256color"})
    assert not ascii_wanted(None, None, {"TERM": "tmux-256color"})


def test_the_launcher_reads_the_settings_next_to_the_contexts_file(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("DEPLOYTUI_CONFIG", str(tmp_path / "contexts.toml"))
    monkeypatch.setenv("TERM", "xterm-256color")
    (tmp_path / "settings.toml").write_text('theme = "nord"\nascii = true\n')
    found = user_settings(argparse.Namespace(ascii=False))
    assert found["ascii"] is True and found["user_settings"].theme == "nord"  # type: ignore[attr-defined]


async def test_ascii_mode_draws_the_list_in_ascii() -> None:
    app = recorded_app(ascii=True)
    try:
        async with app.run_test(size=(100, 24)) as pilot:
            table = app.screen.query_one(DeploymentsTable)
            await wait_for(pilot, lambda: table.row_count, what="rows")
            assert ascii_mode()
            cells = "".join(table.get_cell(key, "status").plain + table.get_cell(key, "project").plain
                            for key in table.rows_by_id)
            assert cells.isascii(), cells
            assert screen_text(app).count("*") >= 1  # the current-release marker
    finally:
        set_ascii_mode(False)


def test_ascii_mode_draws_the_install_gutter_in_ascii() -> None:
    from rich.style import Style

    from deploytui.tui.widgets.install_log.render import line_prefix, resolve_line_styles
    from tests.tui.test_install_log import make_line

    styles = resolve_line_styles(lambda *names: Style(), Style())
    line = make_line(0, "added 1 package")
    fancy = [line_prefix(line, styles, False, first=first, cursor=cursor).plain
             for first, cursor in ((True, False), (False, False), (True, True))]
    set_ascii_mode(True)
    try:
        plain = [line_prefix(line, styles, False, first=first, cursor=cursor).plain
                 for first, cursor in ((True, False), (False, False), (True, True))]
    finally:
        set_ascii_mode(False)
    assert not "".join(fancy).isascii() and "".join(plain).isascii()
    assert len(set(plain)) == 3  # a new line, a continuation and the current line still differ


async def test_a_screen_opened_while_the_window_had_no_focus_takes_the_keys_on_return() -> None:
    """Follow mode opens deploys while the presenter types elsewhere: back in the window, the
    output must take the keys without a Tab first."""
    from textual import events

    from deploytui.tui.screens.deployment import DeploymentScreen
    from deploytui.tui.widgets.install_log import InstallLog

    app = recorded_app()
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query(DeploymentsTable) and app.screen.query_one(DeploymentsTable).row_count,
                       what="rows")
        app.post_message(events.AppBlur())
        await pilot.pause()
        await app.screen.run_action("open")
        screen = await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen, what="opened")
        await pilot.pause()
        screen.set_focus(None)  # as a browser left it: nothing focused, and nothing to restore on this screen
        app.post_message(events.AppFocus())
        await wait_for(pilot, lambda: app.focused is screen.query_one(InstallLog).line_list, what="the output focused")
