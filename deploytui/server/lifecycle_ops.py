"""The ``server_status`` and ``stop_server`` operations: our additions to Harper's API.

Behind the same authentication as every other operation, they are what ``deploytui server
status|stop`` call. ``stop_server`` refuses while deploys run unless ``force`` is true; then they end
``failed`` "stopped by the operator", with Harper's ``error`` event, before the server exits. The
server's life they report on and end is :class:`~deploytui.server.lifecycle.ServerLife`.
"""

from __future__ import annotations

import asyncio
import logging
import os
from typing import Any

from .. import __version__
from ..protocol.clock import now_ms
from .context import ServerContext
from .operations import OperationCall, OperationError

log = logging.getLogger(__name__)

STOPPED_BY_OPERATOR = "stopped by the operator"


def _running_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row.get(key) for key in ("deployment_id", "project", "status", "phase", "started_at")}


def _describe_running(rows: list[dict[str, Any]]) -> str:
    return ", ".join(f"{r.get('project')} ({r.get('phase') or r.get('status')}, {r['deployment_id']})" for r in rows)


async def server_status(ctx: ServerContext, call: OperationCall) -> dict[str, Any]:
    """Who this server is, since when, who is connected and what it is deploying."""
    life = ctx.life
    running = await ctx.store.nonterminal_rows()
    return {
        "pid": os.getpid(),
        "url": life.url,
        "data_dir": str(ctx.config.data_dir),
        "started_at": life.started_at,
        "uptime_s": round((now_ms() - life.started_at) / 1000, 1),
        "idle_exit_s": life.idle_exit_s,
        "connections": max(0, life.open_connections() - 1),  # not counting the one asking
        "running": [_running_summary(row) for row in running],
        "version": __version__,
        "wire": ctx.config.wire,
    }


async def stop_server(ctx: ServerContext, call: OperationCall) -> dict[str, Any]:
    """Stop the server; refused (409) while deploys run unless ``force`` is true, which fails them."""
    force = call.fields.get("force") in (True, "true")
    running = await ctx.store.nonterminal_rows()
    if running and not force:
        message = (f"{len(running)} deployment(s) still running: {_describe_running(running)}; "
                   "stopping with force fails them")
        raise OperationError(message, 409, {"error": message, "running": [_running_summary(r) for r in running]})
    # Cancelling a deploy's task ends its install (run_install kills the process group on the way out);
    # its row is then failed with Harper's error event, so its followers see how it ended.
    tasks = list(ctx.tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    running = await ctx.store.nonterminal_rows()  # again: one may have begun meanwhile
    for row in running:
        await ctx.engine.end_unfinished(row, STOPPED_BY_OPERATOR)
    log.warning("deploytui: stopped by the operator (%s)", call.user)
    ctx.life.request_stop()
    return {"message": "the server is stopping", "pid": os.getpid(),
            "failed": [row["deployment_id"] for row in running]}


HANDLERS = {"server_status": server_status, "stop_server": stop_server}
