"""The deployments screen over thousands of rows on a real server: every row is reachable, by the
``/`` filter (the server's ``search``) and by scrolling to the end (older pages load on the way),
and the live poll carries summary rows whose size does not grow with the server's row count."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploytui.client.local import LocalServer
from deploytui.tui.screens.deployments import HEAD_LIMIT, PAGE_SIZE
from deploytui.tui.widgets.deployments_table import DeploymentsTable
from tests.conftest import start_server
from tests.list_support import BASE_STARTED_AT, seed_rows
from tests.tui.app_harness import live_app, screen_text, wait_for

ROWS = 2000
OLDEST = "project-000000"


@pytest.fixture
def big_server(tmp_path: Path) -> Iterator[LocalServer]:
    seed_rows(tmp_path / "data", ROWS)
    srv = start_server(tmp_path / "data")
    yield srv
    srv.stop()


def table_of(app) -> DeploymentsTable:
    return app.screen.query_one(DeploymentsTable)


async def test_filter_finds_the_oldest_of_thousands(big_server):
    app = live_app(big_server)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: table_of(app).row_count == HEAD_LIMIT, what="the newest rows")
        assert not any(row["project"] == OLDEST for row in table_of(app).rows_by_id.values())
        await pilot.press("slash", *OLDEST)
        await wait_for(pilot, lambda: table_of(app).row_count == 1 and len(table_of(app).rows_by_id) == 1,
                       what="the server's one match")
        assert table_of(app).rows_by_id[table_of(app).selected_id]["project"] == OLDEST
        assert "1/1 shown" in screen_text(app)


async def test_scrolling_to_the_end_reaches_the_oldest_row(big_server):
    app = live_app(big_server)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await wait_for(pilot, lambda: table_of(app) if table_of(app).row_count == HEAD_LIMIT else None,
                               what="the newest rows")
        assert f"newest {HEAD_LIMIT} of {ROWS} loaded" in screen_text(app)
        pages = 0
        while table.rows_by_id[table.selected_id]["project"] != OLDEST:
            loaded = table.row_count
            await pilot.press("G")
            if loaded < ROWS:
                await wait_for(pilot, lambda loaded=loaded: table.row_count > loaded, what="an older page")
                pages += 1
        assert pages == -(-(ROWS - HEAD_LIMIT) // PAGE_SIZE)
        assert table.row_count == len(table.rows_by_id) == ROWS
        assert "loaded" not in screen_text(app)


async def test_refreshing_thousands_of_rows_parses_no_theme_style(big_server, monkeypatch):
    """A row's colours come from a cache per status, not from parsing a theme style per row
    (~1 ms each: seconds per refresh at thousands of rows)."""
    import deploytui.tui.widgets.deployments_table as table_module

    app = live_app(big_server)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await wait_for(pilot, lambda: table_of(app) if table_of(app).row_count == HEAD_LIMIT else None,
                               what="the newest rows")
        parsed: list[str] = []
        for name in ("theme_style", "status_text"):
            original = getattr(table_module, name)
            monkeypatch.setattr(table_module, name, lambda *a, _o=original, _n=name, **k: (parsed.append(_n), _o(*a, **k))[1])
        table.tick()
        assert table.row_count == HEAD_LIMIT
        assert parsed == []


async def test_live_poll_carries_only_what_changed(big_server):
    """What refreshes cost, in bytes: the first poll brings the newest HEAD_LIMIT summary rows
    (no event_log), every later one only the rows changed since; with nothing changing, none."""
    app = live_app(big_server)
    polls: list[tuple[dict, int, int]] = []  # (fields asked, rows answered, bytes answered)
    async with app.run_test(size=(100, 30)) as pilot:
        original = app.api.list_deployments

        async def counting(**fields):
            answer = await original(**fields)
            assert all("event_log" not in row for row in answer["deployments"])
            polls.append((fields, len(answer["deployments"]), len(json.dumps(answer))))
            return answer

        app.api.list_deployments = counting
        app.screen.poll()  # restart the poll through the counting method
        await wait_for(pilot, lambda: len(polls) >= 4, what="four polls")
        assert table_of(app).row_count == HEAD_LIMIT
    (first, first_rows, first_bytes), *later = polls
    assert first.get("changed_since") is None and first["summary"] is True and first_rows == HEAD_LIMIT
    assert all(fields.get("changed_since") for fields, _, _ in later)
    assert [rows for _, rows, _ in later] == [0] * len(later)
    assert max(size for _, _, size in later) < 100 < first_bytes


async def test_a_poll_builds_the_rows_it_changed_and_a_tick_the_rows_in_view(big_server, monkeypatch):
    """What a refresh costs, in rows built: a poll that changed nothing builds none of the 2,000
    loaded rows but those in view (their times move on), a tick only those in view; a row
    scrolled into view shows its time as of then, not as of when it was built."""
    app = live_app(big_server)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await wait_for(pilot, lambda: table_of(app) if table_of(app).row_count == HEAD_LIMIT else None,
                               what="the newest rows")
        clock = [(BASE_STARTED_AT + ROWS * 1000) / 1000 + 60]  # a minute after the newest row started
        table.now = lambda: clock[0]
        while table.row_count < ROWS:  # load every page
            loaded = table.row_count
            await pilot.press("G")
            await wait_for(pilot, lambda loaded=loaded: table.row_count > loaded, what="an older page")
        await pilot.press("g")
        built: list[str] = []
        original = DeploymentsTable.cells_for
        monkeypatch.setattr(DeploymentsTable, "cells_for",
                            lambda self, row: (built.append(str(row.get("deployment_id"))), original(self, row))[1])
        in_view = table.size.height + 1
        table.update_rows(list(table.rows_by_id.values()))
        assert 0 < len(built) <= in_view
        built.clear()
        table.tick()
        assert 0 < len(built) <= in_view
        # The poll and the screen's 1 s tick paused, an hour passes: the oldest row, out of view,
        # still says what it said when built...
        await pilot.press("p")
        for timer in app.screen._timers:
            if timer.name == "deployments-tick":
                timer.pause()
        oldest = next(key for key, row in table.rows_by_id.items() if row["project"] == OLDEST)
        started = table.get_cell(oldest, "started").plain
        clock[0] += 3600
        table.tick()
        assert table.get_cell(oldest, "started").plain == started
        await pilot.press("G")  # ... and is brought up to date as it scrolls into view
        await wait_for(pilot, lambda: table.get_cell(oldest, "started").plain != started, what="a fresh time",
                       timeout=5)


async def test_a_filter_dropping_thousands_of_rows_rebuilds_the_table_once(big_server, monkeypatch):
    """DataTable renumbers every row on each removal: a filter that drops all but ten of the loaded
    rows must not remove them one by one (minutes at 10,000 loaded rows); the selected row stays
    selected and in view."""
    app = live_app(big_server)
    async with app.run_test(size=(100, 30)) as pilot:
        table = await wait_for(pilot, lambda: table_of(app) if table_of(app).row_count == HEAD_LIMIT else None,
                               what="the newest rows")
        removed: list[object] = []
        original = DeploymentsTable.remove_row
        monkeypatch.setattr(DeploymentsTable, "remove_row", lambda self, key: (removed.append(key), original(self, key))[1])
        picked = next(key for key, row in table.rows_by_id.items() if row["project"] == f"project-{ROWS - HEAD_LIMIT // 2:06d}")
        table.move_cursor(row=table.get_row_index(picked), animate=False)
        await pilot.pause()
        table.text_filter = f"project-{ROWS - HEAD_LIMIT // 2:06d}"[:-1]  # ten rows match
        table.update_rows(list(table.rows_by_id.values()))
        await pilot.pause()
        assert table.row_count == 10 and removed == []
        assert table.selected_id == picked
        assert table.scroll_y <= table.get_row_index(picked) < table.scroll_y + table.size.height


async def test_highlights_while_an_older_page_is_on_its_way_ask_for_it_once(big_server):
    """A highlight comes with every cursor move and row update near the end; each used to restart
    the page's request (an exclusive worker), so it could keep missing its landing."""
    app = live_app(big_server)
    asked: list[int] = []
    async with app.run_test(size=(100, 30)) as pilot:
        table = await wait_for(pilot, lambda: table_of(app) if table_of(app).row_count == HEAD_LIMIT else None,
                               what="the newest rows")
        original = app.api.list_deployments
        landing = asyncio.Event()

        async def held(**fields):
            if "offset" in fields:
                asked.append(fields["offset"])
                await landing.wait()
            return await original(**fields)

        app.api.list_deployments = held
        await pilot.press("G")
        await wait_for(pilot, lambda: asked, what="the older page asked for")
        for _ in range(5):
            await pilot.press("k", "j")  # more highlights near the end while it is on its way
        landing.set()
        await wait_for(pilot, lambda: table.row_count > HEAD_LIMIT, what="the older page")
    assert asked == [HEAD_LIMIT]


async def test_no_frame_is_rendered_inside_the_start_up_batch(server, monkeypatch):
    """Textual renders the first screen's layout inside the app's start-up ``batch_update`` and
    then drops the frame; the list skips that render (~30 ms before its first frame) and still
    paints, rows included, once the batch is over."""
    from textual._compositor import Compositor

    batched: list[int] = []
    render_update = Compositor.render_update

    def counted(self, *args, **kwargs):
        batched.append(app._batch_count)
        return render_update(self, *args, **kwargs)

    monkeypatch.setattr(Compositor, "render_update", counted)
    app = live_app(server)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "0/0 shown" in screen_text(app), what="the empty list's status")
        await pilot.pause()
    assert batched and 0 in batched, "the list was never rendered"
    assert batched.count(0) == len(batched), f"{len(batched) - batched.count(0)} frames rendered while batched"
