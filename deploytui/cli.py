"""The ``deploytui`` command line.

Without a subcommand it opens the dashboard. ``serve`` runs the embedded server; ``server status|stop``
see and stop the one running on a data dir; ``list``, ``watch``, ``deploy``, ``activate`` and ``demo`` are headless,
for CI logs, pipes and scripts. Only the dashboard imports
Textual, and every command imports its own modules lazily so ``deploytui --help`` stays fast.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from importlib import import_module
from typing import Any

from . import __version__

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def _connection_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """The connection flags, on the top-level parser and again on each client command.

    Environment variables and contexts are read by :func:`deploytui.config.resolve_connection`, not
    here, so an explicit flag can be told from the environment. On subcommands the defaults are
    suppressed: ``deploytui --url X list`` keeps the X given before the command.
    """
    default = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("connection")
    group.add_argument("--url", default=default, help="Operations API URL (env DEPLOYTUI_URL)")
    group.add_argument("--user", default=default, help="user name (env DEPLOYTUI_USER)")
    group.add_argument("--password", default=default, help="password (env DEPLOYTUI_PASSWORD)")
    group.add_argument("--token", default=default, help="bearer operation token (env DEPLOYTUI_TOKEN)")
    group.add_argument("--insecure", action="store_true", default=False if top else argparse.SUPPRESS,
                       help="do not verify TLS certificates (self-signed Harper nodes; env DEPLOYTUI_INSECURE=1)")
    group.add_argument("--context", default=default, help="a named server from the contexts file (env DEPLOYTUI_CONTEXT; see README)")
    group.add_argument("--data-dir", default=default, help="data dir of the local embedded server (env DEPLOYTUI_DATA_DIR)")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="deploytui",
        description="Watch and drive Harper-style deployments. Without a command, opens the dashboard "
        "(on the embedded local server unless --url or --context is given).",
    )
    parser.add_argument("--version", action="version", version=f"deploytui {__version__}")
    _connection_options(parser, top=True)
    _dashboard_options(parser, top=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the embedded Harper-compatible server")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=9925, help="port (default 9925; 0 picks a free one)")
    serve.add_argument("--data-dir", default=argparse.SUPPRESS, help="where rows, events and payloads live (env DEPLOYTUI_DATA_DIR)")
    serve.add_argument("--user", default=os.environ.get("DEPLOYTUI_USER"), help="admin user (env DEPLOYTUI_USER)")
    serve.add_argument("--password", default=os.environ.get("DEPLOYTUI_PASSWORD"), help="admin password (env DEPLOYTUI_PASSWORD)")
    serve.add_argument("--peer", action="append", default=[], metavar="URL", help="replicate deploys to this deploytui server (repeatable)")
    serve.add_argument("--wire", choices=("deploytui", "harper"), default="deploytui", help="'harper' reproduces Harper 5.1's SSE wire: no ids, no keepalives")
    serve.add_argument("--allow-remote", action="store_true", help="allow a non-loopback --host")
    serve.add_argument("--max-body-mb", type=_positive_int, default=512, help="largest request body accepted (MiB)")
    serve.add_argument("--max-json-kb", type=_positive_int, default=1024,
                       help="largest JSON body apart from a base64 payload, and multipart text fields together (KiB)")
    serve.add_argument("--max-unpacked-mb", type=_positive_int, default=512,
                       help="most bytes a payload may unpack to, headers included (MiB)")
    serve.add_argument("--max-members", type=_positive_int, default=50_000, help="most entries a payload may hold")
    serve.add_argument("--retain-payload-mb", type=float, default=10, help="drop payloads above this size after success (MiB)")
    serve.add_argument("--idle-exit", type=_seconds, default=None, metavar="SECONDS",
                       help="stop once no deploy runs and no client was connected for SECONDS (default: run until "
                       "stopped; a server started on demand by a client uses 30)")

    server = sub.add_parser("server", help="see or stop the local server of a data dir")
    server_sub = server.add_subparsers(dest="server_command", metavar="ACTION", required=True)
    status = server_sub.add_parser("status", help="URL, pid, data dir, uptime, running deploys, connected clients")
    status.add_argument("--json", action="store_true", help="print JSON")
    stop = server_sub.add_parser("stop", help="stop the server (refused while deploys run, unless --force)")
    stop.add_argument("--force", action="store_true", help="stop even while deploys run: they end failed")
    for action in (status, stop):
        action.add_argument("--data-dir", default=argparse.SUPPRESS, help="the server's data dir (env DEPLOYTUI_DATA_DIR)")
        action.add_argument("--user", default=argparse.SUPPRESS, help="user, for a server started with its own (env DEPLOYTUI_USER)")
        action.add_argument("--password", default=argparse.SUPPRESS, help="password (env DEPLOYTUI_PASSWORD)")

    lst = sub.add_parser("list", help="list deployments, newest first")
    _connection_options(lst)
    lst.add_argument("--project")
    lst.add_argument("--status")
    lst.add_argument("--limit", type=int, default=50)
    lst.add_argument("--json", action="store_true", help="print JSON instead of a table")

    watch = sub.add_parser("watch", help="follow one deployment until it ends")
    _connection_options(watch)
    watch.add_argument("deployment_id", nargs="?", metavar="ID",
                       help="a deployment id or any unique prefix of one (default: the running deploy, else the newest)")
    mode = watch.add_mutually_exclusive_group()
    mode.add_argument("--json", action="store_true", help="one JSON object per typed event")
    mode.add_argument("--raw", action="store_true", help="one JSON object per SSE event, as received")

    deploy = sub.add_parser("deploy", help="deploy a local directory and follow it")
    _connection_options(deploy)
    deploy.add_argument("path")
    deploy.add_argument("--project")
    deploy.add_argument("--install-command")
    deploy.add_argument("--restart", action="store_true")
    deploy.add_argument("--stage-only", action="store_true",
                        help="build and install on every node but activate nothing: the deployment rests "
                        "'staged' until `deploytui activate ID` (two-phase servers only)")
    deploy.add_argument("--json", action="store_true", help="one JSON object per typed event")

    activate = sub.add_parser("activate", help="make a staged deployment go live and follow it")
    _connection_options(activate)
    activate.add_argument("deployment_id", metavar="ID", help="the staged deployment (any unique prefix of its id)")
    activate.add_argument("--restart", action="store_true", help="restart after activating")
    activate.add_argument("--json", action="store_true", help="one JSON object per typed event")

    demo = sub.add_parser("demo", help="deploy the bundled demo components")
    _connection_options(demo)
    demo.add_argument("names", nargs="*", help="which demos (default: all)")
    demo.add_argument("--no-wait", action="store_true", help="start the deploys and return")
    demo.add_argument("--tour", action="store_true",
                      help="deploy a story one step at a time: a quick success, a chatty install, a failing install, "
                      "a fix, a revert")
    demo.add_argument("--pace", type=_seconds_or_zero, default=5.0, metavar="SECONDS",
                      help="with --tour: the pause between steps (default 5; 0 for none)")

    web = sub.add_parser("web", help="serve the dashboard to a browser (one dashboard session per tab)")
    _connection_options(web)
    _dashboard_options(web)
    web.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    web.add_argument("--port", type=int, default=9926, help="port (default 9926; 0 picks a free one)")
    web.add_argument("--allow-remote", action="store_true",
                     help="allow a non-loopback --host (or a proxy in front); the page then needs the token "
                     "printed in its URL")
    web.add_argument("--font-size", type=_positive_int, default=16, help="the page's font size in px (default 16; "
                     "a URL's ?fontsize=N overrides)")
    web.add_argument("--max-sessions", type=_positive_int, default=16, help="most tabs open at once (default 16)")
    return parser


def _dashboard_options(parser: argparse.ArgumentParser, *, top: bool = False) -> None:
    """How the dashboard looks and behaves: on ``deploytui`` itself and on ``deploytui web``."""
    default = None if top else argparse.SUPPRESS
    group = parser.add_argument_group("dashboard")
    group.add_argument("--theme", default=default, metavar="NAME",
                       help="a Textual theme, e.g. textual-light for a projector (default: the saved one)")
    group.add_argument("--ascii", action="store_true", default=False if top else argparse.SUPPRESS,
                       help="ASCII glyphs only (spinner, status, bars, gutters); on by itself when TERM=linux")
    group.add_argument("--follow", action="store_true", default=False if top else argparse.SUPPRESS,
                       help="follow the action: open each new deploy as it starts, back to the list when it ends")
    group.add_argument("--follow-pause", type=_seconds_or_zero, default=default, metavar="SECONDS",
                       help="with --follow: how long a finished deploy stays on screen (default 4)")


def _more_than_zero(parse: Callable[[str], Any], what: str, least: str) -> Callable[[str], Any]:
    """An argparse type: ``text`` read by ``parse`` (``what`` names such a value), refused unless
    more than 0 (``least`` says what is the least accepted)."""

    def convert(text: str) -> Any:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not {what}: {text!r}") from None
        if not value > 0:  # NaN too
            raise argparse.ArgumentTypeError(f"must be {least}: {text!r}")
        return value

    return convert


_seconds = _more_than_zero(float, "a number of seconds", "more than 0 seconds")
_positive_int = _more_than_zero(int, "a whole number", "at least 1")


def _seconds_or_zero(text: str) -> float:
    """An argparse type: a number of seconds, 0 or more (a pause that may be none)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not 0 <= value < float("inf"):  # NaN too
        raise argparse.ArgumentTypeError(f"must be 0 seconds or more: {text!r}")
    return value


