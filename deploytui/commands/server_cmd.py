"""``deploytui server status|stop``: see or stop the local server of a data dir.

Both act on the server running on ``--data-dir`` (else ``$DEPLOYTUI_DATA_DIR``, else the per-user
data dir) and never start one. They use two operations the embedded server adds to Harper's API,
behind the same authentication as the others (the data dir's stored credentials, or
``--user/--password`` for a server started with its own):

* ``server_status``: URL, pid, data dir, uptime, idle rule, connected clients, running deploys.
  No server running: a line on stderr, exit 1 (``--json``: ``{"running": false}`` on stdout).
* ``stop_server``: refused while deploys run (exit 1, naming them) unless ``--force``, which ends
  them ``failed`` "stopped by the operator"; then this waits for the process to be gone. Nothing
  running: nothing to do, exit 0.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path
from typing import Any

from deploytui.client.ansi import strip_controls
from deploytui.client.api import OperationsClient
from deploytui.client.errors import ConflictError
from deploytui.client.humanize import duration, now_ms
from deploytui.client.local import find_running_server, wait_for_exit
from deploytui.client.safe_text import json_dumps
from deploytui.commands.common import EXIT_FAILED, EXIT_OK, run_client_command
from deploytui.protocol.local import LOG_FILE

__all__ = ["run", "render_status"]

STOP_WAIT_S = 20.0  # a stopping server finishes its requests (2 s grace) and closes its store


def run(args: argparse.Namespace) -> int:
    from deploytui.config import data_dir_for, local_connection_for

    data_dir = data_dir_for(args).absolute()
    if find_running_server(data_dir) is None:
        if args.server_command == "stop":
            print(f"deploytui: no server is running on {data_dir}; nothing to stop", file=sys.stderr)
            return EXIT_OK
        if getattr(args, "json", False):
            print(json_dumps({"running": False, "data_dir": str(data_dir)}))
        else:
            print(f"deploytui: no server is running on {data_dir}", file=sys.stderr)
        return EXIT_FAILED

    async def main(client: OperationsClient) -> int:
        if args.server_command == "stop":
            return await _stop(client, data_dir, force=args.force)
        status = await client.call("server_status")
        status = {"running": True, **status, "log": str(data_dir / LOG_FILE) if (data_dir / LOG_FILE).exists() else None}
        print(json_dumps(status) if args.json else render_status(status))
        return EXIT_OK

    return run_client_command(args, main, connect=lambda a: local_connection_for(a, start=False))


async def _stop(client: OperationsClient, data_dir: Path, *, force: bool) -> int:
    try:
        answer = await client.call("stop_server", force=True if force else None)
    except ConflictError as exc:
        running = exc.details.get("running") if isinstance(exc.details, dict) else None
        what = _deploy_list(running) if isinstance(running, list) else strip_controls(exc.message)
        print(f"deploytui: not stopping the server on {data_dir}: deploys are running: {what}. Wait for "
              "them, or `deploytui server stop --force` ends them failed.", file=sys.stderr)
        return EXIT_FAILED
    failed = answer.get("failed") or []
    if failed:
        print(f"deploytui: {len(failed)} deploy(s) ended failed, stopped by the operator: "
              f"{', '.join(strip_controls(str(i)) for i in failed)}", file=sys.stderr)
    pid = answer.get("pid")
    if isinstance(pid, int) and not await asyncio.to_thread(wait_for_exit, pid, STOP_WAIT_S):
        print(f"deploytui: the server (pid {pid}) was asked to stop but still runs after {STOP_WAIT_S:g}s",
              file=sys.stderr)
        return EXIT_FAILED
    print(f"deploytui: the server on {data_dir} (pid {pid}) has stopped", file=sys.stderr)
    return EXIT_OK


def _deploy_list(rows: list[Any]) -> str:
    return ", ".join(f"{strip_controls(str(r.get('project')))} ({strip_controls(str(r.get('phase') or r.get('status')))}, "
                     f"{strip_controls(str(r.get('deployment_id')))})" for r in rows if isinstance(r, dict))


def render_status(status: dict[str, Any], now: int | None = None) -> str:
    """The ``server status`` answer for a person: one field a line, the running deploys below."""
    now = now_ms() if now is None else now
    idle = status.get("idle_exit_s")
    started = status.get("started_at")
    running = [r for r in status.get("running") or [] if isinstance(r, dict)]
    uptime = duration(now - started) if isinstance(started, (int, float)) else "?"
    fields = [
        ("url", status.get("url")),
        ("pid", status.get("pid")),
        ("data dir", status.get("data_dir")),
        ("up", uptime),
        ("stops", f"by itself, {idle:g}s after its last client and deploy" if isinstance(idle, (int, float))
         else "when stopped (`deploytui server stop`)"),
        ("clients", f"{status.get('connections', 0)} connection(s)"),
        *([("log", status["log"])] if status.get("log") else []),
        ("deploys", f"{len(running)} running" if running else "none running"),
    ]
    lines = [f"{name:<9} {strip_controls(str(value))}" for name, value in fields]
    for row in running:
        lines.append(f"  {_deploy_list([row])}")
    return "\n".join(lines)
