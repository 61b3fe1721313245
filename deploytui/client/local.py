"""The local server, seen from a client: find the one running on a data dir, or start one on demand.

One server per data dir, shared by every console (the dashboard, the headless commands) and
outliving them, as tmux or a language server does it:

* :func:`find_running_server` reads the data dir's ``server.json`` and believes it only when that
  pid is alive and ``GET /health`` at that URL answers with the same pid (so a stale file left by a
  crash, or a port since reused by something else, is not taken for a server).
* :func:`ensure_server` returns that server, or starts one (:func:`start_detached`): in its own
  session (no terminal signal reaches it: a dropped SSH connection or a closed terminal does not
  stop a deploy), stdin from /dev/null, output to ``server.log`` in the data dir, working directory
  the data dir and ``python -P`` (so a ``deploytui/`` folder in the caller's directory cannot
  shadow the package), with ``--idle-exit`` so it stops by itself once no client and no deploy
  needs it. Two consoles starting at once end with one server: the data dir's lock decides, and
  the loser's child exits while the caller finds the winner's ``server.json``.
* :func:`spawn_server` starts a server as a foreground child with its output piped, as the tests
  and the fixture recorder do; :meth:`LocalServer.stop` stops such a child.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from . import plain_http
from ..protocol.local import (
    CREDENTIALS_FILE,
    DEFAULT_IDLE_EXIT_S,
    EXIT_DATA_DIR_BUSY,
    LOG_FILE,
    PID_HEADER,
    parse_ready_line,
    read_lock_pid,
    read_server_file,
)

LOG_ROTATE_BYTES = 1024 * 1024  # server.log beyond this is moved to server.log.1 at the next start
START_ATTEMPTS = 3  # a start that loses the data dir to a server that was just stopping is tried again


class LocalServerError(Exception):
    """The local server could not be started or found; the message says why."""


@dataclass
class LocalServer:
    """A local server: its URL, credentials and pid, and the child process when we started it."""

    url: str
    user: str
    password: str
    data_dir: Path
    pid: int | None = None
    process: subprocess.Popen[str] | None = None
    output: list[str] = field(default_factory=list)
    wire: str = "deploytui"  # what a child we started speaks (``serve --wire``)

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


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists and is not a zombie (an exited child not yet reaped)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[0]
    except (OSError, IndexError):
        return True  # no /proc: the signal check is all we have
    return state != "Z"


def _answers_as(url: str, pid: int, timeout: float) -> bool:
    """Does ``url`` answer ``/health`` as process ``pid``? (No proxy: this is a loopback check.)"""
    # The standard library's client: the dashboard asks this before its first frame.
    try:
        response = plain_http.get(url, "/health", timeout)
    except (*plain_http.HttpError, ValueError):
        return False
    return response.status == 200 and response.getheader(PID_HEADER) == str(pid)


def find_running_server(data_dir: Path, *, timeout: float = 3.0) -> LocalServer | None:
    """The server running on ``data_dir``, with its stored credentials (empty when it was started
    with explicit ones); None when none runs or its ``server.json`` is stale."""
    info = read_server_file(data_dir)
    if info is None or not pid_alive(info["pid"]) or not _answers_as(info["url"], info["pid"], timeout):
        return None
    # A server started with --user/--password stores no credentials: the caller must supply them.
    user, password = read_credentials(data_dir) or ("", "")
    return LocalServer(url=info["url"], user=user, password=password, data_dir=data_dir, pid=info["pid"])


def server_command(data_dir: Path, *extra: str) -> list[str]:
    """``python -P -m deploytui serve --port 0 --data-dir DIR …``: ``-P`` keeps the current directory
    off ``sys.path``, so a ``deploytui/`` folder there cannot stand in for the package."""
    return [sys.executable, "-P", "-m", "deploytui", "serve", "--port", "0", "--data-dir", str(data_dir), *extra]


def _server_env(user: str | None = None, password: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    env.pop("DEPLOYTUI_USER", None)
    env.pop("DEPLOYTUI_PASSWORD", None)
    if user and password:
        # Through the environment, not argv: other users can read a process's arguments.
        env["DEPLOYTUI_USER"], env["DEPLOYTUI_PASSWORD"] = user, password
    return env


# ---------------------------------------------------------------------------- on demand, detached


def ensure_server(
    data_dir: Path,
    *,
    idle_exit_s: float = DEFAULT_IDLE_EXIT_S,
    timeout: float = 30.0,
    announce: Callable[[str], None] | None = None,
) -> LocalServer:
    """The server running on ``data_dir``; when there is none, start one (:func:`start_detached`)
    and say so through ``announce`` (one call per line)."""
    data_dir = data_dir.expanduser().absolute()
    running = find_running_server(data_dir)
    if running is not None:
        return running
    server = start_detached(data_dir, idle_exit_s=idle_exit_s, timeout=timeout)
    if announce is not None:
        announce(f"started the local server on {data_dir} ({server.url}, pid {server.pid})")
        announce(f"it stops {idle_exit_s:g}s after its last client and deploy; log: {data_dir / LOG_FILE}")
    return server


def start_detached(data_dir: Path, *, idle_exit_s: float | None = DEFAULT_IDLE_EXIT_S, timeout: float = 30.0) -> LocalServer:
    """Start a server on ``data_dir`` that outlives this process, and return it once it answers.

    If another console starts one at the same moment, the data dir's lock lets one win and this
    returns the winner; if ours lost to a server that was just stopping, ours is started again.
    LocalServerError (with the end of ``server.log``) when none comes up.
    """
    data_dir = data_dir.expanduser().absolute()
    try:
        data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    except OSError as exc:
        raise LocalServerError(f"cannot create the data dir {data_dir}: {exc.strerror or exc}") from None
    log_path = data_dir / LOG_FILE
    log_start = _prepare_log(log_path)
    extra = ("--idle-exit", f"{idle_exit_s:g}") if idle_exit_s is not None else ()
    deadline = time.monotonic() + timeout
    for _attempt in range(START_ATTEMPTS):
        proc = _spawn_detached(server_command(data_dir, *extra), data_dir, log_path)
        while time.monotonic() < deadline:
            server = find_running_server(data_dir, timeout=max(0.5, deadline - time.monotonic()))
            if server is not None:
                return server
            if proc.returncode is not None and not _lock_holder_alive(data_dir, besides=proc.pid):
                break  # ours is gone, and no other server holds the data dir
            time.sleep(0.05)  # another process is starting: nothing to wait on but its files
        else:
            raise LocalServerError(f"the local server did not answer within {timeout:g}s: "
                                   f"{_log_tail(log_path, log_start)} (log: {log_path})")
        if proc.returncode != EXIT_DATA_DIR_BUSY:
            break  # a real failure, not a lost race
    raise LocalServerError(f"the local server exited with code {proc.returncode}: "
                           f"{_log_tail(log_path, log_start)} (log: {log_path})")


def _spawn_detached(argv: list[str], data_dir: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """``argv`` in its own session, stdin /dev/null, output appended to ``log_path``, cwd ``data_dir``."""
    try:
        with open(log_path, "ab", opener=_private) as log:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                    cwd=data_dir, env=_server_env(), start_new_session=True)
    except OSError as exc:
        raise LocalServerError(f"cannot start the local server: {exc.strerror or exc}") from None
    # Reap it when it exits, so an exited server never lingers as our zombie (pid_alive would
    # still see a zombie's pid; Popen.poll cannot be used meanwhile: this wait holds its lock).
    threading.Thread(target=proc.wait, name="deploytui-server-reaper", daemon=True).start()
    return proc


def _private(path: str, flags: int) -> int:
    return os.open(path, flags, 0o600)


def _prepare_log(path: Path) -> int:
    """Rotate a large log once; the offset where this start's output will begin."""
    try:
        size = path.stat().st_size
    except OSError:
        return 0
    if size > LOG_ROTATE_BYTES:
        os.replace(path, path.with_name(path.name + ".1"))
        return 0
    return size


