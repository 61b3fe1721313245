"""Follow mode (``f`` / ``--follow``) on a real embedded server: each new deploy opens as it starts,
the list comes back when it ends, and the presenter keeps control.

Deploys are started by another client (as a presenter's terminal or CI would) with gated installs,
so each test decides exactly when a deploy ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploytui.tui.follow_action import FollowAction
from deploytui.tui.screens.deployment import DeploymentScreen
from deploytui.tui.screens.deployments import DeploymentsScreen
from tests.conftest import start_server
from tests.e2e.local_support import gated_install, start_deploy
from tests.tui.app_harness import deploy, live_app, screen_text, wait_for

PAUSE_S = 0.3


@pytest.fixture(scope="module")
def shared_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    srv = start_server(tmp_path_factory.mktemp("follow") / "data")
    yield srv
    srv.stop()


def follow_bar(app) -> FollowAction:
    """The list's follow bar, whichever screen is on top."""
    lists = [s for s in app.screen_stack if isinstance(s, DeploymentsScreen)]
    return lists[0].query_one(FollowAction)


def showing(app, deployment_id: str) -> bool:
    return isinstance(app.screen, DeploymentScreen) and app.screen.deployment_id == deployment_id


async def start_gated(srv, project: str, gate: Path) -> str:
    return await asyncio.to_thread(start_deploy, srv, project, gated_install(gate))


async def test_follow_opens_each_new_deploy_and_returns_when_it_ends(shared_server, tmp_path):
    app = live_app(shared_server, follow=True, follow_pause=PAUSE_S)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentsScreen) and follow_bar(app).following,
                       what="the list, following")
        assert "following" in screen_text(app)
        for n in range(2):  # each new deploy, one after the other
            gate = tmp_path / f"gate-{n}"
            deployment_id = await start_gated(shared_server, f"follow-{n}", gate)
            await wait_for(pilot, lambda: showing(app, deployment_id), what=f"deploy {n} opened")
            await wait_for(pilot, lambda: "line 2" in screen_text(app), what="its install output")
            gate.touch()
            await wait_for(pilot, lambda: "line 5" in screen_text(app), what="the rest of the output")
            await wait_for(pilot, lambda: isinstance(app.screen, DeploymentsScreen), what="back to the list")
            assert follow_bar(app).opened is None


async def test_a_deploy_over_between_two_polls_is_still_shown(shared_server):
    # What was opened is read from the mode and the screen it opened (not from what is on screen at
    # one moment: on a loaded machine the pause may pass between two looks).
    app = live_app(shared_server, follow_pause=1.5, poll_interval=5.0, fast_poll_interval=5.0)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentsScreen), what="the list")
        await pilot.press("f")
        follow = follow_bar(app)
        assert follow.following
        opened: list = []
        open_deployment = app.open_deployment
        app.open_deployment = lambda *args, **kwargs: (open_deployment(*args, **kwargs), opened.append(app.screen))[0]
        done = await deploy(shared_server, "hello")  # over before the next poll
        await pilot.press("r")  # the next poll, now
        # The shared server's other deploys may open too (follow opens each new one): find this one's.
        mine = lambda: next((s for s in opened if s.deployment_id == done["deployment_id"]), None)  # noqa: E731
        await wait_for(pilot, lambda: done["deployment_id"] in follow.shown and mine(), what="the finished deploy opened")
        screen = mine()
        await wait_for(pilot, lambda: screen.view.status == "success", what="its result")
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentsScreen), what="back to the list")


async def test_the_presenter_keeps_control(shared_server, tmp_path):
    """Going back early is respected, nothing opens with the mode off, and only new deploys open."""
    app = live_app(shared_server, follow=True, follow_pause=PAUSE_S)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DeploymentsScreen), what="the list")
        gate = tmp_path / "gate"
        deployment_id = await start_gated(shared_server, "follow-early", gate)
        await wait_for(pilot, lambda: showing(app, deployment_id), what="opened")
        await pilot.press("escape")  # the presenter goes back while it runs
        await wait_for(pilot, lambda: follow_bar(app).opened is None, what="the mode lets go")
        assert isinstance(app.screen, DeploymentsScreen)
        await pilot.pause(0.5)  # polls go on: the deploy it already showed is not opened again
        assert isinstance(app.screen, DeploymentsScreen)
        await pilot.press("f")  # off
        assert not follow_bar(app).following
        assert "following" not in screen_text(app)
        other_gate = tmp_path / "other-gate"
        other = await start_gated(shared_server, "follow-off", other_gate)
        await wait_for(pilot, lambda: other in app.screen.rows(), what="the new deploy listed")
        assert isinstance(app.screen, DeploymentsScreen)
        gate.touch()
        other_gate.touch()
