"""Tests of the phase timeline and the status glyphs (their glyphs, and their colours from the theme)."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult

from deploytui.client.humanize import duration
from deploytui.client.view import Phase
from deploytui.protocol.deployment import ONE_SHOT_PHASES, TWO_PHASE_PHASES, Status
from deploytui.tui.widgets.deployments_table import DeploymentsTable
from deploytui.tui.widgets.peers_table import PeersTable
from deploytui.tui.widgets.phase_timeline import (
    PhaseTimeline,
    bar_cells,
)
from deploytui.tui.widgets.status_glyphs import (
    SPINNER,
    glyph_for,
    phase_glyph,
    status_content,
    status_text,
)
from tests.tui.app_harness import load_recording, recorded_app, wait_for

T0 = 1_700_000_000_000


class TimelineApp(App[None]):
    def __init__(self, *, animate: bool = False) -> None:
        super().__init__()
        self.animate = animate

    def compose(self) -> ComposeResult:
        yield PhaseTimeline(animate=self.animate)


def rows(timeline: PhaseTimeline) -> list[str]:
    return ["".join(segment.text for segment in timeline.render_line(y)).rstrip() for y in range(timeline.size.height)]


def one_shot_failed() -> list[Phase]:
    return [
        Phase("prepare", "done", T0, T0 + 12_400),
        Phase("load", "done", T0 + 12_400, T0 + 13_000),
        Phase("replicate", "failed", T0 + 13_000, T0 + 20_000),
        Phase("restart", "skipped"),
        Phase("success", "pending"),
    ]


async def test_one_row_per_phase_with_icons_and_durations() -> None:
    app = TimelineApp()
    async with app.run_test(size=(80, 24)) as pilot:
        timeline = app.query_one(PhaseTimeline)
        timeline.update_phases(one_shot_failed(), now_ms=T0 + 21_000)
        await pilot.pause()
        assert timeline.size.height == 5
        text = rows(timeline)
        assert text[0].startswith("✓ prepare") and "12.4s" in text[0] and "█" in text[0]
        assert text[2].startswith("✗ replicate") and "7.0s" in text[2]
        assert text[3].startswith("– restart")
        assert text[4].startswith("○ success")
        assert "█" not in text[3] + text[4]
        # shared axis: replicate's bar starts where load's ends, and reaches the right edge
        assert text[2].index("█") > text[0].rindex("█")
        assert text[2].endswith("█")


async def test_running_phase_ticks_and_timer_stops_when_done() -> None:
    app = TimelineApp(animate=True)
    async with app.run_test(size=(80, 24)) as pilot:
        timeline = app.query_one(PhaseTimeline)
        phases = [Phase("stage", "done", T0, T0 + 5_000), Phase("load", "running", T0 + 5_000), Phase("staged")]
        timeline.update_phases(phases, now_ms=T0 + 65_000)
        await pilot.pause()
        assert timeline._timer is not None
        assert "1m00s" in rows(timeline)[1]
        first = rows(timeline)[1][0]
        assert first in SPINNER
        await pilot.pause(0.35)
        assert rows(timeline)[1][0] in SPINNER and timeline._frame > 0
        phases[1] = Phase("load", "done", T0 + 5_000, T0 + 66_000)
        timeline.update_phases(phases, now_ms=T0 + 66_000)
        await pilot.pause()
        assert timeline._timer is None


async def test_no_animation_means_static_glyph_and_no_timer_when_time_is_frozen() -> None:
    app = TimelineApp(animate=False)
    async with app.run_test(size=(80, 24)) as pilot:
        timeline = app.query_one(PhaseTimeline)
        timeline.update_phases([Phase("prepare", "running", T0)], now_ms=T0 + 1_500)
        await pilot.pause()
        assert timeline._timer is None
        assert rows(timeline)[0].startswith("● prepare") and "1.5s" in rows(timeline)[0]
        timeline.update_phases([Phase("prepare", "running", T0)])  # wall clock: a slow timer ticks
        assert timeline._timer is not None


@pytest.mark.parametrize("names", [ONE_SHOT_PHASES, TWO_PHASE_PHASES])
async def test_phase_name_sets(names: tuple[str, ...]) -> None:
    app = TimelineApp()
    async with app.run_test(size=(80, 24)) as pilot:
        timeline = app.query_one(PhaseTimeline)
        timeline.update_phases([Phase(n, "done", T0 + i * 1000, T0 + i * 1000 + 900) for i, n in enumerate(names)], now_ms=T0 + 10_000)
        await pilot.pause()
        text = rows(timeline)
        assert [row.split()[1] for row in text] == list(names)
        assert all(len(row) <= 80 for row in text)


def test_phase_durations_as_the_timeline_shows_them() -> None:
    assert duration(None) == ""
    assert duration(400) == "400ms"
    assert duration(12_345) == "12.3s"
    assert duration(65_000) == "1m05s"
    assert duration(2 * 3_600_000 + 180_000) == "2h03m"


def test_bar_cells() -> None:
    assert bar_cells(0, 4, 8) == "████    "
    assert bar_cells(2, 2, 8) == "  ▏     "  # a zero-length phase still shows
    assert bar_cells(0, 2.5, 4) == "██▌ "
    assert len(bar_cells(3.7, 100, 10)) == 10


def test_glyph_for_every_status() -> None:
    for status in Status:
        glyph, colour = glyph_for(status)
        ascii_glyph, _ = glyph_for(status, ascii=True)
        assert len(glyph) == 1 and colour.startswith("$")
        assert ascii_glyph.isascii()
    assert glyph_for(Status.SUCCESS) == ("✓", "$success")
    assert glyph_for(Status.FAILED) == ("✗", "$error")
    assert glyph_for(Status.ROLLED_BACK)[0] == "↺"
    assert glyph_for(Status.PENDING)[0] == "○"
    assert glyph_for(Status.INSTALLING) == ("●", "$accent")
    assert glyph_for(Status.INSTALLING, frame=3)[0] == SPINNER[3]
    assert glyph_for("from-the-future")[0] == "?"
    assert phase_glyph("failed") == ("✗", "$error")
    assert phase_glyph("skipped")[0] == "–"
    assert status_content(Status.ROLLED_BACK).plain == "↺ rolled back"


def glyph_colours(table, column: str) -> dict[str, str]:
    """Each row's glyph colour as ``#rrggbb``."""
    return {row.key.value: table.get_cell(row.key, column).style.color.triplet.hex for row in table.ordered_rows}


