"""Pilot tests of the deployments screen against a real embedded server on loopback."""

from __future__ import annotations

import asyncio

from deploytui.tui.screens.deployment import DeploymentScreen
from deploytui.tui.widgets.deployments_table import DeploymentsTable
from deploytui.tui.widgets.server_status import ConnectionBanner, ServerStatus
from tests.conftest import start_server
from tests.tui.app_harness import deploy, live_app, screen_text, wait_for


def table_of(app) -> DeploymentsTable:
    return app.screen.query_one(DeploymentsTable)


def order(app) -> list[str]:
    return [row.key.value for row in table_of(app).ordered_rows]


async def test_list_newest_first_and_updates_in_place(server):
    first = await deploy(server, "hello")
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: table_of(app).row_count == 1, what="first row")
        table = table_of(app)
        hello_id = first["deployment_id"]
        assert table.selected_id == hello_id
        removed: list[str] = []
        original_remove, original_clear = table.remove_row, table.clear
        table.remove_row = lambda key: (removed.append(key), original_remove(key))[1]
        table.clear = lambda *a, **k: (_ for _ in ()).throw(AssertionError("the list was rebuilt"))
        running = asyncio.ensure_future(deploy(server, "slow"))
        # The new deploy appears on top while it runs; the cursor stays on hello's row.
        await wait_for(pilot, lambda: len(order(app)) == 2 and table.rows_by_id[order(app)[0]]["status"] not in ("success", "failed"), what="running row on top")
        assert order(app)[1] == hello_id
        assert table.selected_id == hello_id
        slow_id = order(app)[0]
        duration_before = table.get_cell(slow_id, "duration").plain
        await wait_for(pilot, lambda: table.get_cell(slow_id, "duration").plain != duration_before, what="duration ticking")
        await running
        await wait_for(pilot, lambda: table.rows_by_id[slow_id]["status"] == "success", what="success")
        assert table.selected_id == hello_id
        assert removed == []
        table.clear = original_clear
        assert "✓" in table.get_cell(slow_id, "status").plain


async def test_filter_status_filter_and_sort(server):
    await deploy(server, "hello")
    await deploy(server, "broken-install")
    await deploy(server, "bad-config")
    app = live_app(server)
    async with app.run_test(size=(160, 48)) as pilot:
        await wait_for(pilot, lambda: table_of(app).row_count == 3, what="rows")
        projects = lambda: [table_of(app).rows_by_id[k]["project"] for k in order(app)]  # noqa: E731
        assert projects() == ["bad-config", "broken-install", "hello"]  # newest first
        await pilot.press("slash", *"hel")
        await wait_for(pilot, lambda: projects() == ["hello"], what="text filter")
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(projects()) == 3, what="filter cleared")
        await pilot.press("3")
        await wait_for(pilot, lambda: sorted(projects()) == ["bad-config", "broken-install"], what="failed only")
        await pilot.press("4")
        await wait_for(pilot, lambda: projects() == ["hello"], what="success only")
        await pilot.press("1")
        await wait_for(pilot, lambda: len(projects()) == 3, what="all")
        await pilot.press("s")  # sort by project
        await wait_for(pilot, lambda: projects() == ["bad-config", "broken-install", "hello"], what="sorted by project")
        await pilot.press("S")
        await wait_for(pilot, lambda: projects() == ["hello", "broken-install", "bad-config"], what="reversed")
        assert "sort: project" in screen_text(app)
        # Wide terminal: user, origin and size columns are there.
        assert "Origin" in screen_text(app)


async def test_enter_opens_detail(server):
    result = await deploy(server, "hello")
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: table_of(app).row_count == 1, what="row")
        assert "Origin" not in screen_text(app)  # narrow: less important columns hidden
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen), what="detail")
        assert app.screen.deployment_id == result["deployment_id"]
        await pilot.press("escape")
        await wait_for(pilot, lambda: not isinstance(app.screen, DeploymentScreen), what="back")


async def test_server_goes_away_and_comes_back(tmp_path):
    srv = start_server(tmp_path / "data")
    port = srv.url.rsplit(":", 1)[1]
    app = live_app(srv)
    try:
        async with app.run_test(size=(80, 24)) as pilot:
            banner = app.screen.query_one(ConnectionBanner)
            status = app.screen.query_one(ServerStatus)
            await wait_for(pilot, lambda: status.healthy is True and status.version, what="healthy")
            assert not banner.has_class("-visible")
            await asyncio.to_thread(srv.stop)
            await wait_for(pilot, lambda: banner.has_class("-visible"), what="banner")
            assert status.healthy is False
            assert "server unreachable" in screen_text(app)
            srv = await asyncio.to_thread(start_server, tmp_path / "data", extra_args=("--port", port))
            await wait_for(pilot, lambda: not banner.has_class("-visible") and status.healthy, timeout=30, what="recovery")
    finally:
        srv.stop()


async def test_empty_server_offers_demos_and_one_key_deploys_them(server):
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: "No deployments yet" in screen_text(app), what="empty state")
        assert " D " in screen_text(app)
        await pilot.press("D")
        await wait_for(pilot, lambda: table_of(app).row_count >= 5, timeout=60, what="demo rows")


async def test_refused_credentials_say_so_rather_than_unreachable(server):
    from types import SimpleNamespace

    app = live_app(SimpleNamespace(url=server.url, user=server.user, password="wrong"))
    async with app.run_test(size=(80, 24)) as pilot:
        banner = app.screen.query_one(ConnectionBanner)
        await wait_for(pilot, lambda: banner.has_class("-visible"), what="banner")
        said = str(banner.render()) + str(app.screen.query_one(ServerStatus).render())
        assert "access refused" in said and "unreachable" not in said
        assert f"refused the credentials for {server.user}" in said
