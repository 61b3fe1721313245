"""Messages that workers post to screens: the only way background I/O reaches the widgets.

Workers never touch a widget; they post one of these and a handler on the screen updates what is
shown. Each message carries plain data (rows, events, states), never a widget.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from textual.message import Message


@dataclass
class DeploymentsFetched(Message):
    """One ``list_deployments`` poll came back: rows newest first and the server's total."""

    rows: list[dict[str, Any]]
    total: int


@dataclass
class OlderDeploymentsFetched(Message):
    """A page of rows past the polled newest ones (the user scrolled to the end of what was loaded)."""

    rows: list[dict[str, Any]]
    total: int
    search: str


@dataclass
class ConnectionChanged(Message):
    """The server answered (``ok``) or stopped answering (``message`` says why).

    ``refused`` marks an answer that retrying will not change: the credentials were refused (401)
    or the user may not list deployments (403).
    """

    ok: bool
    message: str | None = None
    version: str | None = None
    refused: bool = False


@dataclass
class OperationsLearnt(Message):
    """Which optional operations the server has is known (``OperationsClient.learn_operations``)."""


@dataclass
class RowFetched(Message):
    """A fresh copy of one deployment row (``get_deployment``)."""

    row: dict[str, Any]


@dataclass
class StreamStateChanged(Message):
    """The attach stream changed state (an ``AttachState``: replaying, live, reconnecting, done…)."""

    state: Any


@dataclass
class StreamBatch(Message):
    """Events folded since the last batch (at most one batch per frame).

    ``events`` are the typed events in order; the screen reads the folded state (lines, phases,
    peers, error) from the stream model it shares with the worker.
    """

    events: list[Any] = field(default_factory=list)
    final: bool = False
    generation: int = 0
    """Which attach produced it: a reattach drops what the stream it replaced still had queued."""


@dataclass
class DeploymentStarted(Message):
    """A deploy submitted from the form has a deployment id (from ``X-Deployment-Id``)."""

    deployment_id: str


@dataclass
class HistoryLoaded(Message):
    """The full event history (``get_deployment_events``) was read, folded into ``view`` (a
    ``DeploymentView`` bounded to the screen's line window) from ``events`` events."""

    view: Any
    events: int


@dataclass
class OperationFailed(Message):
    """A background operation failed; ``title`` names it and ``message`` says why."""

    title: str
    message: str


@dataclass
class OperationDone(Message):
    """A background operation (revert, delete payload, save) finished; ``message`` for a toast."""

    title: str
    message: str
    result: Any = None
