"""Helpers for the local-server tests: gated installs, deploys that leave no client connected,
consoles on a pseudo-terminal (to hang them up as a dropped SSH session does), and finding (and
stopping) every server process of a data dir so no test leaves one running."""

from __future__ import annotations

import base64
import fcntl
import json
import os
import select
import signal
import struct
import subprocess
import termios
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from deploytui.client.local import LocalServer, pid_alive, wait_for_exit
from tests.conftest import make_tarball
from tests.e2e.cli_support import python_command

UUID_RE = rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def gated_install(gate: Path, before: int = 3, after: int = 3) -> str:
    """An install printing ``line 0`` … ``line before-1``, then waiting for ``gate`` to exist, then
    the rest: a deploy that runs exactly as long as the test wants."""
    code = (f"import os, time\nfor i in range({before}):\n print('line', i, flush=True)\n"
            f"while not os.path.exists({str(gate)!r}):\n time.sleep(0.05)\n"
            f"for i in range({before}, {before + after}):\n print('line', i, flush=True)\n")
    return python_command(code)


def start_deploy(srv: LocalServer, project: str, install_command: str) -> str:
    """Start a deploy and hang up at once (its SSE answer names it): no client stays connected."""
    payload = make_tarball({"package.json": json.dumps({"name": project, "version": "1.0.0"})})
    body = {"operation": "deploy_component", "project": project, "install_command": install_command,
            "payload": base64.b64encode(payload).decode()}
    with httpx.stream("POST", srv.url + "/", json=body, auth=(srv.user, srv.password),
                      headers={"Accept": "text/event-stream"}, timeout=30) as response:
        assert response.status_code == 200, response.read()
        return response.headers["x-deployment-id"]


def api(srv: LocalServer, operation: str, **fields: Any) -> Any:
    response = httpx.post(srv.url + "/", json={"operation": operation, **fields}, auth=(srv.user, srv.password), timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def events(srv: LocalServer, deployment_id: str) -> list[dict[str, Any]]:
    return api(srv, "get_deployment_events", deployment_id=deployment_id, limit=10_000)["events"]


def install_lines(evs: list[dict[str, Any]]) -> list[str]:
    return [e["data"]["line"] for e in evs if e["event"] == "install"]


def wait_until(condition: Callable[[], Any], timeout: float = 30.0, what: str = "condition") -> Any:
    """Poll ``condition`` until it is truthy (a state another process reaches, with no event to wait on)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def serve_pids(data_dir: Path) -> list[int]:
    """Every live ``deploytui serve`` process of ``data_dir`` (from /proc)."""
    wanted = str(data_dir.absolute()).encode()
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"serve" in argv and b"--data-dir" in argv and wanted in argv and pid_alive(int(entry.name)):
            pids.append(int(entry.name))
    return pids


def stop_servers(data_dir: Path) -> None:
    """End every server of ``data_dir`` (SIGTERM, then SIGKILL): tests leave none running."""
    for pid in serve_pids(data_dir):
        try:
            os.kill(pid, signal.SIGTERM)
            if not wait_for_exit(pid, 10):
                os.kill(pid, signal.SIGKILL)
                wait_for_exit(pid, 10)
        except ProcessLookupError:
            pass


class Console:
    """A command run as from a login shell: its own session, a pseudo-terminal as its controlling
    terminal (80x24 by default). :meth:`hang_up` closes the terminal: the kernel sends SIGHUP, as
    when an SSH connection drops or a tmux pane is killed."""

    def __init__(self, argv: list[str], *, env: dict[str, str], cwd: Path | None = None,
                 columns: int = 80, rows: int = 24) -> None:
        master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
        self.proc = subprocess.Popen(argv, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd,
                                     start_new_session=True, preexec_fn=_take_terminal)
        os.close(slave)
        self.master: int | None = master
        self.output = bytearray()

    def _read(self, timeout: float) -> bool:
        """Read what is there (waiting up to ``timeout``); False at end of output."""
        assert self.master is not None
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return True
        try:
            chunk = os.read(self.master, 65536)
        except OSError:  # EIO: every slave side is closed
            return False
        self.output += chunk
        return bool(chunk)

    def wait_for(self, pattern: bytes, timeout: float = 30.0, *, since: int = 0) -> None:
        """Read the terminal until ``pattern`` (bytes) has been written to it (at or after offset
        ``since`` of the output: ``len(console.output)`` taken before what should write it)."""
        deadline = time.monotonic() + timeout
        while self.output.find(pattern, since) < 0:
            if time.monotonic() > deadline or not self._read(0.1):
                raise AssertionError(f"{pattern!r} never appeared; the terminal shows: {self.text()[-2000:]!r}")

    def send(self, data: bytes) -> None:
        assert self.master is not None
        os.write(self.master, data)

    def finish(self, timeout: float = 30.0) -> int:
        """Read until the command has exited and its output ended; its exit code."""
        deadline = time.monotonic() + timeout
        while self._read(0.1) and time.monotonic() < deadline:
            if self.proc.poll() is not None and not select.select([self.master], [], [], 0)[0]:
                break
        return self.proc.wait(max(1.0, deadline - time.monotonic()))

    def hang_up(self, timeout: float = 30.0) -> int:
        """Close the terminal (SIGHUP to the command); its exit code once it is gone."""
        if self.master is not None:
            os.close(self.master)
            self.master = None
        return self.proc.wait(timeout)

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        if self.master is not None:
            os.close(self.master)
            self.master = None

    def text(self) -> str:
        return self.output.decode("utf-8", "replace")


def _take_terminal() -> None:
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
