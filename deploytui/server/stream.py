"""The SSE body of ``get_deployment`` and ``deploy_component``: replay, then live, then ``done``.

:func:`deployment_events` yields the items an ``sse_starlette.EventSourceResponse`` (created with
``ping=0, sep="\\n"``) writes. Unlike Harper's tailer (contract §6.2), it subscribes *before* it
reads the store and stitches the two by seq, so an event is never lost or repeated where replay
meets live, and it sends ``done`` only after the terminal row is committed.

In the ``deploytui`` wire every event carries ``id: <seq>`` (so ``Last-Event-ID`` resumes exactly)
and object payloads carry ``"t"``. Keepalives are raw ``b": keepalive\\n"`` bytes: a comment line
with no blank line after it, so httpx-sse never dispatches a phantom empty event (contract §4.6).
The ``harper`` wire drops ids, ``t``, keepalives and resume, and replays the row's bounded
``event_log`` rather than the full history, like Harper 5.1.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

from sse_starlette import ServerSentEvent

from deploytui.protocol.events import DONE, ERROR

from .harper_wire import event_log_view, row_view
from .recorder import LOG_SEQ, TIMEOUT, EventHub
from .store import Store, strip_row, to_json

# Returned by a done_result callback to end the stream without a done event (a failed deploy's
# stream ends after its error event, as Harper's does).
NO_DONE = object()

KEEPALIVE = b": keepalive\n"
OPEN = {"comment": "stream open"}


def resume_after(wire: str, last_event_id: str | None) -> int:
    """The seq to replay after: Last-Event-ID in our wire when it is an integer, else 0 (all)."""
    if wire != "deploytui" or not last_event_id:
        return 0
    try:
        return max(0, int(last_event_id.strip()))
    except ValueError:
        return 0


def encode_event(event: dict, wire: str) -> bytes:
    """One event as the bytes of an SSE record (``data`` always present, LF line ends)."""
    return ServerSentEvent(**sse_item(event, wire), sep="\n").encode()


def sse_item(event: dict, wire: str) -> dict[str, str]:
    """One stored or live event ``{seq, t, event, data}`` as an EventSourceResponse item."""
    data = event["data"]
    if wire == "harper":
        return {"event": event["event"], "data": to_json(data)}
    if isinstance(data, dict):
        data = {**data, "t": event["t"]}
    return {"event": event["event"], "data": to_json(data), "id": str(event["seq"])}


async def deployment_events(
    store: Store,
    hub: EventHub,
    deployment_id: str,
    *,
    wire: str,
    last_event_id: str | None,
    keepalive_seconds: float,
    done_result: Callable[[dict], Awaitable[Any]] | None = None,
) -> AsyncIterator[dict | bytes]:
    """Replay a deployment's events, follow it live until its recording ends, then ``done``.

    ``done``'s result is ``await done_result(row)`` (or the stripped row) for the re-read terminal
    row; :data:`NO_DONE` from ``done_result`` ends the stream without it. A deployment that is not
    being recorded (finished, or a crashed server's leftover) replays and ends at once. The caller
    checks that the deployment exists; a row missing at the end gives Harper's in-band error.
    """
    yield OPEN
    after_seq = resume_after(wire, last_event_id)
    if wire == "harper":
        # Harper replays the row's bounded event_log (truncation marker included), then goes live.
        row = await store.get_row(deployment_id) or {}
        for entry in event_log_view(row.get("event_log") or [], wire):
            yield {"event": entry["event"], "data": to_json(entry["data"])}
        after_seq = int(row.get(LOG_SEQ) or 0)
    # The subscription reads the store from the resume point before it goes live, stitching the
    # two by seq, so an event committed meanwhile is neither lost nor repeated.
    subscription = hub.subscribe(deployment_id, after_seq=after_seq)
    keepalive = keepalive_seconds if wire == "deploytui" and keepalive_seconds > 0 else None
    try:
        # One write per committed batch, its bytes encoded once and shared by every watcher.
        while (batch := await subscription.get_batch(keepalive)) is not None:
            yield KEEPALIVE if batch is TIMEOUT else batch.encoded(wire, encode_event)
    finally:
        subscription.close()  # at once, also when the client went away (cancellation)
    final = await _final_item(hub, deployment_id, wire, done_result)
    if final is not None:
        yield final


async def _final_item(hub: EventHub, deployment_id: str, wire: str,
                      done_result: Callable[[dict], Awaitable[Any]] | None) -> dict | bytes | None:
    """``done {result}`` for the re-read row (no id: it is not a stored event), or None.

    Without ``done_result`` it is the same for every watcher of the deployment, so watchers ending
    together share one read and one encoding of it.
    """
    if done_result is None:
        return await hub.shared(("done", deployment_id, wire), lambda: _encoded_done(hub, deployment_id, wire))
    row = await hub.shared_row(deployment_id)
    if row is None:
        return _missing(deployment_id)
    result = await done_result(row)
    if result is NO_DONE:
        return None
    return {"event": DONE, "data": to_json({"result": result})}


async def _encoded_done(hub: EventHub, deployment_id: str, wire: str) -> bytes:
    row = await hub.shared_row(deployment_id)
    item = _missing(deployment_id) if row is None else {
        "event": DONE, "data": to_json({"result": row_view(strip_row(row), wire)})}
    return ServerSentEvent(**item, sep="\n").encode()


def _missing(deployment_id: str) -> dict:
    """Harper's in-band error for a row gone by the end of its stream."""
    message = f"No deployment found with id '{deployment_id}'"
    return {"event": ERROR, "data": to_json({"message": message, "code": 400})}
