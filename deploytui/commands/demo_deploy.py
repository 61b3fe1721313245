"""One demo directory deployed and followed to its end: what ``deploytui demo`` and its ``--tour`` share.

The directory is packed and uploaded like ``deploytui deploy`` does — never sent as a ``file:``
package, which would name a directory on the *server's* filesystem and so only work against a local
server. Server text in the result is made safe by :mod:`deploytui.client.ansi`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from deploytui.client.ansi import strip_controls
from deploytui.client.api import OperationsClient
from deploytui.client.humanize import now_ms
from deploytui.client.pack import scan_directory
from deploytui.commands.common import EXIT_OK, StatusLine, outcome
from deploytui.commands.deploy_cmd import open_deploy
from deploytui.protocol.events import DoneEvent, ErrorEvent

__all__ = ["deploy_directory", "result_text"]


def result_text(row: dict[str, Any] | None, error: ErrorEvent | None, code: int | None) -> str:
    if code == EXIT_OK:
        return "success"
    if code is None:
        return "unknown (the stream ended early)"
    if error is not None:
        where = f" in {strip_controls(error.phase)}" if error.phase else ""
        return f"failed{where}: {' '.join(strip_controls(error.message).split())}"
    message = (row or {}).get("error", {}) or {}
    if isinstance(message, dict):
        return f"failed: {' '.join(strip_controls(str(message.get('message', 'see deploytui watch'))).split())}"
    return "failed"


async def deploy_directory(
    client: OperationsClient, path: Any, project: str, install_command: str, *, wait: bool, status: StatusLine,
    label: str = "", accepted: Callable[[str | None], None] | None = None,
) -> tuple[int | None, str, str] | None:
    """Pack, upload and (``wait``) follow one deploy of ``path`` as ``project``: its outcome code (None
    when its end was not seen), deployment id and result text; None when not waited for.
    ``accepted`` hears the deployment id once the server has taken the deploy."""
    from deploytui.client.attach import attach

    fields = {"project": project, "install_command": install_command}
    plan = await asyncio.to_thread(scan_directory, path)
    async with open_deploy(client, plan, fields, status=status, label=label) as (stream, deployment_id):
        if not wait:
            # Wait for the first event: once the pipeline has begun, the payload is stored and the
            # deploy no longer depends on this connection.
            async for message in stream:
                if message.event in ("phase", "error", "done"):
                    break
            if accepted is not None:
                accepted(deployment_id)
            return None
        if accepted is not None:
            accepted(deployment_id)
        error: ErrorEvent | None = None
        saw_done = False
        attachment = attach(client, deployment_id, initial_stream=stream, project=project,
                            started_after_ms=now_ms() - 5_000)
        try:
            async for event in attachment:
                if isinstance(event, ErrorEvent) and error is None:
                    error = event
                saw_done = saw_done or isinstance(event, DoneEvent)
        finally:
            await attachment.aclose()
    code = outcome(attachment.final_row, saw_error=error is not None, saw_done=saw_done)
    deployment_id = attachment.deployment_id or deployment_id or "(id not reported)"
    return code, deployment_id, result_text(attachment.final_row, error, code)
