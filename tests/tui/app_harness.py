"""Helpers for the dashboard's tests: recorded data (offline mode), waiting on conditions, live apps.

``recorded_app()`` builds a :class:`DeploytuiApp` on ``fixtures/recorded.json`` (rows and events a
real server produced, see ``fixtures/make_fixtures.py``) with a frozen clock — what the snapshots use.
``live_app(server)`` builds one on a real loopback server. ``wait_for`` polls a condition between
frames instead of sleeping a fixed time.
"""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from deploytui.client.api import OPTIONAL_OPERATIONS, TWO_PHASE, ConnectionSettings
from deploytui.client.errors import NotFoundError
from deploytui.protocol.events import parse_event
from deploytui.tui.app import DeploytuiApp

FIXTURE = Path(__file__).with_name("fixtures") / "recorded.json"


def load_recording() -> dict[str, Any]:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


def by_project(recording: dict[str, Any], project: str) -> dict[str, Any]:
    return next(r for r in recording["rows"] if r["project"] == project)


class RecordedClient:
    """An offline stand-in for OperationsClient, answering from a recording."""

    url = "http://127.0.0.1:9925/"

    def __init__(self, recording: dict[str, Any], *, ours: bool = False) -> None:
        self.recording = recording
        self.ours = ours
        """Answer as our own server (two-phase, every optional operation) rather than as a bare 5.1."""
        self.operations: dict[str, bool] = {}
        self.calls: list[str] = []
        self._gate: asyncio.Event | None = None

    @property
    def gate(self) -> asyncio.Event:
        """Set it to let a cut stream deliver the rest of its events."""
        if self._gate is None:
            self._gate = asyncio.Event()
        return self._gate

    async def registration_info(self) -> dict[str, Any]:
        return {"version": "5.1.0", "product": "deploytui", "two_phase": True} if self.ours else {"version": "5.1.0"}

    def supports(self, operation: str) -> bool | None:
        return self.operations.get(operation)

    async def learn_operations(self) -> dict[str, bool]:
        self.operations = {operation: self.ours for operation in (*OPTIONAL_OPERATIONS, TWO_PHASE)}
        return dict(self.operations)

    async def list_deployments(self, **filters: Any) -> dict[str, Any]:
        self.calls.append("list_deployments")
        rows = [r for r in self.recording["rows"] if all(r.get(k) == v for k, v in filters.items() if k in ("project", "status"))]
        return {"deployments": copy.deepcopy(rows), "total": len(rows)}

    async def get_deployment(self, deployment_id: str) -> dict[str, Any]:
        for row in self.recording["rows"]:
            if row["deployment_id"] == deployment_id:
                return copy.deepcopy(row)
        raise NotFoundError(f"No deployment found with id '{deployment_id}'")

    async def get_deployment_events(self, deployment_id: str, after_seq: int | None = None, limit: int | None = None) -> dict[str, Any]:
        events = self.recording["events"].get(deployment_id, [])
        return {"deployment_id": deployment_id, "events": events, "next_after_seq": len(events), "has_more": False}

    async def aclose(self) -> None:
        pass


class RecordedAttachment:
    """Replays a recorded deployment's events; ``upto`` cuts the stream (then it stays live)."""

    def __init__(self, client: RecordedClient, deployment_id: str, upto: int | None, on_state: Callable | None) -> None:
        self.client, self.deployment_id, self.upto, self.on_state = client, deployment_id, upto, on_state
        self.final_row: dict[str, Any] | None = None

    def _state(self, kind: str) -> None:
        if self.on_state is not None:
            self.on_state(SimpleNamespace(kind=kind, attempt=0, next_retry_s=None, backfilled=0, message=None, ids=True))

    async def __aiter__(self):
        events = self.client.recording["events"].get(self.deployment_id, [])
        self._state("replaying")
        for item in events[: self.upto]:
            yield parse_event(item["event"], item["data"], seq=item["seq"], t=item["t"])
        if self.upto is not None:
            self._state("live")
            await self.client.gate.wait()  # a deploy still running: the rest comes when released
            for item in events[self.upto : -3]:
                yield parse_event(item["event"], item["data"], seq=item["seq"], t=item["t"])
            await asyncio.Event().wait()
        self.final_row = await self.client.get_deployment(self.deployment_id)
        self._state("done")

    async def aclose(self) -> None:
        pass


def running_copy(recording: dict[str, Any], project: str, upto: int) -> dict[str, Any]:
    """The recording with ``project`` cut after ``upto`` events: a deploy that still runs."""
    recording = copy.deepcopy(recording)
    row = by_project(recording, project)
    row.update(status="pending", phase="prepare", completed_at=None)
    recording["cut"] = {row["deployment_id"]: upto}
    return recording


def recorded_app(recording: dict[str, Any] | None = None, *, now_offset_s: float = 60.0, ours: bool = False,
                 **kwargs: Any) -> DeploytuiApp:
    """An app on recorded data, with the clock frozen ``now_offset_s`` after the newest deploy
    started; ``ours``: the client answers as our own server (its optional operations offered)."""
    recording = recording or load_recording()
    client = RecordedClient(recording, ours=ours)
    newest = max(r["started_at"] for r in recording["rows"]) / 1000
    cuts = recording.get("cut", {})

    def attach(api: Any, deployment_id: str, *, on_state: Callable | None = None, **_: Any) -> RecordedAttachment:
        return RecordedAttachment(client, deployment_id, cuts.get(deployment_id), on_state)

    return DeploytuiApp(
        ConnectionSettings(client.url),
        embedded=True,
        client=client,
        attach=attach,
        now=lambda: newest + now_offset_s,
        demos=lambda: [],
        animate=False,
        **kwargs,
    )


def live_app(server: Any, **kwargs: Any) -> DeploytuiApp:
    """An app on a real loopback server, polling fast so tests stay quick."""
    settings = ConnectionSettings(server.url, user=server.user, password=server.password)
    kwargs.setdefault("poll_interval", 0.3)
    kwargs.setdefault("fast_poll_interval", 0.2)
    return DeploytuiApp(settings, embedded=True, **kwargs)


async def wait_for(pilot: Any, condition: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    """Let the app run frames until ``condition()`` is truthy; fail after ``timeout`` seconds."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if loop.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await pilot.pause(0.05)


# ---------------------------------------------------------------- real-server helpers

HOSTILE = "[bold red]x[/]\x1b]0;pwned\x07\x1b[2J"
"""Markup, an OSC window title and a clear-screen: all must show as inert text."""


def deploy_sync(server: Any, project: str, directory: Path | str, install_command: str | None = None) -> dict[str, Any]:
    """A blocking JSON ``deploy_component`` of a ``file:`` package (returns the answer's JSON)."""
    import httpx

    body = {"operation": "deploy_component", "project": project, "package": f"file:{Path(directory).resolve()}", "restart": False}
    if install_command:
        body["install_command"] = install_command
    return httpx.post(server.url + "/", json=body, auth=(server.user, server.password), timeout=120).json()


def demo_dir(name: str) -> Path:
    from deploytui.server.demos import demo_spec

    return demo_spec(name).path


async def deploy(server: Any, project: str, directory: Path | str | None = None, install_command: str | None = "python3 install.py") -> dict[str, Any]:
    """Deploy in a thread (the app keeps running meanwhile); ``directory`` defaults to the demo ``project``."""
    return await asyncio.to_thread(deploy_sync, server, project, directory or demo_dir(project), install_command)


def screen_text(app: Any) -> str:
    """Everything on screen as plain text (what a person would read)."""
    return "\n".join(strip.text for strip in app.screen._compositor.render_strips())