def _log_tail(path: Path, start: int, lines: int = 3) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(start)
            text = log.read().decode("utf-8", "replace")
    except OSError:
        return "no output"
    return "; ".join(line.strip() for line in text.splitlines()[-lines:] if line.strip()) or "no output"


def _lock_holder_alive(data_dir: Path, *, besides: int) -> bool:
    """Is a server other than ``besides`` holding (or taking) the data dir? Its pid is in the lock file."""
    pid = read_lock_pid(data_dir)
    return pid is not None and pid != besides and pid_alive(pid)


def wait_for_exit(pid: int, timeout: float) -> bool:
    """Wait until process ``pid`` (not necessarily our child) is gone; False after ``timeout``."""
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # no portable way to wait on a process that is not our child
    return True


# ---------------------------------------------------------------------------- a foreground child


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
    """Start ``deploytui serve --port 0`` on ``data_dir`` as a child with its output piped, and
    return once it accepts connections; :meth:`LocalServer.stop` ends it."""
    proc = subprocess.Popen(
        [*server_command(data_dir, "--wire", wire), *extra_args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=_server_env(user, password),
        start_new_session=True,  # a Ctrl-C in the test's terminal must not reach the server
    )
    lines: queue.Queue[str | None] = queue.Queue()
    output: list[str] = []
    threading.Thread(target=_pump, args=(proc.stdout, lines, output), daemon=True).start()
    url = _wait_ready(lines, timeout)
    if url is None:
        proc.kill()
        proc.wait(5)
        detail = "; ".join(output[-5:]) or "no output"
        raise LocalServerError(f"the embedded server did not start: {detail}")
    creds = (user, password) if user and password else read_credentials(data_dir)
    if creds is None:
        proc.kill()
        proc.wait(5)
        raise LocalServerError(f"the embedded server started but left no credentials in {data_dir}")
    return LocalServer(url=url, user=creds[0], password=creds[1], data_dir=data_dir, pid=proc.pid,
                       process=proc, output=output, wire=wire)


def _wait_ready(lines: queue.Queue[str | None], timeout: float) -> str | None:
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
