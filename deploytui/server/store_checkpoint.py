"""Checkpointing the store's WAL on a thread of its own, beside the writer.

SQLite checkpoints a WAL database inside the commit that grows the log past 1,000 pages: the
committing thread copies the log into the database file and syncs it, 10-70 ms here for a few MiB.
For the store that thread is the writer, so every event queued meanwhile waited, and a burst of
install output paid a checkpoint every ~30,000 lines. The writer's connection turns that off
(:data:`WRITER_PRAGMA`) and pokes a :class:`Checkpointer` after each commit instead, which runs a
``PASSIVE`` checkpoint on its own connection (it never blocks the writer, and copies what it can).
Checkpoints are at most one per :data:`MIN_INTERVAL` while commits come quickly; durability is the
commit's (the WAL is synced), a checkpoint only keeps the log short.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable

log = logging.getLogger(__name__)

WRITER_PRAGMA = "PRAGMA wal_autocheckpoint=0"
MIN_INTERVAL = 0.5


class Checkpointer:
    """A thread that checkpoints the WAL after commits (:meth:`poke`), until :meth:`stop`."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, min_interval: float = MIN_INTERVAL) -> None:
        self._connect = connect
        self._min_interval = min_interval
        self._changed = threading.Condition()
        self._wanted = False
        self._running = False
        self._stopping = False
        self.checkpoints = 0
        """Checkpoints run so far (for tests and benches)."""
        self._thread = threading.Thread(target=self._run, name="deploytui-checkpoint", daemon=True)
        self._thread.start()

    def poke(self) -> None:
        """A commit grew the log: checkpoint soon. Never blocks for long (a lock, no I/O)."""
        with self._changed:
            self._wanted = True
            self._changed.notify_all()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no checkpoint is wanted or running; False on timeout."""
        with self._changed:
            return self._changed.wait_for(lambda: self._stopping or not (self._wanted or self._running), timeout)

    def stop(self) -> None:
        """End the thread after a checkpoint in progress (the last connection to close
        checkpoints what is left)."""
        with self._changed:
            self._stopping = True
            self._changed.notify_all()
        self._thread.join()

    def _next(self, last: float) -> bool:
        """Wait until a checkpoint is wanted and MIN_INTERVAL has passed since ``last``; False
        when stopping."""
        with self._changed:
            self._changed.wait_for(lambda: self._wanted or self._stopping)
            # Commits in quick succession: one checkpoint for several.
            self._changed.wait_for(lambda: self._stopping, last + self._min_interval - time.monotonic())
            if self._stopping:
                return False
            self._wanted, self._running = False, True
            return True

    def _run(self) -> None:
        conn = None
        try:
            conn = self._connect()
            last = -self._min_interval
            while self._next(last):
                try:
                    conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                    self.checkpoints += 1
                except sqlite3.Error as exc:  # busy or I/O: the next commit asks again
                    log.warning("store: a checkpoint failed: %s", exc)
                last = time.monotonic()
                with self._changed:
                    self._running = False
                    self._changed.notify_all()
        except Exception as exc:  # cannot connect: SQLite's own checkpoint at close still runs
            log.warning("store: the checkpoint thread stopped: %s", exc)
        finally:
            with self._changed:
                self._stopping, self._running = True, False
                self._changed.notify_all()
            if conn is not None:
                with contextlib.suppress(sqlite3.Error):
                    conn.close()
