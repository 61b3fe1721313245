"""Messages that workers post to screens: the only way background I/O reaches the widgets.

Workers never touch a widget; they post one of these and a handler on the screen updates what is
shown. Each message carries plain data (rows, events, states), never a widget.

Plain classes, as Textual's own messages are: eleven dataclasses took ~3 ms to create at import,
on the list's way to its first frame.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message


class DeploymentsFetched(Message):
    """One ``list_deployments`` poll came back: rows newest first and the server's total."""

    def __init__(self, rows: list[dict[str, Any]], total: int) -> None:
        super().__init__()
        self.rows = rows
        self.total = total


class OlderDeploymentsFetched(Message):
    """A page of rows past the polled newest ones (the user scrolled to the end of what was loaded)."""

    def __init__(self, rows: list[dict[str, Any]], total: int, search: str) -> None:
        super().__init__()
        self.rows = rows
        self.total = total
        self.search = search


class ConnectionChanged(Message):
    """The server answered (``ok``) or stopped answering (``message`` says why).

    ``refused`` marks an answer that retrying will not change: the credentials were refused (401)
    or the user may not list deployments (403).
    """

    def __init__(self, ok: bool, message: str | None = None, version: str | None = None, *,
                 refused: bool = False) -> None:
        super().__init__()
        self.ok = ok
        self.message = message
        self.version = version
        self.refused = refused


class OperationsLearnt(Message):
    """Which optional operations the server has is known (``OperationsClient.learn_operations``)."""


class RowFetched(Message):
    """A fresh copy of one deployment row (``get_deployment``)."""

    def __init__(self, row: dict[str, Any]) -> None:
        super().__init__()
        self.row = row


class StreamStateChanged(Message):
    """The attach stream changed state (an ``AttachState``: replaying, live, reconnecting, done…)."""

    def __init__(self, state: Any) -> None:
        super().__init__()
        self.state = state


class StreamBatch(Message):
    """Events folded since the last batch (at most one batch per frame).

    ``events`` are the typed events in order; the screen reads the folded state (lines, phases,
    peers, error) from the stream model it shares with the worker. ``generation`` says which attach
    produced it: a reattach drops what the stream it replaced still had queued.
    """

    def __init__(self, events: list[Any] | None = None, final: bool = False, generation: int = 0) -> None:
        super().__init__()
        self.events: list[Any] = [] if events is None else events
        self.final = final
        self.generation = generation


class DeploymentStarted(Message):
    """A deploy submitted from the form has a deployment id (from ``X-Deployment-Id``)."""

    def __init__(self, deployment_id: str) -> None:
        super().__init__()
        self.deployment_id = deployment_id


class HistoryLoaded(Message):
    """The full event history (``get_deployment_events``) was read, folded into ``view`` (a
    ``DeploymentView`` bounded to the screen's line window) from ``events`` events."""

    def __init__(self, view: Any, events: int) -> None:
        super().__init__()
        self.view = view
        self.events = events


class OperationFailed(Message):
    """A background operation failed; ``title`` names it and ``message`` says why."""

    def __init__(self, title: str, message: str) -> None:
        super().__init__()
        self.title = title
        self.message = message


class OperationDone(Message):
    """A background operation (revert, delete payload, save) finished; ``message`` for a toast."""

    def __init__(self, title: str, message: str, result: Any = None) -> None:
        super().__init__()
        self.title = title
        self.message = message
        self.result = result
