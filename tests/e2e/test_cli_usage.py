"""The command line a new user types, against a real server: a URL without a scheme, a bad
``--status``, id prefixes, ``watch`` without an id, Ctrl-C, and how ``demo`` exits."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from deploytui.protocol.deployment import Status
from tests.conftest import op
from tests.e2e.cli_support import PY, cli_env, deploy, deploy_ok, json_lines, python_command, run_cli

# -- a process whose output we wait on, line by line ----------------------------------------------


class Running:
    """A CLI subprocess whose stdout and stderr lines can be waited for (the test synchronises on
    what the command prints, never on time)."""

    def __init__(self, argv: list[str], env: dict[str, str]) -> None:
        self.proc = subprocess.Popen([PY, "-m", "deploytui", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     stdin=subprocess.DEVNULL, text=True, encoding="utf-8", env=env)
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.seen: list[tuple[str, str]] = []
        for name, stream in (("stdout", self.proc.stdout), ("stderr", self.proc.stderr)):
            threading.Thread(target=self._pump, args=(name, stream), daemon=True).start()

    def _pump(self, name: str, stream) -> None:
        for line in stream:
            self.lines.put((name, line.rstrip("\n")))
        self.lines.put((name, None))

    def wait_for(self, name: str, predicate: Callable[[str], bool], timeout: float = 60) -> str:
        """The first line of ``name`` (stdout/stderr) that ``predicate`` accepts."""
        while True:
            try:
                stream, line = self.lines.get(timeout=timeout)
            except queue.Empty:
                raise AssertionError(f"no matching {name} line; seen: {self.seen}") from None
            if line is None:
                continue
            self.seen.append((stream, line))
            if stream == name and predicate(line):
                return line

    def interrupt(self) -> tuple[int, list[str]]:
        """Ctrl-C: SIGINT, then the exit code and the stderr lines printed from then on."""
        self.proc.send_signal(signal.SIGINT)
        code = self.proc.wait(timeout=60)
        rest: list[str] = []
        closed = 0
        while closed < 2:
            stream, line = self.lines.get(timeout=30)
            if line is None:
                closed += 1
            elif stream == "stderr":
                rest.append(line)
        return code, rest

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


class Gate:
    """A FIFO an install blocks on until the test opens it: a deploy that runs exactly as long as
    the test needs."""

    def __init__(self, directory: Path) -> None:
        self.path = directory / "gate"
        os.mkfifo(self.path)

    def install_command(self) -> str:
        code = f"print('waiting at the gate', flush=True); open({str(self.path)!r}).read(); print('through', flush=True)"
        return python_command(code)

    def open(self) -> None:
        """Let the install finish (a no-op when nothing is waiting)."""
        try:
            fd = os.open(self.path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # ENXIO: no reader (yet, or any more)
            return
        os.close(fd)


@pytest.fixture
def gate(tmp_path: Path) -> Iterator[Gate]:
    g = Gate(tmp_path)
    yield g
    g.open()


def start_slow_deploy(server, gate: Gate, app_dir: Path) -> tuple[Running, str]:
    """``deploytui deploy`` of a deploy that waits at ``gate``; the process and the deployment id,
    once its install is running."""
    app_dir.mkdir()
    (app_dir / "package.json").write_text('{"name": "slow", "version": "1.0.0"}')
    deploying = Running(["deploy", str(app_dir), "--project", "slow", "--install-command", gate.install_command()],
                        cli_env(server))
    line = deploying.wait_for("stderr", lambda line: line.startswith("deployment "))
    deploying.wait_for("stdout", lambda line: "waiting at the gate" in line)
    return deploying, line.split()[1]


def assert_ctrl_c_says_how_to_come_back(process: Running, deployment_id: str) -> None:
    """Ctrl-C: exit 130 and ONE stderr line saying the deploy continues and how to come back."""
    try:
        code, said = process.interrupt()
    finally:
        process.stop()
    assert code == 130
    assert len(said) == 1, said
    assert "continues on the server" in said[0] and f"deploytui watch {deployment_id}" in said[0]


# -- --url without a scheme ------------------------------------------------------------------------


def server_env_without_url(server) -> dict[str, str]:
    env = cli_env(server)
    del env["DEPLOYTUI_URL"]
    return env


def test_url_without_scheme_on_loopback_assumes_http_and_says_so(server) -> None:
    deployment_id = deploy_ok(server)
    host_port = server.url.removeprefix("http://")
    result = run_cli(server, "--url", host_port, "list", env=server_env_without_url(server))
    assert result.returncode == 0, result.stderr
    assert deployment_id in result.stdout
    assert f"assuming http://{host_port}" in result.stderr


def test_https_to_a_plain_http_port_advises_the_scheme_not_tls_off(server) -> None:
    url = server.url.replace("http://", "https://")
    result = run_cli(server, "--url", url, "list", env=server_env_without_url(server))
    assert result.returncode == 2
    assert "http://" in result.stderr and "verification off" not in result.stderr, result.stderr


# -- list --status ---------------------------------------------------------------------------------


def test_list_unknown_status_is_a_usage_error_listing_the_valid_ones() -> None:
    result = run_cli(None, "list", "--status", "bogus")
    assert result.returncode == 2
    assert "'bogus'" in result.stderr and all(status.value in result.stderr for status in Status), result.stderr


def test_list_known_status_filters(server) -> None:
    deployment_id = deploy_ok(server)
    assert deployment_id in run_cli(server, "list", "--status", "success").stdout
    assert run_cli(server, "list", "--status", "failed").stdout == ""


# -- id prefixes -----------------------------------------------------------------------------------


def quick_deploys(server, count: int) -> list[str]:
    """``count`` finished deploys without an install (fast); their ids."""
    ids = []
    for i in range(count):
        status, body = deploy(server, f"p{i}", files={"index.js": "export {}\n"})
        assert status == 200, body
        ids.append(body["deployment_id"])
    return ids


def test_any_unique_prefix_works_and_an_ambiguous_one_names_the_matches(server) -> None:
    ids = quick_deploys(server, 17)  # 17 ids over 16 hex digits: two share their first character
    first_chars = [i[0] for i in ids]
    shared = next(c for c in first_chars if first_chars.count(c) > 1)
    target = ids[0]
    unique = next(target[:n] for n in range(1, 37) if sum(i.startswith(target[:n]) for i in ids) == 1)
    # Each prefix in each output mode, without running all nine: the prefix is resolved before the
    # mode matters, so three runs cover every prefix and every mode.
    for given, mode in ((target[:8], ()), (unique, ("--json",)), (target[:8].upper(), ("--raw",))):
        result = run_cli(server, "watch", given, *mode)
        assert result.returncode == 0, (given, mode, result.stderr)
        if mode:
            assert target in result.stdout, (given, mode)
    ambiguous = run_cli(server, "watch", shared)
    assert ambiguous.returncode == 2
    matches = [i for i in ids if i.startswith(shared)]
    assert "ambiguous" in ambiguous.stderr and all(m in ambiguous.stderr for m in matches[:5]), ambiguous.stderr


def test_a_prefix_that_matches_nothing_is_not_found(server) -> None:
    quick_deploys(server, 1)
    result = run_cli(server, "watch", "zzzzzzzz")
    assert result.returncode == 2 and "zzzzzzzz" in result.stderr, result.stderr


# -- watch without an id, and Ctrl-C ---------------------------------------------------------------


def test_watch_without_id_follows_the_running_deploy_and_ctrl_c_says_how_to_come_back(
        server, gate: Gate, tmp_path: Path) -> None:
    deploying, slow_id = start_slow_deploy(server, gate, tmp_path / "slow")
    try:
        newer_finished = deploy_ok(server, project="quick")  # newer than the running one, but finished
        watching = Running(["watch"], cli_env(server))
        try:
            picked = watching.wait_for("stderr", lambda line: "watching" in line)
            assert slow_id in picked and "running" in picked and newer_finished not in picked
            watching.wait_for("stdout", lambda line: "waiting at the gate" in line)
        except BaseException:
            watching.stop()
            raise
        assert_ctrl_c_says_how_to_come_back(watching, slow_id)
        gate.open()
        assert deploying.proc.wait(timeout=60) == 0  # the deploy went on after the watcher left
    finally:
        deploying.stop()
    # Nothing runs any more: watch follows the newest one (started last), and says so.
    result = run_cli(server, "watch", "--json")
    assert result.returncode == 0, result.stderr
    assert "no deployment is running" in result.stderr and newer_finished in result.stderr, result.stderr
    assert json_lines(result.stdout)[-1]["event"] == "done"


def test_watch_without_id_and_no_deployments(server) -> None:
    result = run_cli(server, "watch")
    assert result.returncode == 2 and "no deployments" in result.stderr


def test_ctrl_c_in_deploy_says_the_deploy_continues(server, gate: Gate, tmp_path: Path) -> None:
    deploying, deployment_id = start_slow_deploy(server, gate, tmp_path / "slow")
    assert_ctrl_c_says_how_to_come_back(deploying, deployment_id)
    row = op(server, {"operation": "get_deployment", "deployment_id": deployment_id}).json()
    assert row["status"] not in ("success", "failed")  # still running: it waits at the gate
    gate.open()
    result = run_cli(server, "watch", deployment_id)
    assert result.returncode == 0, result.stderr  # and it succeeded without the client
    assert "through" in result.stdout


@pytest.mark.parametrize("mode", ["--json", "--raw"])
def test_ctrl_c_while_replaying_a_finished_deploy(server, mode: str) -> None:
    """Ctrl-C lands mid-replay (not after the last event), and a finished deploy is not said to
    "continue on the server"."""
    deployment_id = deploy_ok(server, lines=3000)  # ~1 MB of JSON lines: far more than a pipe holds
    proc = subprocess.Popen([PY, "-m", "deploytui", "watch", deployment_id, mode], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, env=cli_env(server))
    try:
        # Read one line, then nothing: the command is held writing into the full pipe, mid-replay.
        assert proc.stdout.readline().startswith(b"{")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130
    if mode == "--json":
        assert err == b""


# -- demo exits like deploy ------------------------------------------------------------------------


@pytest.mark.parametrize(("names", "code"), [(["hello"], 0), (["broken-install"], 1)])
def test_demo_exits_like_deploy(server, names: list[str], code: int) -> None:
    result = run_cli(server, "demo", *names)
    assert result.returncode == code, result.stderr
