"""Open the dashboard: resolve which server to talk to, start the embedded one if needed, run the app.

``deploytui`` with no connection option starts the embedded server as a child process (loopback,
free port, the default data dir and its stored credentials) and stops it on exit — normal exit,
exception, or interpreter shutdown (try/finally plus ``atexit``), so no server is left behind.
``--url``/``--context`` connect to that server instead and start nothing.

The TUI never imports server code: the data dir rule lives in :mod:`deploytui.protocol.local`.
"""

from __future__ import annotations

import argparse
import atexit
import gc
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from deploytui.protocol.local import default_data_dir

if TYPE_CHECKING:
    from deploytui.client.api import ConnectionSettings
    from deploytui.client.local import LocalServer

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def resolve_connection(args: argparse.Namespace) -> ConnectionSettings | None:
    """The server the flags, environment or ``--context`` name; None means "use the embedded server"."""
    from deploytui.config import resolve_connection as from_config

    return from_config(args)


class LaunchError(Exception):
    """The dashboard cannot start; the message says why, for stderr."""


def _exit_on_signals() -> None:
    """Turn SIGHUP/SIGTERM (a closed terminal, a tmux kill, ``kill``) into SystemExit, so the
    ``finally`` that stops the embedded server runs (``atexit`` alone does not run on a signal death)."""

    def handler(signum: int, frame: object) -> None:
        raise SystemExit(128 + signum)

    for name in ("SIGHUP", "SIGTERM"):
        sig = getattr(signal, name, None)
        if sig is not None:
            try:
                signal.signal(sig, handler)
            except (ValueError, OSError):  # not the main thread
                pass


class ServerGuard:
    """Owns the embedded server child: stops it exactly once, from ``finally`` or from ``atexit``."""

    def __init__(self, server: LocalServer) -> None:
        self.server = server
        self._stopped = False
        atexit.register(self.stop)

    def stop(self) -> None:
        """Stop the child (SIGTERM, then SIGKILL after a grace period); idempotent."""
        if self._stopped:
            return
        self._stopped = True
        try:
            self.server.stop()
        finally:
            atexit.unregister(self.stop)


def start_embedded_server(data_dir: Path) -> LocalServer:
    """Start ``deploytui serve`` on ``data_dir`` as a child; LaunchError with the reason when it fails."""
    from deploytui.client.local import LocalServerError, spawn_server

    try:
        data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LaunchError(f"cannot create the data dir {data_dir}: {exc.strerror or exc}") from None
    try:
        return spawn_server(data_dir)
    except LocalServerError as exc:
        raise LaunchError(str(exc)) from None
    except OSError as exc:
        raise LaunchError(f"cannot start the embedded server: {exc}") from None


def tune_gc() -> None:
    """Collect the young generation less often in the dashboard's process.

    A chatty install holds a hundred thousand small line objects; with CPython's default
    thresholds, full collections walking them stalled the UI for 150+ ms at a time while lines
    poured in (bench/bench_dashboard_install.py). The line objects hold no reference cycles, so
    collecting less often frees nothing later than it should.
    """
    gc.set_threshold(50_000, 20, 100)


def run(args: argparse.Namespace, *, app_factory: Callable[..., object] | None = None) -> int:
    """Entry point of ``deploytui`` without a subcommand; returns the process exit code."""
    tune_gc()
    try:
        settings = resolve_connection(args)
    except LaunchError as exc:
        print(f"deploytui: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except Exception as exc:  # config errors (a bad contexts file) must read as a message, not a traceback
        print(f"deploytui: {exc}", file=sys.stderr)
        return EXIT_USAGE

    guard: ServerGuard | None = None
    embedded = settings is None
    if embedded:
        data_dir = Path(args.data_dir).expanduser() if getattr(args, "data_dir", None) else default_data_dir()
        print(f"deploytui: starting the embedded server on {data_dir} …", file=sys.stderr, flush=True)
        try:
            server = start_embedded_server(data_dir)
        except LaunchError as exc:
            print(f"deploytui: the embedded server could not start: {exc}", file=sys.stderr)
            print("deploytui: try `deploytui serve` to see its output, or connect elsewhere with --url", file=sys.stderr)
            return EXIT_FAILED
        guard = ServerGuard(server)
        _exit_on_signals()
        from deploytui.client.api import ConnectionSettings

        settings = ConnectionSettings(url=server.url, user=server.user, password=server.password)
    try:
        if app_factory is None:
            from deploytui.tui.app import DeploytuiApp

            app_factory = DeploytuiApp
        app = app_factory(settings, embedded=embedded, context=getattr(args, "context", None))
        result = app.run()  # type: ignore[attr-defined]
        return int(getattr(app, "return_code", None) or (result if isinstance(result, int) else 0) or 0)
    finally:
        if guard is not None:
            guard.stop()