def run_serve(args: argparse.Namespace) -> int:
    from pathlib import Path

    from .config import is_loopback_host
    from .protocol.local import default_data_dir
    from .server.config import MiB, ServerConfig
    from .server.runner import run

    if not is_loopback_host(args.host) and not args.allow_remote:
        print(f"deploytui: refusing to listen on non-loopback host {args.host!r} without --allow-remote", file=sys.stderr)
        return EXIT_USAGE
    if bool(args.user) != bool(args.password):
        print("deploytui: give both --user and --password, or neither", file=sys.stderr)
        return EXIT_USAGE
    config = ServerConfig(
        data_dir=Path(args.data_dir).expanduser() if args.data_dir else default_data_dir(),
        host=args.host,
        port=args.port,
        user=args.user,
        password=args.password,
        peers=list(args.peer),
        wire=args.wire,
        max_body_bytes=args.max_body_mb * MiB,
        max_json_bytes=args.max_json_kb * 1024,
        max_unpacked_bytes=args.max_unpacked_mb * MiB,
        max_members=args.max_members,
        payload_retention_max_size=int(args.retain_payload_mb * MiB),
    )
    return run(config, idle_exit_s=args.idle_exit)


COMMANDS = {
    "list": "deploytui.commands.list_cmd",
    "watch": "deploytui.commands.watch_cmd",
    "deploy": "deploytui.commands.deploy_cmd",
    "activate": "deploytui.commands.activate_cmd",
    "demo": "deploytui.commands.demo_cmd",
    "server": "deploytui.commands.server_cmd",
    "web": "deploytui.tui.web_serve",
    None: "deploytui.tui.launch",
}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "serve":
        return run_serve(args)
    return import_module(COMMANDS[args.command]).run(args)


if __name__ == "__main__":
    sys.exit(main())
