"""``deploytui web``: the dashboard in a browser, one dashboard session per tab (textual-serve).

textual-serve runs a command for each websocket a page opens and relays its screen; here the command
is ``deploytui`` itself with this command's connection options, so every tab is its own dashboard
process and every one of them talks to the same server: the data dir's local server (found, or
started once, by each session exactly as a terminal ``deploytui`` does) or the ``--url``/``--context``
one. Secrets given as flags reach the sessions through their environment, never their command line.

Whoever opens the page drives the console, so the wrapper guards every request
(:meth:`DashboardServer.guard`):

- on loopback (the default) the ``Host`` must be a loopback name, which a DNS-rebinding page cannot
  forge, and a websocket's ``Origin`` must be the page's own, so another site open in the same browser
  cannot drive the dashboard;
- ``--allow-remote`` (which a non-loopback bind needs; also for a loopback bind behind a proxy or
  a tunnel) requires a token generated at start, printed once inside the URL: a request without it
  (in the URL, or the cookie the first page sets) is refused with 403.
"""

from __future__ import annotations

import argparse
import asyncio
import hmac
import secrets
import shlex
import signal
import socket
import sys
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

import aiohttp_jinja2
from aiohttp import web
from textual_serve.app_service import AppService
from textual_serve.server import Server, to_int

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
DEFAULT_PORT = 9926
"""Beside the local server's 9925."""
TOKEN_COOKIE = "deploytui_web_token"
SHUTDOWN_GRACE_S = 5.0
SECRET_ENV = {"password": "DEPLOYTUI_PASSWORD", "token": "DEPLOYTUI_TOKEN"}
"""Connection secrets given as flags, handed to the sessions as environment variables instead."""


def session_command(args: argparse.Namespace, *, data_dir: str | None) -> list[str]:
    """The dashboard command each tab runs: ``deploytui`` with this command's options (no secrets)."""
    command = [sys.executable, "-m", "deploytui"]
    for flag in ("url", "user", "context"):
        value = getattr(args, flag, None)
        if value:
            command += [f"--{flag}", str(value)]
    if data_dir:
        command += ["--data-dir", data_dir]
    if getattr(args, "insecure", False):
        command.append("--insecure")
    if getattr(args, "theme", None):
        command += ["--theme", args.theme]
    if getattr(args, "follow", False):
        command.append("--follow")
    if getattr(args, "follow_pause", None) is not None:
        command += ["--follow-pause", str(args.follow_pause)]
    return command


def session_environment(args: argparse.Namespace) -> dict[str, str]:
    """The secrets given as flags, as the environment variables the sessions read them from."""
    return {env: str(getattr(args, flag)) for flag, env in SECRET_ENV.items() if getattr(args, flag, None)}


class DashboardSession(AppService):
    """One tab's dashboard process: with the session environment, and closing the tab's socket when the
    process ends for any reason (a dashboard that could not start leaves no page waiting forever)."""

    def __init__(self, command: str, *, environment: dict[str, str], **kwargs: Any) -> None:
        super().__init__(command, **kwargs)
        self._extra_environment = environment

    def _build_environment(self, width: int = 80, height: int = 24) -> dict[str, str]:
        environment = super()._build_environment(width, height)
        environment.update(self._extra_environment)
        return environment

    async def run(self) -> None:
        await super().run()
        await self.remote_close()


