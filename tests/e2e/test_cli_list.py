"""``deploytui list`` as a subprocess against a real server: table, JSON, filters, empty, width."""

from __future__ import annotations

import json
from pathlib import Path

from deploytui.client.local import spawn_server
from deploytui.commands.list_cmd import render_table
from tests.e2e.cli_support import assert_no_controls, cli_env, deploy_failing, deploy_ok, run_cli


def test_list_empty(server) -> None:
    result = run_cli(server, "list")
    assert result.returncode == 0
    assert result.stdout == "" and result.stderr.strip() == "No deployments yet."
    as_json = run_cli(server, "list", "--json")
    assert as_json.returncode == 0 and json.loads(as_json.stdout) == {"deployments": [], "total": 0}


def test_list_table_and_json(server) -> None:
    ok = deploy_ok(server, "good")
    bad = deploy_failing(server, "bad")
    result = run_cli(server, "list", COLUMNS="200")
    assert result.returncode == 0, result.stderr
    assert_no_controls(result.stdout, result.stderr)
    header, *rows = result.stdout.splitlines()
    assert header.split() == ["ID", "PROJECT", "STATUS", "PHASE", "STARTED", "DURATION"]
    assert bad in rows[0] and ok in rows[1]  # newest first
    assert rows[0].split()[0] in ("✗", "x") and rows[1].split()[0] in ("✓", "+")
    assert "failed" in rows[0] and "success" in rows[1]
    assert rows[1].endswith("s") and ("just now" in rows[1] or "s ago" in rows[1])

    as_json = json.loads(run_cli(server, "list", "--json").stdout)
    assert as_json["total"] == 2 and [d["deployment_id"] for d in as_json["deployments"]] == [bad, ok]

    filtered = run_cli(server, "list", "--project", "good", "--json")
    assert [d["deployment_id"] for d in json.loads(filtered.stdout)["deployments"]] == [ok]
    assert run_cli(server, "list", "--status", "failed", "--json").stdout.count(bad) >= 1
    none = run_cli(server, "list", "--project", "nope")
    assert none.returncode == 0 and none.stdout == "" and "No deployments match" in none.stderr

    limited = run_cli(server, "list", "--limit", "1")
    assert len(limited.stdout.splitlines()) == 2 and "showing 1 of 2" in limited.stderr


def test_list_narrow_terminal_keeps_full_ids(server) -> None:
    ok = deploy_ok(server, "a-project-with-a-rather-long-name")
    result = run_cli(server, "list", COLUMNS="60")
    header, row = result.stdout.splitlines()
    assert ok in row  # the id is never cut: scripts pick it out
    assert len(header) <= 60 and "PHASE" not in header


def test_render_table_running_rows_tick() -> None:
    now = 1_700_000_000_000
    rows = [{"deployment_id": "d1", "project": "p", "status": "installing", "phase": "prepare",
             "started_at": now - 12_000, "completed_at": None},
            {"deployment_id": "d2", "project": "p", "status": "success", "phase": "success",
             "started_at": now - 3 * 60_000, "completed_at": now - 3 * 60_000 + 4_200}]
    header, first, second = render_table(rows, width=120, color=False, unicode_ok=True, now=now)
    assert first.endswith("running 12.0s") and "12s ago" in first
    assert second.endswith("4.2s") and "3m ago" in second
    coloured = render_table(rows, width=120, color=True, unicode_ok=True, now=now)
    assert "\x1b[32m✓\x1b[0m" in coloured[2]


def test_list_finds_the_local_server_through_its_data_dir(tmp_path: Path) -> None:
    """No URL anywhere: the server running on --data-dir, with the credentials it stored there."""
    local = spawn_server(tmp_path / "local-data")  # generates and stores its own credentials
    try:
        env = cli_env(None)
        result = run_cli(None, "list", "--json", "--data-dir", str(local.data_dir), env=env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["total"] == 0
        env["DEPLOYTUI_DATA_DIR"] = str(local.data_dir)
        assert run_cli(None, "list", env=env).stderr.strip() == "No deployments yet."
    finally:
        local.stop()
