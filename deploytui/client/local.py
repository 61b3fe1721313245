"""The local embedded server, seen from a client: start one as a child process, or find one running.

The dashboard and the tests start ``python -m deploytui serve --port 0`` as a child (so deploy work
never shares the UI's core) and wait for its ready line; headless commands find a server already
running on a data dir through its ``server.json`` and stored credentials.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

from ..protocol.local import CREDENTIALS_FILE, SERVER_FILE, parse_ready_line


class LocalServerError(Exception):
    """The local server could not be started or found; the message says why."""


@dataclass
class LocalServer:
    """A local server: its URL and credentials, and the child process when we started it."""

    url: str
    user: str
    password: str
    data_dir: Path
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)

    def stop(self, timeout: float = 5.0) -> None:
        """Ask the child to stop (SIGTERM), then kill it if it does not; no-op when not ours."""
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout)

    def kill(self) -> None:
        """Kill the child at once (SIGKILL), as a crash would."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)


def read_credentials(data_dir: Path) -> tuple[str, str] | None:
    try:
        data = json.loads((data_dir / CREDENTIALS_FILE).read_text(encoding="utf-8"))
        return str(data["user"]), str(data["password"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def find_running_server(data_dir: Path) -> LocalServer | None:
    """The server running on ``data_dir`` (its server.json names a live pid), with its stored
    credentials (empty when it was started with explicit ones)."""
    try:
        info = json.loads((data_dir / SERVER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not _pid_alive(int(info.get("pid", 0))):
        return None
    # A server started with --user/--password stores no credentials: the caller must supply them.
    user, password = read_credentials(data_dir) or ("", "")
    return LocalServer(url=str(info["url"]), user=user, password=password, data_dir=data_dir)


def _pump(stream, lines: queue.Queue[str | None], keep: list[str]) -> None:
    for line in stream:
        keep.append(line.rstrip("\n"))
        del keep[:-200]  # keep the last lines for diagnostics only
        lines.put(line.rstrip("\n"))
    lines.put(None)


def spawn_server(
    data_dir: Path,
    *,
    wire: str = "deploytui",
    user: str | None = None,
    password: str | None = None,
    extra_args: tuple[str, ...] = (),
    timeout: float = 30.0,
) -> LocalServer:
    """Start ``deploytui serve --port 0`` on ``data_dir`` and return once it accepts connections."""
    env = dict(os.environ)
    env.pop("DEPLOYTUI_USER", None)
    env.pop("DEPLOYTUI_PASSWORD", None)
    if user and password:
        # Through the environment, not argv: other users can read a process's arguments.
        env["DEPLOYTUI_USER"], env["DEPLOYTUI_PASSWORD"] = user, password
    cmd = [sys.executable, "-m", "deploytui", "serve", "--port", "0", "--data-dir", str(data_dir), "--wire", wire]
    proc = subprocess.Popen(
        [*cmd, *extra_args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,  # a Ctrl-C in the dashboard's terminal must not reach the server
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []
    threading.Thread(target=_pump, args=(proc.stdout, lines, output), daemon=True).start()
    url = _wait_ready(proc, lines, timeout)
    if url is None:
        proc.kill()
        detail = "; ".join(output[-5:]) or "no output"
        raise LocalServerError(f"the embedded server did not start: {detail}")
    creds = (user, password) if user and password else read_credentials(data_dir)
    if creds is None:
        proc.kill()
        raise LocalServerError(f"the embedded server started but left no credentials in {data_dir}")
    return LocalServer(url=url, user=creds[0], password=creds[1], data_dir=data_dir, process=proc, output=output)


def _wait_ready(proc: subprocess.Popen[str], lines: queue.Queue[str | None], timeout: float) -> str | None:
    while True:
        try:
            line = lines.get(timeout=timeout)
        except queue.Empty:
            return None
        if line is None:
            return None
        url = parse_ready_line(line)
        if url is not None:
            return url