class DashboardServer(Server):
    """textual-serve's server with deploytui's guard, page and sessions (see the module docstring)."""

    def __init__(self, command: list[str], *, host: str, port: int, token: str | None,
                 environment: dict[str, str], font_size: int = 16, max_sessions: int = 16) -> None:
        super().__init__(shlex.join(command), host=host, port=port, title="deploytui")
        self.token = token
        self.environment = environment
        self.font_size = font_size
        self.max_sessions = max_sessions
        self.sockets: set[web.WebSocketResponse] = set()

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self.guard)
        return app

    # ------------------------------------------------------------------ the guard

    @web.middleware
    async def guard(self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]) -> web.StreamResponse:
        """Refuse what may not drive the dashboard (see the module docstring)."""
        from deploytui.config import is_loopback_host

        host = urlsplit(f"//{request.host}").hostname or ""
        if self.token is None and not is_loopback_host(host):
            raise web.HTTPForbidden(text=f"deploytui web: refused: Host {host!r} is not a loopback name\n")
        origin = request.headers.get("Origin")
        if origin is not None and request.path == "/ws" and urlsplit(origin).netloc != request.host:
            raise web.HTTPForbidden(text="deploytui web: refused: the websocket comes from another site\n")
        if self.token is None:
            return await handler(request)
        given = request.query.get("token") or request.cookies.get(TOKEN_COOKIE) or ""
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            raise web.HTTPForbidden(text="deploytui web: refused: open the URL with its token, as printed "
                                         "when `deploytui web` started\n")
        response = await handler(request)
        if request.query.get("token") and not response.prepared:
            # The page's scripts, styles and websocket do not carry the URL's token: the cookie does.
            response.set_cookie(TOKEN_COOKIE, self.token, httponly=True, samesite="Strict")
        return response

    # ------------------------------------------------------------------ the page and the sessions

    @aiohttp_jinja2.template("app_index.html")
    async def handle_index(self, request: web.Request) -> dict[str, Any]:
        """textual-serve's page, with URLs built from the address the browser used (not the bind
        address, which may be 0.0.0.0) and the ``--font-size`` default (``?fontsize=N`` overrides)."""
        websocket_scheme = "wss" if request.scheme == "https" else "ws"
        return {
            "font_size": to_int(request.query.get("fontsize", ""), self.font_size),
            "app_websocket_url": f"{websocket_scheme}://{request.host}/ws",
            "config": {"static": {"url": f"{request.scheme}://{request.host}/static/"}},
            "application": {"name": self.title},
        }

    async def handle_websocket(self, request: web.Request) -> web.WebSocketResponse:
        """Start a dashboard session for this tab and relay it until either side ends."""
        if len(self.sockets) >= self.max_sessions:
            raise web.HTTPServiceUnavailable(text=f"deploytui web: {self.max_sessions} sessions already open\n")
        websocket = web.WebSocketResponse(heartbeat=15)
        await websocket.prepare(request)
        self.sockets.add(websocket)
        session = DashboardSession(
            self.command, environment=self.environment, write_bytes=websocket.send_bytes,
            write_str=websocket.send_str, close=websocket.close, download_manager=self.download_manager,
        )
        try:
            await session.start(to_int(request.query.get("width", "80"), 80), to_int(request.query.get("height", "24"), 24))
            try:
                await self._process_messages(websocket, session)
            finally:
                await session.stop()
        except asyncio.CancelledError:
            await websocket.close()
        finally:
            self.sockets.discard(websocket)
        return websocket

    async def on_startup(self, app: web.Application) -> None:
        """Say nothing here: :func:`serve` prints the URL once the port is known."""

    async def on_shutdown(self, app: web.Application) -> None:
        """Close every tab's socket, which ends its session."""
        await asyncio.gather(*(ws.close() for ws in list(self.sockets)), return_exceptions=True)


def page_url(host: str, port: int, token: str | None) -> str:
    """The URL to open: a wildcard bind is shown with this machine's name."""
    if host in ("", "0.0.0.0", "::"):
        host = socket.gethostname()
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/" + (f"?token={token}" if token else "")


async def serve(server: DashboardServer, *, announce: Callable[[str], None]) -> None:
    """Serve until SIGINT or SIGTERM; ``announce`` gets the page's URL once the port is bound."""
    app = await server._make_app()
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=SHUTDOWN_GRACE_S, access_log=None)
    await runner.setup()
    try:
        site = web.TCPSite(runner, server.host, server.port)
        await site.start()
        port = runner.addresses[0][1]
        announce(page_url(server.host, port, server.token))
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
    finally:
        await runner.cleanup()


def _local_data_dir(args: argparse.Namespace) -> tuple[str, str]:
    """The local server's data dir and URL: found, or started now so the first tab opens at once."""
    from deploytui.config import data_dir_for, local_connection_for

    settings = local_connection_for(args)
    return str(data_dir_for(args).absolute()), settings.url


def run(args: argparse.Namespace) -> int:
    """Entry point of ``deploytui web``."""
    from deploytui.client.errors import DeploytuiError
    from deploytui.config import is_loopback_host, resolve_connection
    from deploytui.tui.launch import check_theme

    if not is_loopback_host(args.host) and not args.allow_remote:
        print(f"deploytui web: refusing to listen on non-loopback host {args.host!r} without --allow-remote "
              "(whoever opens the page drives the console)", file=sys.stderr)
        return EXIT_USAGE
    problem = check_theme(getattr(args, "theme", None))
    if problem:
        print(f"deploytui web: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = resolve_connection(args)
        data_dir, where = (None, settings.url) if settings is not None else _local_data_dir(args)
    except DeploytuiError as exc:
        print(f"deploytui web: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except Exception as exc:  # a bad contexts file: a message, not a traceback
        print(f"deploytui web: {exc}", file=sys.stderr)
        return EXIT_USAGE
    token = secrets.token_urlsafe(24) if args.allow_remote else None
    server = DashboardServer(session_command(args, data_dir=data_dir), host=args.host, port=args.port, token=token,
                             environment=session_environment(args), font_size=args.font_size,
                             max_sessions=args.max_sessions)

    def announce(url: str) -> None:
        print(f"deploytui web: the dashboard is at {url}", flush=True)
        print(f"deploytui web: each tab is its own dashboard session on {where}"
              + (f" (local server of {data_dir})" if data_dir else ""), flush=True)
        if token:
            print("deploytui web: the token in that URL is shown only now; without it requests are refused",
                  flush=True)
        print("deploytui web: ctrl+c stops serving (deploys go on)", flush=True)

    try:
        asyncio.run(serve(server, announce=announce))
    except OSError as exc:
        print(f"deploytui web: cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


__all__ = ["DEFAULT_PORT", "DashboardServer", "run", "session_command"]
