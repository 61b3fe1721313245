"""Start recording a row on a real hub (the ``hub`` fixture is in conftest.py)."""

from __future__ import annotations

from deploytui.server.recorder import EventHub, Recorder


async def start(hub: EventHub, deployment_id: str = "d1") -> Recorder:
    row = {"deployment_id": deployment_id, "project": "app", "status": "pending",
           "phase": "pending", "started_at": 1000}
    await hub.store.insert_row(row)
    return hub.start_recording(row)
