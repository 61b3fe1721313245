"""Quitting the dashboard while deploys run: it says which continue and how to come back; the
deploys go on (the real launcher and terminal are in tests/e2e/test_local_server.py)."""

from __future__ import annotations

import asyncio

from deploytui.tui.app import quit_note
from tests.e2e.local_support import api, events, gated_install, install_lines, start_deploy, wait_until
from tests.tui.app_harness import live_app, wait_for


async def test_q_while_a_deploy_runs_names_it_and_the_deploy_finishes(server, tmp_path):
    gate = tmp_path / "gate"
    deployment_id = await asyncio.to_thread(start_deploy, server, "gated", gated_install(gate))
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        # Listed as soon as it exists; the note names the phase the list last saw, so wait for the
        # one the gated install holds it in.
        await wait_for(pilot, lambda: app.screen.rows().get(deployment_id, {}).get("phase") == "prepare",
                       what="the running deploy listed in prepare")
        await pilot.press("q")
        await wait_for(pilot, lambda: not app.is_running, what="the app to exit")
    assert app.quit_note is not None
    lines = app.quit_note.splitlines()
    assert lines[0] == "deploytui: 1 deploy(s) still running; they continue on the server:"
    assert lines[1].split() == ["gated", "prepare", deployment_id]
    assert lines[2] == "Follow one with `deploytui watch <id>` or come back with `deploytui`."  # live_app: the local server
    gate.touch()
    await asyncio.to_thread(wait_until, lambda: api(server, "get_deployment", deployment_id=deployment_id)["status"] == "success")
    assert install_lines(await asyncio.to_thread(events, server, deployment_id)) == [f"line {i}" for i in range(6)]


async def test_q_with_nothing_running_says_nothing(server):
    app = live_app(server)
    async with app.run_test(size=(80, 24)) as pilot:
        await wait_for(pilot, lambda: app.screen.query("DeploymentsTable"), what="the list")
        await pilot.press("q")
    assert app.quit_note is None


def test_quit_note_names_the_deploys_and_the_way_back_safely() -> None:
    rows = [{"deployment_id": "id-1", "project": "web\x1b]0;pwned\x07", "status": "pending", "phase": "install"},
            {"deployment_id": "id-2", "project": "api", "status": "pending", "phase": None}]
    note = quit_note(rows, "deploytui")
    assert note is not None and "\x1b" not in note and "\x07" not in note
    assert note.splitlines()[1:] == [
        "  web              install    id-1",
        "  api              pending    id-2",
        "Follow one with `deploytui watch <id>` or come back with `deploytui`.",
    ]
    assert quit_note([], "deploytui") is None
    assert quit_note(rows[1:], "deploytui --context prod").splitlines()[-1] == (
        "Follow one with `deploytui watch <id> --context prod` or come back with `deploytui --context prod`.")
