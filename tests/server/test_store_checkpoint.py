"""The WAL is checkpointed by a thread of its own, not inside the writer's commits."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
from pathlib import Path

from deploytui.server.store import Store


def events_in_database_file(db: Path, copy: Path) -> int:
    """Events the main database file holds by itself, the WAL left out (a checkpoint put them there)."""
    shutil.copyfile(db, copy)
    conn = sqlite3.connect(copy)
    try:
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'events'").fetchone() is None:
            return 0  # not even the schema has been checkpointed
        return conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        conn.close()


async def test_committed_events_reach_the_database_file_by_a_checkpoint(store: Store, tmp_path: Path) -> None:
    assert store.checkpointer is not None
    await store.insert_row({"deployment_id": "d1", "status": "pending", "started_at": 1})
    await asyncio.to_thread(store.checkpointer.wait_idle, 10)
    before = store.checkpointer.checkpoints
    n = 30_000
    store.enqueue_events("d1", 1, 5, "install", [{"line": f"line {i}"} for i in range(n)])
    await store.barrier()
    assert await asyncio.to_thread(store.checkpointer.wait_idle, 10)
    assert store.checkpointer.checkpoints > before
    assert events_in_database_file(store.db_path, tmp_path / "copy.sqlite3") == n
    assert await store.last_seq("d1") == n
    await store.close()  # the thread ends with the store
    assert store.checkpointer is None


async def test_the_writer_leaves_checkpoints_to_the_thread(store: Store, tmp_path: Path) -> None:
    """Without the thread's checkpoints the log only grows: the writer's commits copy nothing
    (SQLite's own rule would have checkpointed ~10 MiB of log in a commit)."""
    assert store.checkpointer is not None
    await asyncio.to_thread(store.checkpointer.stop)  # no checkpoint from here on
    await store.insert_row({"deployment_id": "d1", "status": "pending", "started_at": 1})
    line = "x" * 200
    for first in range(1, 40_001, 5_000):  # eight commits
        store.enqueue_events("d1", first, 5, "install", [{"line": line}] * 5_000)
        await store.barrier()
    assert events_in_database_file(store.db_path, tmp_path / "copy.sqlite3") == 0
    assert await store.last_seq("d1") == 40_000
