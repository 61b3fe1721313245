"""The dashboard against Harper 5.1.14's real wire (its captures replayed on loopback with their
timing): the server's times in the header, the timeline and the Events tab, empty lines kept, and
the operations Harper lacks not offered (``?`` says why)."""

from __future__ import annotations

import json

import pytest

from deploytui.tui.screens.deployment import DeploymentScreen
from deploytui.tui.screens.help import HelpScreen, collect_bindings
from deploytui.tui.widgets.events_log import EventsLog
from deploytui.tui.widgets.formatting import clock
from deploytui.tui.widgets.install_log import InstallLog
from tests.client.harper_replay import P1_ID, PCHATTY_ID, PLIVE_ID, HarperReplay, load_capture
from tests.tui.app_harness import live_app, screen_text, wait_for

pytestmark = pytest.mark.timeout(60)


async def open_on(pilot, app, deployment_id: str) -> DeploymentScreen:
    app.open_deployment(deployment_id)
    screen = await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen, what="detail")
    await wait_for(pilot, lambda: screen.stream_state is not None and screen.stream_state.kind == "done", what="done")
    await pilot.pause()
    return screen


async def test_header_timeline_and_events_tell_the_server_times() -> None:
    row = json.loads(load_capture("get-plive").body)
    logged = {(e["data"].get("phase"), e["data"].get("status")): e["t"] for e in row["event_log"] if e["event"] == "phase"}
    with HarperReplay() as harper:
        app = live_app(harper)
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await open_on(pilot, app, PLIVE_ID)
            prepare = screen.view.phase("prepare")
            assert prepare.duration_ms == logged[("prepare", "done")] - logged[("prepare", "start")]  # 20.1 s
            text = screen_text(app)
            assert "20.1s" in text  # the timeline's prepare
            assert "20.2s" in text  # the header: the row's started_at -> completed_at
            events = screen.query_one(EventsLog)
            shown = "\n".join(events.lines)
            assert all(clock(entry["t"]) in shown for entry in row["event_log"])
            times = [line.split()[1] for line in events.lines if line.split()[2] != "done"]
            assert len(times) == len(row["event_log"]) and not any(t.startswith(("~", "-")) for t in times)


async def test_empty_lines_are_kept_and_what_harper_lacks_is_not_offered() -> None:
    with HarperReplay() as harper:
        app = live_app(harper)
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await open_on(pilot, app, P1_ID)
            log = screen.query_one(InstallLog)
            assert len(log.lines) == 10 and sum(1 for line in log.lines if line.text.text == "") == 2
            await wait_for(pilot, lambda: screen.operations, what="operations learnt")
            assert screen.view.status == "success"
            assert screen.check_action("revert", ()) is False
            assert screen.check_action("delete_payload", ()) is False
            reasons = {description for _, description, _, _ in collect_bindings(screen) if "not offered" in description}
            assert any(d.startswith("Revert (not offered: this server has no revert_component") for d in reasons)
            assert any(d.startswith("Delete payload (not offered") for d in reasons)
            await pilot.press("question_mark")
            await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen), what="help")
            assert "not offered" in screen_text(app)


async def test_a_deploy_from_the_dashboard_learns_its_id_from_harpers_done() -> None:
    """Harper names no deployment when the deploy starts (no X-Deployment-Id): the screen follows
    the deploy's own stream and takes the id from its done."""
    with HarperReplay({("deploy_component", True): ["deploy-p1-sse"]}) as harper:
        app = live_app(harper)
        async with app.run_test(size=(120, 36)) as pilot:
            opener = lambda: app.api.deploy_stream({"project": "p1"}, b"tarball")  # noqa: E731
            app.open_deployment(None, {"project": "p1", "status": "pending"}, opener=opener)
            screen = await wait_for(pilot, lambda: isinstance(app.screen, DeploymentScreen) and app.screen, what="detail")
            await wait_for(pilot, lambda: screen.stream_state is not None and screen.stream_state.kind in ("done", "failed"),
                           what="the end")
            await pilot.pause()
            assert screen.stream_state.kind == "done", screen.stream_state
            assert screen.deployment_id == P1_ID and screen.view.status == "success"
            assert P1_ID in screen_text(app)
            times = [line.split()[1] for line in screen.query_one(EventsLog).lines]
            assert times and all(t.startswith("~") for t in times)  # a deploy stream: times received here


async def test_a_harper_gap_has_no_count_and_no_full_history_to_load() -> None:
    """Harper's ``truncated`` says 2 where about 106 went, and Harper keeps nothing more: the gap's
    count is not taken as exact, and ``L`` (full history) is not offered."""
    with HarperReplay() as harper:
        app = live_app(harper)
        async with app.run_test(size=(120, 36)) as pilot:
            screen = await open_on(pilot, app, PCHATTY_ID)
            log = screen.query_one(InstallLog)
            await wait_for(pilot, lambda: log.history_available is False, what="operations learnt")
            assert screen.view.gaps and not screen.view.gaps[0].exact
            assert log.check_action("load_history", ()) is False