async def test_a_theme_change_recolours_the_status_glyphs_of_the_list() -> None:
    app = recorded_app()
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DeploymentsTable).row_count == len(load_recording()["rows"]), what="rows")
        table = app.screen.query_one(DeploymentsTable)
        status = {row["deployment_id"]: row["status"] for row in load_recording()["rows"]}
        failed = {key for key, value in status.items() if value == "failed"}
        succeeded = {key for key, value in status.items() if value == "success"}
        assert {glyph_colours(table, "status")[key] for key in failed} == {app.theme_variables["error"].lower()}
        app.theme = "dracula"

        def in_dracula() -> bool:
            colours = glyph_colours(table, "status")
            return {colours[key] for key in failed} == {"#fe5555"} and {colours[key] for key in succeeded} == {"#50fa7b"}

        await wait_for(pilot, in_dracula, what="the glyphs of succeeded and failed rows in dracula's colours")


async def test_a_theme_change_recolours_the_status_glyphs_of_the_peers() -> None:
    class PeersApp(App[None]):
        def compose(self) -> ComposeResult:
            yield PeersTable()

    app = PeersApp()
    async with app.run_test(size=(80, 10)) as pilot:
        table = app.query_one(PeersTable)
        table.show_peers([("node-a", "success", None), ("node-b", "failed", "disk full")])
        await pilot.pause()
        assert glyph_colours(table, "glyph") == {"node-a": "#4ebf71", "node-b": "#b93c5b"}  # textual-dark
        app.theme = "dracula"
        await wait_for(pilot, lambda: glyph_colours(table, "glyph") == {"node-a": "#50fa7b", "node-b": "#fe5555"},
                       what="glyphs in dracula's colours")


def test_status_colours_follow_ansi_themes_too() -> None:
    """An ANSI theme's ``ansi_red`` is no Rich colour name: it must still come out red."""
    app = App()
    app.theme = "ansi-dark"
    assert status_text(Status.FAILED, app.get_css_variables()).style.color.number == 1
