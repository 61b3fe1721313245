"""The local server's life, with real processes on loopback: one server per data dir, started on
demand and shared, outliving its consoles (quit, SIGHUP), stopping by itself when idle, seen and
stopped with ``deploytui server status|stop``, and truthful after a crash."""

from __future__ import annotations

import json
import re
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from deploytui.client.local import LocalServer, find_running_server, start_detached, wait_for_exit
from deploytui.protocol.local import LOG_FILE, SERVER_FILE
from tests.conftest import start_server
from tests.e2e.cli_support import PY, cli_env, json_lines, python_command, run_cli
from tests.e2e.local_support import (
    UUID_RE,
    Console,
    api,
    events,
    gated_install,
    install_lines,
    serve_pids,
    start_deploy,
    stop_servers,
    wait_until,
)

pytestmark = pytest.mark.timeout(120)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A fresh data dir; every server that ran on it is stopped at the end."""
    path = tmp_path / "data"
    yield path
    stop_servers(path)


def local_env(data_dir: Path) -> dict[str, str]:
    return cli_env(None, DEPLOYTUI_DATA_DIR=str(data_dir))


def running(data_dir: Path) -> LocalServer:
    server = find_running_server(data_dir)
    assert server is not None, f"no server runs on {data_dir}"
    return server


def make_app(tmp_path: Path, name: str = "slowapp") -> Path:
    app = tmp_path / name
    app.mkdir()
    (app / "package.json").write_text(json.dumps({"name": name, "version": "1.0.0"}))
    return app


# -- started on demand, shared ---------------------------------------------------------------------


def test_a_headless_command_starts_the_server_on_demand_and_the_next_one_shares_it(data_dir: Path) -> None:
    first = run_cli(None, "list", env=local_env(data_dir))
    assert first.returncode == 0, first.stderr
    server = running(data_dir)
    assert f"started the local server on {data_dir}" in first.stderr and f"pid {server.pid}" in first.stderr
    assert str(data_dir / LOG_FILE) in first.stderr and "No deployments yet." in first.stderr
    second = run_cli(None, "list", "--json", env=local_env(data_dir))
    assert second.returncode == 0 and json.loads(second.stdout)["total"] == 0
    assert "started" not in second.stderr  # it used the running one
    assert serve_pids(data_dir) == [server.pid]
    log = (data_dir / LOG_FILE).read_text()
    assert f"serving {server.url}" in log


def test_consoles_starting_at_once_end_with_one_server(data_dir: Path) -> None:
    env = local_env(data_dir)
    consoles = [subprocess.Popen([PY, "-m", "deploytui", "list", "--json"], env=env, stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL) for _ in range(4)]
    outputs = [c.communicate(timeout=60) for c in consoles]
    assert [c.returncode for c in consoles] == [0] * 4, outputs
    server = running(data_dir)
    # Every console that started a server announces the one that won; the losers' children exit.
    for _, err in outputs:
        assert "pid" not in err or f"pid {server.pid}" in err, err
    wait_until(lambda: serve_pids(data_dir) == [server.pid], what="the losing servers to exit")


def test_a_start_that_lost_to_a_stopping_server_starts_again(data_dir: Path) -> None:
    """A console starts a server just as the idle one stops: the new child finds the lock taken and
    exits; once the old one is gone, the console starts another rather than giving up."""
    data_dir.mkdir(parents=True)
    holder = subprocess.Popen(  # stands in for the stopping server: holds the lock until told to go
        [PY, "-c", "import sys; from pathlib import Path; from deploytui.server.lifecycle import DataDirLock\n"
                   f"DataDirLock(Path({str(data_dir)!r})).acquire(); print('locked', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with ThreadPoolExecutor(1) as pool:
            starting = pool.submit(start_detached, data_dir)
            log = data_dir / LOG_FILE
            wait_until(lambda: log.exists() and "already running" in log.read_text(), what="the first child to lose")
            holder.stdin.close()  # the old server exits, releasing the lock
            server = starting.result(timeout=60)
        assert serve_pids(data_dir) == [server.pid]
    finally:
        holder.kill()
        holder.wait(10)


def test_a_second_serve_on_a_served_data_dir_exits_2_naming_the_first(data_dir: Path) -> None:
    first = start_server(data_dir)
    try:
        second = subprocess.run([PY, "-m", "deploytui", "serve", "--port", "0", "--data-dir", str(data_dir)],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert second.returncode == 2
        assert second.stderr.strip().splitlines() == [
            f"deploytui: a deploytui server is already running on {data_dir}: {first.url} (pid {first.pid}); "
            "stop it with `deploytui server stop`"]
        assert json.loads((data_dir / SERVER_FILE).read_text())["pid"] == first.pid  # left alone
    finally:
        first.stop()


def test_a_second_server_never_touches_the_first_ones_running_deploy(data_dir: Path, tmp_path: Path) -> None:
    """The bug of old: the second server's crash recovery failed the first's deploy and killed its install."""
    first = start_server(data_dir)
    try:
        gate = tmp_path / "gate"
        deployment_id = start_deploy(first, "app", gated_install(gate))
        wait_until(lambda: "line 2" in install_lines(events(first, deployment_id)), what="the install to start")
        second = subprocess.run([PY, "-m", "deploytui", "serve", "--port", "0", "--data-dir", str(data_dir)],
                                capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        assert second.returncode == 2
        gate.touch()
        wait_until(lambda: api(first, "get_deployment", deployment_id=deployment_id)["status"] == "success",
                   what="the deploy to succeed")
        evs = events(first, deployment_id)
        assert not [e for e in evs if e["event"] == "error"]
        assert install_lines(evs) == [f"line {i}" for i in range(6)]
    finally:
        first.stop()


def test_a_stale_server_file_is_not_taken_for_a_server(data_dir: Path) -> None:
    """A crash leaves server.json behind; its pid may even be reused by another live process."""
    data_dir.mkdir(parents=True)
    (data_dir / SERVER_FILE).write_text(json.dumps({"url": "http://127.0.0.1:9", "pid": 1}))
    assert find_running_server(data_dir) is None
    result = run_cli(None, "list", env=local_env(data_dir))
    assert result.returncode == 0, result.stderr
    assert "started the local server" in result.stderr
    assert running(data_dir).pid != 1


def test_the_server_is_not_shadowed_by_a_deploytui_folder_in_the_current_directory(data_dir: Path, tmp_path: Path) -> None:
    """Run from the clone's parent: a ``deploytui/`` folder there must not stand in for the package."""
    cwd = tmp_path / "parent"
    (cwd / "deploytui").mkdir(parents=True)
    # The console itself as the installed `deploytui` script runs it: no current directory on sys.path.
    result = subprocess.run([PY, "-P", "-m", "deploytui", "list"], cwd=cwd, env=local_env(data_dir),
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert "No deployments yet." in result.stderr
    assert running(data_dir).pid in serve_pids(data_dir)


def test_the_data_dir_cannot_be_created(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = run_cli(None, "list", env=local_env(blocker / "data"))
    assert result.returncode == 2
    assert result.stderr.strip() == f"deploytui: cannot create the data dir {blocker / 'data'}: Not a directory"


def test_the_dashboard_says_why_its_server_could_not_start(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    result = subprocess.run([PY, "-m", "deploytui"], env=local_env(blocker / "data"), capture_output=True,
                            text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 1
    assert result.stderr.splitlines()[0] == f"deploytui: cannot create the data dir {blocker / 'data'}: Not a directory"


@pytest.mark.parametrize("value", ["0", "-1", "soon", "nan"])
def test_serve_idle_exit_must_be_a_positive_number(value: str, tmp_path: Path) -> None:
    result = subprocess.run([PY, "-m", "deploytui", "serve", "--idle-exit", value, "--data-dir", str(tmp_path)],
                            capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 2 and "--idle-exit" in result.stderr and "seconds" in result.stderr
    assert not (tmp_path / SERVER_FILE).exists()


# -- outlives its consoles -------------------------------------------------------------------------


def test_a_hung_up_console_leaves_its_deploy_running_to_success(data_dir: Path, tmp_path: Path) -> None:
    """`deploytui deploy` in a terminal that goes away (SIGHUP, as a dropped SSH session)."""
    gate = tmp_path / "gate"
    console = Console([PY, "-m", "deploytui", "deploy", str(make_app(tmp_path)), "--install-command",
                       gated_install(gate)], env={**local_env(data_dir), "TERM": "xterm-256color"})
    try:
        console.wait_for(b"line 2")
        deployment_id = re.search(UUID_RE, bytes(console.output)).group().decode()
        server = running(data_dir)
        assert console.hang_up() == -signal.SIGHUP
        assert api(server, "get_deployment", deployment_id=deployment_id)["status"] != "failed"
        gate.touch()
        watched = run_cli(None, "watch", deployment_id, "--json", env=local_env(data_dir))
        assert watched.returncode == 0, watched.stderr
        assert json_lines(watched.stdout)[-1]["event"] == "done"
        assert install_lines(events(server, deployment_id)) == [f"line {i}" for i in range(6)]
        listed = run_cli(None, "list", "--json", env=local_env(data_dir))
        assert listed.returncode == 0 and "started" not in listed.stderr  # still the same server
        assert json.loads(listed.stdout)["deployments"][0]["status"] == "success"
        assert serve_pids(data_dir) == [server.pid]
    finally:
        console.close()


def test_quitting_the_dashboard_leaves_its_deploy_running_and_says_so(data_dir: Path, tmp_path: Path) -> None:
    """The real `deploytui` dashboard in a terminal: q while a deploy runs names it, and it goes on."""
    env = {**local_env(data_dir), "TERM": "xterm-256color", "COLUMNS": "80", "LINES": "24"}
    console = Console([PY, "-m", "deploytui"], env=env)
    try:
        server = wait_until(lambda: find_running_server(data_dir), what="the dashboard's server")
        gate = tmp_path / "gate"
        deployment_id = start_deploy(server, "gatedapp", gated_install(gate))
        console.wait_for(b"gatedapp")  # the list shows it
        console.send(b"q")
        assert console.finish() == 0
        said = console.text()
        assert "1 deploy(s) still running; they continue on the server:" in said
        assert deployment_id in said and "deploytui watch <id>" in said
        gate.touch()
        watched = run_cli(None, "watch", deployment_id, env=local_env(data_dir))
        assert watched.returncode == 0, watched.stderr
        assert install_lines(events(server, deployment_id)) == [f"line {i}" for i in range(6)]
        assert serve_pids(data_dir) == [server.pid]
    finally:
        console.close()


def test_two_dashboards_share_one_server_and_quitting_one_leaves_the_other_live(data_dir: Path, tmp_path: Path) -> None:
    env = {**local_env(data_dir), "TERM": "xterm-256color"}
    first = Console([PY, "-m", "deploytui"], env=env)
    second = None
    try:
        server = wait_until(lambda: find_running_server(data_dir), what="the first dashboard's server")
        second = Console([PY, "-m", "deploytui"], env=env)
        gate = tmp_path / "gate"
        deployment_id = start_deploy(server, "gatedapp", gated_install(gate))
        first.wait_for(b"gatedapp")
        second.wait_for(b"gatedapp")  # the same deployments, live
        assert serve_pids(data_dir) == [server.pid]
        first.send(b"q")
        assert first.finish() == 0 and deployment_id in first.text()
        ended_after = len(second.output)  # the empty list said "a quick success" before the deploy
        gate.touch()
        second.wait_for(b"success", since=ended_after)  # the other one still follows the server
        second.send(b"q")
        assert second.finish() == 0 and "still running" not in second.text()
        assert serve_pids(data_dir) == [server.pid]
    finally:
        first.close()
        if second is not None:
            second.close()


def test_a_hung_up_dashboard_leaves_its_deploy_running(data_dir: Path, tmp_path: Path) -> None:
    env = {**local_env(data_dir), "TERM": "xterm-256color"}
    console = Console([PY, "-m", "deploytui"], env=env)
    try:
        server = wait_until(lambda: find_running_server(data_dir), what="the dashboard's server")
        gate = tmp_path / "gate"
        deployment_id = start_deploy(server, "gatedapp", gated_install(gate))
        console.wait_for(b"gatedapp")
        console.hang_up()
        gate.touch()
        watched = run_cli(None, "watch", deployment_id, env=local_env(data_dir))
        assert watched.returncode == 0, watched.stderr
        assert serve_pids(data_dir) == [server.pid]
    finally:
        console.close()


# -- then goes ----------------------------------------------------------------------------------


def test_an_on_demand_server_waits_for_its_deploy_then_exits_when_idle(data_dir: Path) -> None:
    """No client connected: the deploy (which outlasts the idle time several times) keeps it up; then it goes."""
    server = start_detached(data_dir, idle_exit_s=0.5)
    slow = "import time\nfor i in range(4):\n print('line', i, flush=True)\n time.sleep(0.5)"
    deployment_id = start_deploy(server, "app", python_command(slow))
    assert server.pid is not None and wait_for_exit(server.pid, 60)
    assert not (data_dir / SERVER_FILE).exists()
    with sqlite3.connect(data_dir / "deploytui.sqlite3") as db:
        status = db.execute("SELECT status FROM deployments WHERE deployment_id = ?", (deployment_id,)).fetchone()[0]
    assert status == "success"
    assert "no client and no deploy for 0.5s: stopping" in (data_dir / LOG_FILE).read_text()


def test_a_server_started_by_serve_runs_until_stopped(data_dir: Path) -> None:
    """No --idle-exit: nothing in its log says it would go by itself, and status says how it stops."""
    server = start_server(data_dir)
    try:
        # Started with its own credentials: the commands need them too.
        env = {**local_env(data_dir), "DEPLOYTUI_USER": server.user, "DEPLOYTUI_PASSWORD": server.password}
        status = run_cli(None, "server", "status", "--json", env=env)
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["idle_exit_s"] is None
    finally:
        server.stop()


# -- status and stop ----------------------------------------------------------------------------


def test_server_status_names_the_server_its_clients_and_deploys(data_dir: Path, tmp_path: Path) -> None:
    server = start_detached(data_dir)
    gate = tmp_path / "gate"
    deployment_id = start_deploy(server, "app", gated_install(gate))
    follower = httpx.stream("POST", server.url + "/", json={"operation": "get_deployment", "deployment_id": deployment_id},
                            auth=(server.user, server.password), headers={"Accept": "text/event-stream"}, timeout=30)
    try:
        with follower as stream:  # a client following the deploy: one open connection
            assert stream.status_code == 200
            result = run_cli(None, "server", "status", "--json", env=local_env(data_dir))
        assert result.returncode == 0, result.stderr
        status = json.loads(result.stdout)
        assert status["running"][0]["deployment_id"] == deployment_id
        assert (status["pid"], status["url"], status["data_dir"]) == (server.pid, server.url, str(data_dir))
        assert status["idle_exit_s"] == 30 and status["uptime_s"] >= 0 and status["connections"] >= 1
        assert status["log"] == str(data_dir / LOG_FILE)
        text = run_cli(None, "server", "status", env=local_env(data_dir)).stdout
        assert f"url       {server.url}\npid       {server.pid}\ndata dir  {data_dir}\n" in text
        assert "stops     by itself, 30s after its last client and deploy" in text
        assert f"deploys   1 running\n  app (prepare, {deployment_id})" in text
    finally:
        gate.touch()


def test_server_status_and_stop_when_none_runs(data_dir: Path) -> None:
    status = run_cli(None, "server", "status", env=local_env(data_dir))
    assert status.returncode == 1 and status.stderr.strip() == f"deploytui: no server is running on {data_dir}"
    as_json = run_cli(None, "server", "status", "--json", env=local_env(data_dir))
    assert as_json.returncode == 1 and json.loads(as_json.stdout) == {"running": False, "data_dir": str(data_dir)}
    stop = run_cli(None, "server", "stop", env=local_env(data_dir))
    assert stop.returncode == 0 and "nothing to stop" in stop.stderr
    assert not serve_pids(data_dir) and not data_dir.exists()  # neither started one


def test_server_stop_refuses_while_deploys_run_then_force_fails_them(data_dir: Path, tmp_path: Path) -> None:
    server = start_detached(data_dir)
    deployment_id = start_deploy(server, "app", gated_install(tmp_path / "never"))
    wait_until(lambda: "line 2" in install_lines(events(server, deployment_id)), what="the install to start")
    refused = run_cli(None, "server", "stop", env=local_env(data_dir))
    assert refused.returncode == 1
    assert refused.stderr.strip() == (
        f"deploytui: not stopping the server on {data_dir}: deploys are running: app (prepare, {deployment_id}). "
        "Wait for them, or `deploytui server stop --force` ends them failed.")
    assert serve_pids(data_dir) == [server.pid]
    forced = run_cli(None, "server", "stop", "--force", env=local_env(data_dir))
    assert forced.returncode == 0, forced.stderr
    assert f"ended failed, stopped by the operator: {deployment_id}" in forced.stderr
    assert f"(pid {server.pid}) has stopped" in forced.stderr
    assert not serve_pids(data_dir) and not (data_dir / SERVER_FILE).exists()
    # The next server finds the row failed by the operator, with Harper's error event; nothing to recover.
    again = start_detached(data_dir)
    row = api(again, "get_deployment", deployment_id=deployment_id)
    assert row["status"] == "failed" and row["error"]["message"] == "stopped by the operator"
    error = events(again, deployment_id)[-1]
    assert error["event"] == "error" and error["data"]["message"] == "stopped by the operator"
    assert "interrupted" not in (data_dir / LOG_FILE).read_text()


def test_server_stop_without_deploys(data_dir: Path) -> None:
    server = start_detached(data_dir)
    stop = run_cli(None, "server", "stop", env=local_env(data_dir))
    assert stop.returncode == 0, stop.stderr
    assert stop.stderr.strip() == f"deploytui: the server on {data_dir} (pid {server.pid}) has stopped"
    assert not serve_pids(data_dir)


# -- after a crash ------------------------------------------------------------------------------


def test_an_interrupted_deploy_ends_when_its_last_event_was_recorded(data_dir: Path, tmp_path: Path) -> None:
    first = start_server(data_dir)
    deployment_id = start_deploy(first, "app", gated_install(tmp_path / "never"))
    wait_until(lambda: "line 2" in install_lines(events(first, deployment_id)), what="the install to start")
    last_t = events(first, deployment_id)[-1]["t"]
    first.kill()  # a crash: no clean shutdown
    second = start_server(data_dir)
    try:
        row = api(second, "get_deployment", deployment_id=deployment_id)
        assert row["status"] == "failed" and row["error"]["message"] == "interrupted: the server stopped during prepare"
        assert row["completed_at"] == last_t  # not the restart's time
        error = events(second, deployment_id)[-1]
        assert error["event"] == "error" and error["t"] >= last_t
    finally:
        second.stop()
