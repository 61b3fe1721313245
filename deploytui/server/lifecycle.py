"""The local server's life: one per data dir, who is connected, when it stops, how it is stopped.

* :class:`DataDirLock` — an exclusive ``flock`` on ``server.lock`` in the data dir, held for the
  server's whole life. The OS releases it when the process dies, however it dies, so a crash never
  leaves the data dir "taken"; a second server on the same data dir is refused with
  :class:`DataDirBusy`, naming the running one.
* :class:`Activity` and :class:`ActivityMiddleware` — HTTP requests in flight (SSE streams last as
  long as they are followed) and when the last one started or ended.
* :class:`ServerLife` — when the server started, its URL, its open client connections, and, for a
  server started on demand, the idle rule: it stops once no deploy runs, no client connection is
  open, no request is in flight and none came for ``idle_exit_s`` seconds
  (:meth:`ServerLife.stop_when_idle`). A dashboard polls every few seconds and a follower holds
  its stream open, so neither lets the server go.

The ``server_status`` and ``stop_server`` operations that report on it and end it are in
server/lifecycle_ops.py.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from starlette.types import ASGIApp, Receive, Scope, Send

from ..protocol.clock import now_ms
from ..protocol.local import LOCK_FILE, read_lock_pid, read_server_file

log = logging.getLogger("deploytui.server")


# ---------------------------------------------------------------------------- one server per data dir


class DataDirBusy(Exception):
    """Another server holds the data dir; the message names it (URL and pid when known)."""


class DataDirLock:
    """The exclusive lock that makes a process *the* server of a data dir.

    ``flock`` on an open file description: held until :meth:`release` or until the process ends,
    crash included. The file is opened close-on-exec, so installs the server starts never inherit it.
    """

    def __init__(self, data_dir: Path) -> None:
        self.path = data_dir / LOCK_FILE
        self._fd: int | None = None

    def acquire(self) -> None:
        """Take the lock without waiting and write our pid into the file; DataDirBusy if taken."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise DataDirBusy(f"a deploytui server is already running on {self.path.parent}: "
                              f"{describe_holder(self.path.parent)}; stop it with `deploytui server stop`") from None
        except BaseException:
            os.close(fd)
            raise
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Give the lock up (closing the descriptor releases it); idempotent."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def describe_holder(data_dir: Path) -> str:
    """``URL (pid N)`` of the server holding ``data_dir``, from its server.json; only the pid it
    wrote into the lock file while it is still starting (no server.json of its own yet)."""
    info, pid = read_server_file(data_dir), read_lock_pid(data_dir)
    if info is not None and info["pid"] == pid:
        return f"{info['url']} (pid {pid})"
    return f"pid {pid}, still starting" if pid is not None else "a server that is starting"


# ---------------------------------------------------------------------------- who is connected


class Activity:
    """HTTP requests in flight (an SSE stream is one for as long as it is followed), and when the
    last one started or ended."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self.open_requests = 0
        self.last_active = clock()

    def opened(self) -> None:
        self.open_requests += 1
        self.last_active = self._clock()

    def closed(self) -> None:
        self.open_requests -= 1
        self.last_active = self._clock()


class ActivityMiddleware:
    """ASGI middleware feeding :class:`Activity`: every HTTP request, for as long as it lasts."""

    def __init__(self, app: ASGIApp, activity: Activity) -> None:
        self.app = app
        self.activity = activity

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.activity.opened()
        try:
            await self.app(scope, receive, send)
        finally:
            self.activity.closed()


# ---------------------------------------------------------------------------- when it stops


@dataclass
class ServerLife:
    """What the lifecycle operations know of the running server; the runner fills it in."""

    url: str = ""
    idle_exit_s: float | None = None  # None: run until stopped (``deploytui serve`` without --idle-exit)
    started_at: int = field(default_factory=now_ms)
    activity: Activity = field(default_factory=Activity)
    request_stop: Callable[[], None] = lambda: None
    # Open client connections (uvicorn's own count: idle keep-alive connections and SSE streams too).
    open_connections: Callable[[], int] = lambda: 0

    async def stop_when_idle(self, busy: Callable[[], bool], clock: Callable[[], float] = time.monotonic,
                             interval: float | None = None) -> None:
        """Call :attr:`request_stop` once ``busy()`` (deploys running) is false, no client connection
        is open, no request is in flight and none came for :attr:`idle_exit_s` seconds (checked every
        ``interval`` seconds, by default a quarter of it, at most 1 s); return at once when unset."""
        idle = self.idle_exit_s
        if idle is None:
            return
        quiet_since = clock()
        while True:
            await asyncio.sleep(interval if interval is not None else max(0.05, min(1.0, idle / 4)))
            now = clock()
            if busy() or self.activity.open_requests or self.open_connections():
                quiet_since = now
                continue
            quiet_since = max(quiet_since, self.activity.last_active)
            if now - quiet_since >= idle:
                log.warning("deploytui: no client and no deploy for %gs: stopping", idle)
                self.request_stop()
                return
