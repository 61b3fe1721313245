"""``deploytui watch [ID]``: follow one deployment until it ends.

``ID`` may be any unique prefix of a deployment id (the dashboard shows 8 characters); a prefix that
matches several is refused (exit 2) naming them. Without ``ID``, ``watch`` follows the newest
deployment still running, else the newest one, as ``gh run watch`` does, and says on stderr which.
Ctrl-C stops watching, not the deploy: exit 130 and one line on stderr with the command to come
back.

Default and ``--json`` go through ``attach()`` (replay, then live, stitched and resumed; see
:mod:`.follow`). ``--raw`` is the wire itself: one JSON object per dispatched SSE event,
``{"event", "data", "id"}``, with ``data`` the string as received and ``id`` the stream's last event
ID (sticky, as the SSE spec defines it), before any interpretation (characters that could control
a terminal are JSON-escaped, so the line is still exactly what was received once decoded). So raw
reads the stream with :mod:`deploytui.client.sse` directly and follows the spec's reconnection rules
itself: after a dropped connection it waits the reconnection time and reconnects, sending
``Last-Event-ID`` when it is non-empty; a 204 or a refused (non-200, non-SSE) answer ends it. It
stops after ``done``, after a request-level ``error`` (one without a deploy ``phase``), or when the
server closes the stream after a deploy's ``error``.

Exit codes: 0 the deploy succeeded, 1 it failed, 2 usage, connection or authentication errors, 130
on Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import IO, Any

from deploytui.client.api import OperationsClient
from deploytui.client.errors import ConnectionFailed, DeploytuiError, StreamClosed
from deploytui.client.safe_text import json_dumps
from deploytui.client.retry import DEFAULT_RETRY_MS, Backoff, RetryPolicy
from deploytui.commands.common import (
    EXIT_USAGE,
    FollowedDeployment,
    StatusLine,
    fail,
    outcome,
    pick_deployment,
    resolve_deployment_id,
    run_client_command,
)
from deploytui.commands.follow import follow_deployment
from deploytui.protocol.deployment import is_terminal

__all__ = ["run", "watch_raw"]

# Connections in a row that end without a single event before raw gives up.
MAX_EMPTY_CONNECTIONS = 5
# The SSE spec's reconnection: the server's ``retry:`` (else the spec's few seconds), backed off
# and capped, never given up by time: MAX_EMPTY_CONNECTIONS ends a stream that has nothing to say.
RAW_RECONNECTS = RetryPolicy(initial_delay_ms=DEFAULT_RETRY_MS, give_up_after_s=math.inf)


def _json_or_none(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return None


class _RawOutcome:
    """What the raw stream has said so far about how the deployment ended."""

    def __init__(self) -> None:
        self.final_row: dict[str, Any] | None = None
        self.saw_done = False
        self.saw_deploy_error = False
        self.request_error: str | None = None  # an error event without a phase: the request failed

    def take(self, event: str, data: str) -> bool:
        """Record one event; True when it is the stream's last word (stop reading)."""
        if event == "done":
            self.saw_done = True
            payload = _json_or_none(data)
            result = payload.get("result") if isinstance(payload, dict) else None
            self.final_row = result if isinstance(result, dict) and "status" in result else None
            return True
        if event == "error":
            payload = _json_or_none(data)
            payload = payload if isinstance(payload, dict) else {}
            if isinstance(payload.get("phase"), str):
                self.saw_deploy_error = True
                return False  # the server may still send _recorder_finished / done
            if self.saw_deploy_error:
                return True  # Harper ≤ v2's framework error after the deploy's own: same failure
            self.request_error = str(payload.get("message") or data or "the server reported an error")
            return True
        return False

    def exit_code(self) -> int | None:
        return outcome(self.final_row, saw_error=self.saw_deploy_error, saw_done=self.saw_done)


async def watch_raw(client: OperationsClient, deployment_id: str, out: IO[str] | None = None,
                    followed: FollowedDeployment | None = None) -> int:
    """Print every SSE event of ``get_deployment`` as received; reconnect per the SSE spec.
    ``followed.ended`` is set once the stream has said its last word (for what Ctrl-C says)."""
    out = sys.stdout if out is None else out
    status = StatusLine()
    body = {"operation": "get_deployment", "deployment_id": deployment_id}
    backoff = Backoff(RAW_RECONNECTS)
    last_event_id = ""
    said = _RawOutcome()
    connected_once = False
    empty_in_a_row = 0
    while True:
        got_events = False
        finished = closed_cleanly = False
        try:
            async with client.stream_events(body, last_event_id=last_event_id or None) as stream:
                connected_once = True
                try:
                    async for message in stream:
                        got_events = True
                        line = {"event": message.event, "data": message.data, "id": message.id}
                        out.write(json_dumps(line) + "\n")
                        out.flush()
                        if said.take(message.event, message.data):
                            finished = True
                            if followed is not None:
                                followed.ended = True
                            break
                    closed_cleanly = not finished
                finally:
                    last_event_id = stream.last_event_id
                    if stream.retry_ms is not None:
                        backoff.retry_ms = stream.retry_ms
        except StreamClosed:
            break  # 204: the server says stop
        except ConnectionFailed as error:
            if not connected_once:
                raise
            failure: DeploytuiError | None = error
        else:
            failure = None
        if finished or (closed_cleanly and said.saw_deploy_error):
            break
        if got_events:
            backoff.progress()
            empty_in_a_row = 0
        else:
            empty_in_a_row += 1
            if empty_in_a_row >= MAX_EMPTY_CONNECTIONS:
                break
        why = f": {failure.message}" if failure else ": the server closed the stream"
        await backoff.wait(  # never gives up by itself under RAW_RECONNECTS
            lambda attempt, delay: status.note(f"reconnecting (attempt {attempt}, next in {delay:.1f} s){why}"))
    code = said.exit_code()
    if code is not None:
        return code
    if said.request_error:
        return fail(said.request_error)
    fail(f"the stream of deployment {deployment_id} ended before the deployment finished")
    return EXIT_USAGE


async def _chosen_id(client: OperationsClient, given: str | None, status: StatusLine) -> str:
    """The full id to watch: ``given`` resolved as a prefix, else the running (or newest) deploy."""
    if given is not None:
        return await resolve_deployment_id(client, given)
    row, running = await pick_deployment(client)
    deployment_id = row["deployment_id"]
    project = f" ({row['project']})" if isinstance(row.get("project"), str) else ""
    if running:
        status.note(f"watching the running deployment {deployment_id}{project}")
    else:
        status.note(f"no deployment is running; watching the newest, {deployment_id}{project}, "
                    f"status {row.get('status') or 'unknown'}")
    return deployment_id


def run(args: argparse.Namespace) -> int:
    """Entry point of ``deploytui watch``."""
    followed = FollowedDeployment()

    async def main(client: OperationsClient) -> int:
        deployment_id = await _chosen_id(client, args.deployment_id, StatusLine())
        followed.deployment_id = deployment_id
        if args.raw:
            return await watch_raw(client, deployment_id, followed=followed)
        # One plain request first: an unreachable server, refused credentials or an unknown id
        # are reported at once instead of being retried by attach() as if the stream had dropped.
        row = await client.get_deployment(deployment_id)
        followed.ended = isinstance(row, dict) and is_terminal(row.get("status"))  # Ctrl-C: nothing goes on
        return await follow_deployment(client, deployment_id, as_json=args.json, followed=followed)

    return run_client_command(args, main, followed=followed)
