"""``deploytui watch`` as a subprocess against a real server: renderings, exit codes, wire fidelity."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
from pathlib import Path

import pytest

from deploytui.client.pack import pack_directory
from deploytui.server.demos import demo_spec
from tests.e2e.cli_support import (
    PY,
    assert_no_controls,
    cli_env,
    deploy,
    deploy_failing,
    deploy_ok,
    json_lines,
    python_command,
    run_cli,
)
from tests.conftest import op

HOSTILE = "\x1b]0;pwned\x07\x1b[2J[bold]x[/]"


# -- the human rendering ---------------------------------------------------------------------------


def test_watch_success_in_a_pipe(server) -> None:
    deployment_id = deploy_ok(server, lines=3)
    result = run_cli(server, "watch", deployment_id)
    assert result.returncode == 0, result.stderr
    out = result.stdout.splitlines()
    assert any(line.strip() == "| out 0" for line in out), result.stdout
    assert any(line.strip() == "! err 2" for line in out), result.stdout
    assert "prepare" in result.stdout
    assert_no_controls(result.stdout, result.stderr)


def test_watch_failed_deploy_exits_1_with_phase_and_code(server) -> None:
    deployment_id = deploy_failing(server)
    result = run_cli(server, "watch", deployment_id)
    assert result.returncode == 1, result.stderr
    error_lines = [line for line in result.stdout.splitlines() if "deploy failed" in line]
    assert error_lines and "prepare" in error_lines[0] and "500" in error_lines[0], result.stdout
    assert any(line.strip() == "! npm ERR! nope" for line in result.stdout.splitlines())
    assert_no_controls(result.stdout, result.stderr)


def test_watch_hostile_install_output_cannot_reach_the_terminal(server) -> None:
    code = f"import sys\nprint({HOSTILE!r}, flush=True)\nprint({HOSTILE!r}, file=sys.stderr, flush=True)"
    status, body = deploy(server, "hostile", python_command(code))
    assert status == 200, body
    for mode in ((), ("--json",), ("--raw",)):
        result = run_cli(server, "watch", body["deployment_id"], *mode)
        assert result.returncode == 0, result.stderr
        assert_no_controls(result.stdout, result.stderr)
    human = run_cli(server, "watch", body["deployment_id"]).stdout.splitlines()
    assert any(line.strip() == "| [bold]x[/]" for line in human), human  # markup stays literal
    assert any(line.strip() == "! [bold]x[/]" for line in human), human
    assert not any("pwned" in line for line in human)  # the window-title sequence is dropped whole


def test_watch_chatty_demo_with_colours_has_no_escapes_in_a_pipe(server) -> None:
    spec = demo_spec("chatty")
    response = op(server, {"operation": "deploy_component", "project": "chatty", "install_command": spec.install_command,
                           "payload": base64.b64encode(pack_directory(spec.path)).decode()})
    assert response.status_code == 200, response.text
    result = run_cli(server, "watch", response.json()["deployment_id"])
    assert result.returncode == 0, result.stderr
    assert_no_controls(result.stdout, result.stderr)
    tagged = [line for line in result.stdout.splitlines() if line.lstrip().startswith(("| ", "! "))]
    assert len(tagged) > 1000 and any(line.lstrip().startswith("! ") for line in tagged)


# -- --json and --raw ----------------------------------------------------------------------------


def test_watch_json_lines_carry_seq(server) -> None:
    deployment_id = deploy_ok(server, lines=2)
    result = run_cli(server, "watch", deployment_id, "--json")
    assert result.returncode == 0, result.stderr
    events = json_lines(result.stdout)
    numbered = [e for e in events if e["event"] != "done"]
    assert [e["seq"] for e in numbered] == list(range(1, len(numbered) + 1))
    assert events[-1]["event"] == "done" and events[-1]["data"]["result"]["status"] == "success"
    installs = [e["data"] for e in events if e["event"] == "install"]
    assert {"manager": "custom", "stream": "stderr", "line": "err 1"} in installs


def test_watch_json_failed(server) -> None:
    result = run_cli(server, "watch", deploy_failing(server), "--json")
    assert result.returncode == 1
    events = json_lines(result.stdout)
    assert any(e["event"] == "error" and e["data"]["phase"] == "prepare" for e in events)


def test_watch_raw_deploytui_wire_data_as_received_and_sticky_ids(server) -> None:
    deployment_id = deploy_ok(server, lines=2)
    result = run_cli(server, "watch", deployment_id, "--raw")
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    assert all(set(line) == {"event", "data", "id"} and isinstance(line["data"], str) for line in lines)
    *events, done = lines
    assert [line["id"] for line in events] == [str(n) for n in range(1, len(events) + 1)]
    # done carries no id: line, so its id is the last one seen (the spec's sticky last event ID)
    assert done["event"] == "done" and done["id"] == events[-1]["id"]
    # data is the string as received: compact JSON with our "t", not re-encoded
    first = events[0]["data"]
    assert first.startswith('{"phase":"stage","status":"start"') and '"t":' in first  # two-phase by default
    assert json.loads(done["data"])["result"]["deployment_id"] == deployment_id


def test_watch_raw_harper_wire_has_empty_ids(harper_server) -> None:
    deployment_id = deploy_ok(harper_server, lines=2)
    result = run_cli(harper_server, "watch", deployment_id, "--raw")
    assert result.returncode == 0, result.stderr
    lines = json_lines(result.stdout)
    assert lines and all(line["id"] == "" for line in lines)
    assert all("t" not in json.loads(line["data"]) for line in lines)  # Harper sends no times
    assert lines[-1]["event"] == "done"


def test_watch_raw_failed_deploy_exits_1(harper_server) -> None:
    result = run_cli(harper_server, "watch", deploy_failing(harper_server), "--raw")
    assert result.returncode == 1, result.stderr
    assert any(line["event"] == "error" for line in json_lines(result.stdout))


def test_watch_harper_wire_human_and_json(harper_server) -> None:
    deployment_id = deploy_ok(harper_server, lines=2)
    human = run_cli(harper_server, "watch", deployment_id)
    assert human.returncode == 0, human.stderr
    assert any(line.strip() == "| out 1" for line in human.stdout.splitlines())
    as_json = run_cli(harper_server, "watch", deployment_id, "--json")
    assert as_json.returncode == 0
    assert all(e["seq"] is None for e in json_lines(as_json.stdout))


def test_watch_live_deploy_sees_every_event_once(server, tmp_path: Path) -> None:
    """Attach while the deploy runs: replay and live stitched, nothing lost or repeated."""
    app = tmp_path / "live"
    app.mkdir()
    (app / "package.json").write_text('{"name": "live"}')
    # The install waits until a file exists, so the watcher attaches while it is still running.
    gate = tmp_path / "gate"
    code = (f"import os, time\nfor i in range(5): print('before', i, flush=True)\n"
            f"while not os.path.exists({str(gate)!r}): time.sleep(0.02)\n"
            "for i in range(5): print('after', i, flush=True)")
    deployer = subprocess.Popen(
        [PY, "-m", "deploytui", "deploy", str(app), "--install-command", python_command(code), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(server),
    )
    try:
        deployment_id = None
        for line in deployer.stderr:  # "deployment <id>" once the server accepted it
            if line.startswith("deployment "):
                deployment_id = line.split()[1]
                break
        assert deployment_id
        watcher = subprocess.Popen(
            [PY, "-m", "deploytui", "watch", deployment_id, "--json"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=cli_env(server),
        )
        assert watcher.stdout is not None
        seen_before = []
        for line in watcher.stdout:  # wait until the watcher has caught up with the first half
            event = json.loads(line)
            seen_before.append(event)
            if event["event"] == "install" and event["data"]["line"] == "before 4":
                break
        gate.write_text("go")
        rest, err = watcher.communicate(timeout=40)
        assert watcher.returncode == 0, err
        events = seen_before + json_lines(rest)
        seqs = [e["seq"] for e in events if e["event"] != "done"]
        assert seqs == list(range(1, len(seqs) + 1))
        lines = [e["data"]["line"] for e in events if e["event"] == "install"]
        assert lines == [f"before {i}" for i in range(5)] + [f"after {i}" for i in range(5)]
        out, _ = deployer.communicate(timeout=40)
        assert deployer.returncode == 0
    finally:
        gate.write_text("go")
        deployer.kill() if deployer.poll() is None else None


# -- exit code 2 -----------------------------------------------------------------------------------


def test_watch_bad_credentials(server) -> None:
    result = run_cli(server, "watch", deploy_ok(server), password="wrong")
    assert result.returncode == 2
    assert result.stderr.strip() == (
        f"deploytui: the server at {server.url} refused the credentials for user 'admin' (401)")
    assert result.stdout == ""


@pytest.mark.parametrize("mode", [(), ("--json",), ("--raw",)])
def test_watch_unknown_deployment(server, mode) -> None:
    result = run_cli(server, "watch", "00000000-0000-0000-0000-000000000000", *mode)
    assert result.returncode == 2, (result.stdout, result.stderr)
    assert "No deployment found" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_watch_no_local_server(tmp_path: Path) -> None:
    """No server runs and none can start (the data dir cannot be created): one line, exit 2."""
    (tmp_path / "file").write_text("")
    result = run_cli(None, "watch", "x", "--data-dir", str(tmp_path / "file" / "data"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"deploytui: cannot create the data dir {tmp_path / 'file' / 'data'}: Not a directory"


def test_watch_connection_refused() -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_cli(None, "watch", "x", DEPLOYTUI_URL=f"http://127.0.0.1:{port}", DEPLOYTUI_USER="a", DEPLOYTUI_PASSWORD="b")
    assert result.returncode == 2
    assert "connection refused" in result.stderr and len(result.stderr.strip().splitlines()) == 1


def test_watch_unknown_context(server) -> None:
    result = run_cli(server, "watch", "x", "--context", "nope")
    assert result.returncode == 2
    assert "unknown context 'nope'" in result.stderr


# (``watch`` without an id is not one: it follows the running deploy, see test_cli_usage.py)
@pytest.mark.parametrize("argv", [("watch", "x", "--json", "--raw"), ("watch", "x", "--bogus")])
def test_watch_usage_errors(argv) -> None:
    result = run_cli(None, *argv)
    assert result.returncode == 2 and "usage:" in result.stderr
