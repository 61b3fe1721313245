"""Following one deployment to its end through ``attach()``, for ``watch`` and ``deploy``.

Events go to stdout — rendered like Harper's CLI (:class:`~deploytui.client.render.LineRenderer`) or
one JSON object per typed event (``--json``) — and are flushed one by one, so a CI log shows them
live. The connection's state (replaying, reconnecting with its attempt and delay) goes to stderr: an
updating line on a terminal, and in a pipe only what a log reader needs (reconnects, failures).
"""

from __future__ import annotations

import asyncio
import sys
from typing import IO, Any

from deploytui.client.api import OperationsClient
from deploytui.client.sse import EventStream
from deploytui.commands.common import EXIT_USAGE, FollowedDeployment, StatusLine, fail, outcome, retry_notes, use_color
from deploytui.protocol.events import DoneEvent, ErrorEvent, Event

__all__ = ["follow_deployment", "describe_state"]


def describe_state(state: Any) -> tuple[str, bool] | None:
    """``(text, worth_a_log_line)`` for an attach state, or None when there is nothing to say."""
    kind = state.kind
    if kind == "connecting":
        return "connecting…", False
    if kind == "replaying":
        return "replaying history…", False
    if kind == "live":
        return "live", False
    if kind == "reconnecting":
        delay = f", next in {state.next_retry_s:.1f} s" if state.next_retry_s is not None else ""
        detail = f": {state.message}" if state.message else ""
        return f"reconnecting (attempt {state.attempt}{delay}){detail}", True
    if kind == "verifying":
        return "verifying against the final row…", False
    if kind == "done":
        if state.backfilled:
            return f"recovered {state.backfilled} missed event(s) from the final row", True
        return None
    if kind == "failed":
        return None  # reported once, as the command's error line
    return None


async def follow_deployment(
    client: OperationsClient,
    deployment_id: str | None,
    *,
    as_json: bool,
    out: IO[str] | None = None,
    initial_stream: EventStream | None = None,
    project: str | None = None,
    started_after_ms: int | None = None,
    announce_id: bool = False,
    followed: FollowedDeployment | None = None,
) -> int:
    """Stream ``deployment_id`` to ``out`` until it ends; the exit code (0 success, 1 failed, 2 lost).

    With a deploy's ``initial_stream`` the id may be None (Harper names none): ``attach()`` finds it
    from ``project`` and ``started_after_ms`` if the stream drops, and ``announce_id`` prints it on
    stderr as soon as it is known (Harper names it only in ``done`` or ``error``). The summary's
    duration is the final row's (``started_at`` to ``completed_at``), never this client's clock.
    ``followed`` is kept up to date (the id once known, whether the deploy ended) for what Ctrl-C says.
    """
    from deploytui.client.attach import attach
    from deploytui.client.render import LineRenderer, json_line
    from deploytui.client.view import DeploymentView

    out = sys.stdout if out is None else out
    status = StatusLine()

    def on_state(state: Any) -> None:
        said = describe_state(state)
        if said is None:
            status.clear()
        elif said[1]:
            status.note(said[0])
        else:
            status.update(said[0])

    client.on_retry = retry_notes(status)
    announced = not announce_id

    def announce() -> None:
        nonlocal announced
        if not announced and attachment.deployment_id:
            announced = True
            status.note(f"deployment {attachment.deployment_id}")

    renderer = None
    if not as_json:
        view = DeploymentView(deployment_id)
        view.project = project  # a deploy's stream never names its project; the summary should
        renderer = LineRenderer(out, color=use_color(out), show_time=False, view=view)
    saw_error = saw_done = False
    attachment = attach(client, deployment_id, on_state=on_state, initial_stream=initial_stream,
                        project=project, started_after_ms=started_after_ms)
    try:
        async for event in attachment:
            status.clear()
            announce()
            if isinstance(event, DoneEvent) and renderer is not None and isinstance(attachment.final_row, dict):
                renderer.view.apply_row(attachment.final_row)  # the server's times for the summary
            _emit(event, out, renderer, json_line)
            saw_error = saw_error or isinstance(event, ErrorEvent)
            saw_done = saw_done or isinstance(event, DoneEvent)
            if followed is not None:
                followed.deployment_id = attachment.deployment_id or followed.deployment_id
                followed.ended = followed.ended or saw_done
            # Let a pending Ctrl-C land: replayed events come from a full queue without a pause
            # in which the loop could deliver the cancellation, so it would wait for the end.
            await asyncio.sleep(0)
    finally:
        status.clear()
        await attachment.aclose()
    announce()
    if renderer is not None:
        if not saw_done and isinstance(attachment.final_row, dict):
            renderer.view.apply_row(attachment.final_row)
        renderer.finish()  # the summary line, also when the stream ended without ``done``
    code = outcome(attachment.final_row, saw_error=saw_error, saw_done=saw_done)
    if code is not None:
        return code
    state = attachment.state
    reason = state.message if state.kind == "failed" and state.message else "the stream ended before the deployment finished"
    fail(f"lost deployment {attachment.deployment_id or deployment_id or '(unknown id)'}: {reason}")
    return EXIT_USAGE


def _emit(event: Event, out: IO[str], renderer: Any, json_line: Any) -> None:
    if renderer is None:
        out.write(json_line(event) + "\n")
    else:
        renderer.render(event)
    out.flush()
