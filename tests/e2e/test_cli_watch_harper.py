"""``watch`` and ``deploy`` against Harper 5.1.14's real wire (its captures replayed on loopback with
their timing), and ``watch`` through a proxy that cuts connections: the times are the server's,
only what is known is said, and every read recovers."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import pytest

from deploytui.client.local import LocalServer
from tests.client.harper_replay import MISSING_ID, P1_ID, PCHATTY_ID, PLIVE_ID, PSCRIPT_ID, HarperReplay, load_capture
from tests.client.tcp_proxy import TcpProxy
from tests.e2e.cli_support import cli_env, deploy_ok, json_lines, run_cli

pytestmark = pytest.mark.timeout(90)


def harper_row(name: str) -> dict:
    return json.loads(load_capture(name).body)


def test_watch_times_are_the_server_times() -> None:
    """Replay, live tail and a stale done: phases and total as the row's times say (20.1 s and
    20.2 s), not as long as the replay took here."""
    with HarperReplay() as harper:
        result = run_cli(harper, "watch", PLIVE_ID)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert "✓ prepare (20.1 s)" in lines
    row = harper_row("get-plive")
    total = (row["completed_at"] - row["started_at"]) / 1000
    assert lines[-1] == f"✓ deployed plive in {total:.1f} s"


def test_watch_json_says_whose_time_each_line_has() -> None:
    with HarperReplay() as harper:
        result = run_cli(harper, "watch", "--json", PLIVE_ID)
    assert result.returncode == 0, result.stderr
    records = json_lines(result.stdout)
    logged = [entry["t"] for entry in harper_row("get-plive")["event_log"]]
    assert [r["t"] for r in records[:-1]] == logged
    assert {r["t_source"] for r in records[:-1]} == {"event_log"}
    done = records[-1]
    assert done["event"] == "done" and done["t_source"] == "received" and isinstance(done["t"], int)
    assert done["data"]["result"]["status"] == "success"  # the row read again, not the stale one


def test_watch_keeps_empty_lines_and_counts_no_untrusted_truncation() -> None:
    with HarperReplay() as harper:
        p1 = run_cli(harper, "watch", P1_ID)
        chatty = run_cli(harper, "watch", PCHATTY_ID)
    assert p1.returncode == 0 and chatty.returncode == 0, (p1.stderr, chatty.stderr)
    assert p1.stdout.splitlines().count("  |") == 2  # npm's two blank lines
    notice = [line for line in chatty.stdout.splitlines() if "not kept by the server" in line]
    assert notice == ["  … events not kept by the server …"]  # Harper says 2; about 106 went


def test_watch_of_an_unknown_id_is_no_such_deployment() -> None:
    """Harper answers an unknown id with HTTP 200 and an in-band error (code 400): exit 2, one line."""
    with HarperReplay() as harper:
        raw = run_cli(harper, "watch", "--raw", MISSING_ID)
    assert raw.returncode == 2
    assert "No deployment found" in raw.stderr and "reconnecting" not in raw.stderr


def test_deploy_prints_the_deployment_id_harper_sends_late(tmp_path: Path) -> None:
    """Harper names the deployment only in ``done`` (success) or ``error`` (failure)."""
    app = tmp_path / "p1"
    app.mkdir()
    (app / "package.json").write_text('{"name": "p1", "version": "1.0.0"}')
    routes = {("deploy_component", True): ["deploy-p1-sse", "deploy-pscript-sse"]}
    with HarperReplay(routes) as harper:
        ok = run_cli(harper, "deploy", str(app))
        failed = run_cli(harper, "deploy", str(app))
    assert ok.returncode == 0, ok.stderr
    assert f"deployment {P1_ID}" in ok.stderr.splitlines()
    row = harper_row("get-p1")
    assert ok.stdout.splitlines()[-1] == f"✓ deployed p1 in {(row['completed_at'] - row['started_at']) / 1000:.1f} s"
    assert failed.returncode == 1, failed.stderr
    assert f"deployment {PSCRIPT_ID}" in failed.stderr.splitlines()
    assert failed.stdout.splitlines()[-1] == "✗ pscript failed in prepare after 0.1 s"  # the row's times


async def test_watch_survives_a_proxy_cutting_the_first_connections(server: LocalServer) -> None:
    """The first three connections are cut at 4 KB: the reads before and around the stream are
    retried like the stream, and watch ends as the deploy did."""
    deployment_id = await asyncio.to_thread(deploy_ok, server, "cut", 300)
    async with TcpProxy(server.url, cut_after_bytes=4096, cut_connections=3) as proxy:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "deploytui", "watch", deployment_id,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
            env={**cli_env(server), "DEPLOYTUI_URL": proxy.url})
        stdout, stderr = await asyncio.wait_for(process.communicate(), 80)
    out, err = stdout.decode(), stderr.decode()
    assert process.returncode == 0, err
    assert out.splitlines()[-1].startswith("✓ deployed cut")
    assert proxy.cuts >= 3 and proxy.connections >= 4


async def test_list_says_when_it_retries_a_cut_read(server: LocalServer) -> None:
    """A read outside a followed stream is retried too, and says so on stderr, never silently."""
    await asyncio.to_thread(deploy_ok, server, "cutlist", 300)  # rows large enough to be cut at 4 KB
    async with TcpProxy(server.url, cut_after_bytes=4096, cut_connections=2) as proxy:
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "deploytui", "list", "--json",
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, stdin=asyncio.subprocess.DEVNULL,
            env={**cli_env(server), "DEPLOYTUI_URL": proxy.url})
        stdout, stderr = await asyncio.wait_for(process.communicate(), 80)
    assert process.returncode == 0, stderr.decode()
    assert any(row["project"] == "cutlist" for row in json.loads(stdout)["deployments"])
    assert "retrying list_deployments (attempt 1" in stderr.decode()


def test_deploy_through_harpers_silence(tmp_path: Path) -> None:
    """``deploy-pquiet-sse``: 150 s without a byte (Harper sends no keepalive), replayed as a scaled
    silence of 1 s: the deploy is followed to its end, its lines in order."""
    app = tmp_path / "pquiet"
    app.mkdir()
    (app / "package.json").write_text('{"name": "pquiet", "version": "1.0.0"}')
    with HarperReplay({("deploy_component", True): ["deploy-pquiet-sse"]}, max_gap_s=1.0) as harper:
        result = run_cli(harper, "deploy", str(app))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    first, last = lines.index("  | quiet install: starting, then silent for 150 s"), lines.index("  | quiet install: done")
    assert first < last and lines[-1].startswith("✓ deployed pquiet")
    assert any(line.startswith("deployment ") for line in result.stderr.splitlines())
