"""Many deployment rows at once, written through the real Store into a server's data dir.

The list tests and bench/bench_list.py need thousands of finished deployments; real deploys of
that many would take minutes, and what they exercise is the list query, so the rows go straight
into the store (one batched transaction) before the server starts on the same data dir.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from deploytui.server.store import Store

DB_NAME = "deploytui.sqlite3"
BASE_STARTED_AT = 1_700_000_000_000
# A finished deploy's bounded log holds its last lines: enough for a row to weigh what a real one does.
LOG_ENTRIES = 12


def seeded_row(index: int) -> dict:
    """Deployment number ``index`` (0 is the oldest): a finished row with a short event log."""
    started = BASE_STARTED_AT + index * 1000
    return {
        "deployment_id": f"seed-{index:06d}-0000-4000-8000-000000000000",
        "project": f"project-{index:06d}",
        "package_identifier": f"project-{index:06d}@1.0.{index}",
        "payload_hash": f"{index:064x}",
        "payload_size": 1000 + index,
        "status": "success",
        "phase": "done",
        "origin_node": "node-a",
        "restart_mode": "none",
        "started_at": started,
        "completed_at": started + 500,
        "user": "admin",
        "event_log": [{"seq": seq, "t": started + seq, "event": "log",
                       "data": {"stream": "stdout", "line": f"added {seq} packages in {seq}s, audited {index}"}}
                      for seq in range(1, LOG_ENTRIES + 1)],
    }


async def _insert(db_path: Path, rows: list[dict]) -> None:
    store = Store(db_path)
    await store.open()
    try:
        # All queued before the writer looks: one transaction for the lot.
        await asyncio.gather(*(store.insert_row(row) for row in rows))
    finally:
        await store.close()


def seed_rows(data_dir: Path, count: int) -> list[dict]:
    """Write ``count`` finished deployments into ``data_dir``'s database; returns them, oldest first."""
    data_dir.mkdir(parents=True, exist_ok=True)
    rows = [seeded_row(index) for index in range(count)]
    asyncio.run(_insert(data_dir / DB_NAME, rows))
    return rows
