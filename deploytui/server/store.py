"""SQLite persistence for deployment rows and their append-only event history.

Two tables live in one WAL-mode file: ``deployments`` (one row per deployment, Harper's row fields
with the list/object fields as JSON text, plus the internal ``payload_path``) and ``events``
(``deployment_id, seq, t, event, data``), the full history of which a row's ``event_log`` is only a
bounded view.

Every write goes through one writer thread with its own connection. It drains whatever is queued,
applies it in one transaction and commits, so a burst of thousands of install lines costs a
handful of commits instead of one each. After a commit it hands the committed events to the
listeners (the :class:`~deploytui.server.recorder.EventHub`) on the event loop, and only then
resolves the waiting writers. Reads run on a small thread pool with their own connections, so the
event loop never blocks on SQLite.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import sqlite3
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from deploytui.protocol.deployment import TERMINAL_STATUSES

from .store_writer import (
    _BARRIER,
    _EVENT,
    _INSERT,
    _ROW_SYNC,
    _STOP,
    _UNAWAITED,
    _UPDATE,
    Done,
    Transaction,
    to_json,
)

log = logging.getLogger(__name__)

# Columns of the deployments table, in DeploymentRow order. Keys not listed here (e.g.
# install_fingerprint, internal ``_x`` keys) go into the ``extra`` JSON column.
PLAIN_COLUMNS = (
    "deployment_id", "project", "package_identifier", "payload_hash", "payload_size", "status",
    "phase", "origin_node", "restart_mode", "started_at", "completed_at", "user", "rollback_of",
    "payload_path",
)
JSON_COLUMNS = ("event_log", "peer_results", "error")
COLUMNS = PLAIN_COLUMNS + JSON_COLUMNS
# A summary row (list_deployments ``summary: true``) is a row without its bounded event log.
SUMMARY_COLUMNS = tuple(column for column in COLUMNS if column != "event_log")
SUMMARY_SELECT = ", ".join(f'"{column}"' for column in (*SUMMARY_COLUMNS, "extra"))
# What list_deployments ``search`` looks in: the text a dashboard's filter matches.
SEARCH_COLUMNS = ("project", "deployment_id", "status", "phase", "user", "origin_node", "package_identifier")
# Derived on read, never stored.
DERIVED_KEYS = frozenset({"payload_blob_present", "payload_blob"})

SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    deployment_id TEXT PRIMARY KEY,
    project TEXT, package_identifier TEXT, payload_hash TEXT, payload_size INTEGER,
    status TEXT NOT NULL, phase TEXT, origin_node TEXT, restart_mode TEXT,
    started_at INTEGER NOT NULL, completed_at INTEGER, "user" TEXT, rollback_of TEXT,
    payload_path TEXT, event_log TEXT, peer_results TEXT, error TEXT, extra TEXT
);
CREATE INDEX IF NOT EXISTS deployments_by_start ON deployments (started_at DESC, deployment_id);
CREATE INDEX IF NOT EXISTS deployments_by_project
    ON deployments (project, started_at DESC, deployment_id);
CREATE INDEX IF NOT EXISTS deployments_by_status
    ON deployments (status, started_at DESC, deployment_id);
CREATE TABLE IF NOT EXISTS events (
    deployment_id TEXT NOT NULL, seq INTEGER NOT NULL, t INTEGER NOT NULL,
    event TEXT NOT NULL, data TEXT,
    PRIMARY KEY (deployment_id, seq)
) WITHOUT ROWID;
"""

# A single transaction never holds more than this many queued operations.
MAX_BATCH = 20_000
# How long the writer lets unawaited writes (events, row syncs) gather before it commits them: a
# commit (an fsync) per ~this interval whatever the arrival pattern, instead of one each time the
# queue runs dry. An awaited write (flush, insert, update_row, close) commits at once. It is also
# the most it adds to an event's way to the watchers.
COMMIT_INTERVAL = 0.1
# How often a gathering writer looks whether MAX_BATCH operations are already queued.
LINGER_POLL = 0.01
READER_THREADS = 4

CommitListener = Callable[[list[tuple[str, int, int, str, Any]]], None]


# Every commit is synced to disk before a write is reported done (and its events published): with
# NORMAL, WAL mode can lose the last commits on power loss, and a client that already received
# those seqs would drop the re-used seqs of the next events as duplicates. Batches are few (one
# commit per burst of install lines), so the sync costs little: see bench/bench_recorder.py --compare.
DURABLE_SYNCHRONOUS = "FULL"
SYNCHRONOUS_MODES = frozenset({"OFF", "NORMAL", "FULL", "EXTRA"})


def connect(db_path: Path, *, synchronous: str = DURABLE_SYNCHRONOUS) -> sqlite3.Connection:
    """A connection to the deployments database: WAL mode, ``synchronous`` (FULL unless a bench
    asks otherwise), a busy timeout, rows by column name; usable from any one thread at a time."""
    if synchronous.upper() not in SYNCHRONOUS_MODES:
        raise ValueError(f"synchronous must be one of {sorted(SYNCHRONOUS_MODES)}, not {synchronous!r}")
    conn = sqlite3.connect(db_path, isolation_level=None, check_same_thread=False)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute(f"PRAGMA synchronous={synchronous.upper()}")
    conn.execute("PRAGMA busy_timeout=5000")
    conn.row_factory = sqlite3.Row
    return conn


def strip_row(row: dict) -> dict:
    """API view: drop internal keys (payload_path and anything starting with '_'), add
    payload_blob_present: bool (True when payload_path is set and the file exists)."""
    path = row.get("payload_path")
    view = {k: v for k, v in row.items() if k != "payload_path" and not k.startswith("_")}
    view.pop("payload_blob", None)
    view["payload_blob_present"] = bool(path) and Path(path).is_file()
    return view


def encode_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """Row fields -> column values (JSON fields as text; unknown keys go to the ``extra`` column).

    Runs in the caller's thread so the writer gets a snapshot, not objects still being mutated.
    """
    encoded: dict[str, Any] = {}
    extra: dict[str, str] = {}  # key -> JSON text
    for key, value in fields.items():
        if key in JSON_COLUMNS:
            encoded[key] = None if value is None else to_json(value)
        elif key in PLAIN_COLUMNS:
            encoded[key] = value
        elif key not in DERIVED_KEYS:
            extra[key] = to_json(value)
    if extra:
        encoded["extra"] = extra
    return encoded


def _decode_row(record: sqlite3.Row) -> dict[str, Any]:
    """A stored row as a dict; a summary record (no ``event_log`` column) decodes without it."""
    row: dict[str, Any] = {}
    for key in COLUMNS if "event_log" in record.keys() else SUMMARY_COLUMNS:
        value = record[key]
        row[key] = json.loads(value) if key in JSON_COLUMNS and value is not None else value
    if record["extra"]:
        row.update(json.loads(record["extra"]))
    return row


class Store:
    """The deployments database: async reads on a pool, batched writes on one thread."""

    def __init__(self, db_path: Path, *, synchronous: str = DURABLE_SYNCHRONOUS) -> None:
        self.db_path = Path(db_path)
        self.synchronous = synchronous  # only bench/bench_recorder.py passes anything else
        self.commits = 0
        self.commit_interval = COMMIT_INTERVAL
        self._awaited = threading.Event()
        self._queue: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._listeners: list[CommitListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: threading.Thread | None = None
        self._readers: ThreadPoolExecutor | None = None
        self._reader_local = threading.local()
        self._reader_conns: list[sqlite3.Connection] = []
        self._conns_lock = threading.Lock()

    # ----------------------------------------------------------------- lifecycle

    async def open(self) -> None:
        """Create the tables, switch to WAL and start the writer thread."""
        self._loop = asyncio.get_running_loop()
        self.db_path.parent.mkdir(parents=True, exist_ok=True)
        ready: asyncio.Future[None] = self._loop.create_future()
        self._writer = threading.Thread(
            target=self._writer_main, args=(ready,), name="deploytui-store-writer", daemon=True
        )
        self._writer.start()
        await ready
        self._readers = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="store-read")

    async def close(self) -> None:
        """Commit everything queued, stop the writer and close every connection."""
        if self._writer is not None:
            await self._submit((_STOP,))
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        with self._conns_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call ``listener(events)`` on the loop after each commit that stored events.

        ``events`` is a list of ``(deployment_id, seq, t, event, data)`` in commit order. Listeners
        run before the writes of that batch are reported done, so an awaited write implies its
        events were published.
        """
        self._listeners.append(listener)

    # ----------------------------------------------------------------- writes

    def enqueue_event(self, deployment_id: str, seq: int, t: int, event: str, data: Any) -> None:
        """Queue one event for the next batch; never blocks (the caller picks ``seq``)."""
        self._queue.put((_EVENT, deployment_id, seq, t, event, to_json(data), data))

    def enqueue_update(self, deployment_id: str, fields: dict, done: Done | None = None) -> None:
        """Queue a row update for the next batch; ``done(exc)`` runs on the loop after commit."""
        self._queue.put((_ROW_SYNC, deployment_id, encode_fields(fields), done))

    async def insert_row(self, row: dict) -> None:
        """Insert a new row; committed before it returns."""
        encoded = encode_fields({"event_log": [], "peer_results": [], **row})
        await self._submit((_INSERT, encoded))

    async def update_row(self, deployment_id: str, fields: dict) -> None:
        """Change some fields of a row; committed before it returns."""
        await self._submit((_UPDATE, deployment_id, encode_fields(fields)))

    async def barrier(self) -> None:
        """Wait until everything queued before this call is committed."""
        await self._submit((_BARRIER,))

    def _submit(self, op: tuple) -> asyncio.Future[None]:
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put((*op, lambda exc: _resolve(future, exc)))
        self._awaited.set()
        return future

    # ----------------------------------------------------------------- writer thread

    def _writer_main(self, ready: asyncio.Future[None]) -> None:
        try:
            conn = self._connect()
            conn.executescript(SCHEMA)
        except BaseException as exc:  # report to open(), then give up
            self._call_in_loop(lambda error=exc: ready.set_exception(error))
            return
        self._call_in_loop(lambda: ready.set_result(None))
        try:
            while self._write_batch(conn, self._next_batch()):
                pass
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        return connect(self.db_path, synchronous=self.synchronous)

    def _next_batch(self) -> list[tuple]:
        """Wait for one operation; unless someone awaits a write, let more gather until
        COMMIT_INTERVAL after it (or MAX_BATCH are queued); then take what is queued.

        Unawaited puts wake nobody (an install line costs no thread switch); awaited ones set
        ``_awaited`` so the writer commits at once.
        """
        batch = [self._queue.get()]
        if batch[0][0] in _UNAWAITED:
            deadline = time.monotonic() + self.commit_interval
            while (remaining := deadline - time.monotonic()) > 0 and self._queue.qsize() < MAX_BATCH:
                if self._awaited.wait(min(remaining, LINGER_POLL)):
                    break
        self._awaited.clear()  # what set it is queued now, so this batch takes it
        with contextlib.suppress(queue.Empty):
            while len(batch) < MAX_BATCH:
                batch.append(self._queue.get_nowait())
        if len(batch) >= MAX_BATCH:
            self._awaited.set()  # an awaited write may still be queued: do not make it linger
        return batch

    def _write_batch(self, conn: sqlite3.Connection, batch: list[tuple]) -> bool:
        """Apply a batch in one transaction and commit; returns False once a stop was requested.

        If the transaction fails, its operations are retried one per transaction, so a bad one
        (a duplicate insert) fails alone and the rest of the burst is still stored.
        """
        txn = Transaction(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            txn.apply_all(batch)
            committed = txn.finish()
            conn.execute("COMMIT")
        except Exception as exc:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            if len(batch) > 1:
                return all([self._write_batch(conn, [op]) for op in batch])
            log.warning("store: write %r failed: %s", batch[0][:3], exc)
            failed = [(op[-1], exc) for op in batch if op[0] != _EVENT and op[-1] is not None]
            self._call_in_loop(lambda: self._deliver([], failed))
            return batch[0][0] != _STOP
        self.commits += 1
        self._call_in_loop(lambda: self._deliver(committed, [(d, None) for d in txn.dones]))
        return not txn.stop

    def _deliver(self, events: list[tuple], results: list[tuple[Done, BaseException | None]],
                 ) -> None:
        """On the loop: publish the committed events, then wake whoever awaited the writes."""
        if events:
            for listener in self._listeners:
                try:
                    listener(events)
                except Exception:
                    log.exception("store: commit listener failed")
        for done, exc in results:
            done(exc)

    def _call_in_loop(self, fn: Callable[[], None]) -> None:
        assert self._loop is not None
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self._loop.call_soon_threadsafe(fn)

    # ----------------------------------------------------------------- reads

    async def _read(self, fn: Callable[..., Any], *args: Any) -> Any:
        if self._readers is None:
            raise RuntimeError("store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._readers, fn, *args)

    def _reader(self) -> sqlite3.Connection:
        conn = getattr(self._reader_local, "conn", None)
        if conn is None:
            conn = self._connect()
            conn.execute("PRAGMA query_only=1")
            # SQLite's lower() folds ASCII only; search folds case as the dashboard's filter does.
            conn.create_function("fold", 1, _fold, deterministic=True)
            self._reader_local.conn = conn
            with self._conns_lock:
                self._reader_conns.append(conn)
        return conn

    def _fetch(self, sql: str, params: Any, decode: Callable[[sqlite3.Row], Any]) -> list[Any]:
        """Run a query on this pool thread's connection and decode it there, off the loop."""
        return [decode(r) for r in self._reader().execute(sql, params).fetchall()]

    async def get_row(self, deployment_id: str) -> dict | None:
        """The full internal row (payload_path, event_log, peer_results, error ...), or None."""
        sql = "SELECT * FROM deployments WHERE deployment_id = ?"
        rows = await self._read(self._fetch, sql, (deployment_id,), _decode_row)
        return rows[0] if rows else None

    async def list_rows(self, *, project: str | None = None, status: str | None = None,
                        since: float | None = None, until: float | None = None,
                        limit: int | None = None, offset: int = 0, search: str | None = None,
                        summary: bool = False, changed_since: int | None = None) -> tuple[list[dict], int]:
        """Harper's list_deployments (contract §2.2): exact project/status, inclusive since/until
        on started_at, newest first with ties by deployment_id; returns (page, total before paging).
        Negative limit/offset count as 0; limit None means all.

        Our additions: ``search`` keeps rows where any of :data:`SEARCH_COLUMNS` contains it
        (case-insensitive), so a dashboard finds a row among thousands without loading them all;
        ``summary`` leaves out ``event_log`` (the bulk of a row), for lists that poll;
        ``changed_since`` (ms) pages only rows that may have changed since then (started or
        completed at or after it, or not finished), while the total still counts them all."""
        where, params = _filters(project=project, status=status, since=since, until=until, search=search or None)
        page_where, page_params = where, params
        if changed_since is not None:
            marks = ",".join("?" * len(TERMINAL_STATUSES))
            changed = f"(started_at >= ? OR completed_at >= ? OR status NOT IN ({marks}))"
            page_where = f"{where} AND {changed}" if where else f" WHERE {changed}"
            page_params = [*params, changed_since, changed_since, *sorted(TERMINAL_STATUSES)]
        page_limit = -1 if limit is None else max(0, int(limit))
        page_offset = max(0, int(offset or 0))
        columns = SUMMARY_SELECT if summary else "*"
        return await self._read(self._list_sync, columns, (where, params), (page_where, page_params),
                                page_limit, page_offset)

    def _list_sync(self, columns: str, counted: tuple[str, list], paged: tuple[str, list], limit: int,
                   offset: int) -> tuple[list[dict], int]:
        conn = self._reader()
        conn.execute("BEGIN")  # one snapshot for the page and the total
        try:
            total = conn.execute(f"SELECT COUNT(*) FROM deployments{counted[0]}", counted[1]).fetchone()[0]
            sql = (f"SELECT {columns} FROM deployments{paged[0]}"
                   " ORDER BY started_at DESC, deployment_id ASC LIMIT ? OFFSET ?")
            return self._fetch(sql, [*paged[1], limit, offset], _decode_row), total
        finally:
            conn.execute("COMMIT")

    async def nonterminal_rows(self) -> list[dict]:
        """Rows whose status is not terminal (crash recovery finds orphans with this)."""
        marks = ",".join("?" * len(TERMINAL_STATUSES))
        sql = f"SELECT * FROM deployments WHERE status NOT IN ({marks}) ORDER BY started_at"
        return await self._read(self._fetch, sql, sorted(TERMINAL_STATUSES), _decode_row)

    async def events(self, deployment_id: str, *, after_seq: int = 0,
                     limit: int | None = None) -> list[dict]:
        """Stored events ``[{seq, t, event, data}]`` with seq > after_seq, ascending."""
        sql = ("SELECT seq, t, event, data FROM events WHERE deployment_id = ? AND seq > ?"
               " ORDER BY seq LIMIT ?")
        params = (deployment_id, after_seq, -1 if limit is None else max(0, limit))
        return await self._read(self._fetch, sql, params, _decode_event)

    async def last_event(self, deployment_id: str, event: str) -> dict | None:
        """The newest stored ``event`` of a deployment (``{seq, t, event, data}``), or None. The row
        may lag its events by a commit; crash recovery reads the phase from here."""
        sql = ("SELECT seq, t, event, data FROM events WHERE deployment_id = ? AND event = ?"
               " ORDER BY seq DESC LIMIT 1")
        found = await self._read(self._fetch, sql, (deployment_id, event), _decode_event)
        return found[0] if found else None

    async def last_seq(self, deployment_id: str) -> int:
        """The highest committed seq of a deployment; 0 when it has no events."""
        return await self._read(self.last_seq_blocking, deployment_id)

    def last_seq_blocking(self, deployment_id: str) -> int:
        """Synchronous :meth:`last_seq`: one primary-key probe, for callers that cannot await."""
        sql = "SELECT MAX(seq) FROM events WHERE deployment_id = ?"
        return self._reader().execute(sql, (deployment_id,)).fetchone()[0] or 0


def _resolve(future: asyncio.Future[None], exc: BaseException | None) -> None:
    if future.done():
        return
    if exc is None:
        future.set_result(None)
    else:
        future.set_exception(exc)


def _decode_event(record: sqlite3.Row) -> dict[str, Any]:
    data = record["data"]
    return {"seq": record["seq"], "t": record["t"], "event": record["event"],
            "data": None if data is None else json.loads(data)}


def _fold(value: str | None) -> str:
    return value.lower() if isinstance(value, str) else ""


_SEARCH_SQL = "instr(fold(" + " || ' ' || ".join(f'coalesce("{c}", \'\')' for c in SEARCH_COLUMNS) + "), ?) > 0"


def _filters(**conditions: Any) -> tuple[str, list]:
    """WHERE clause for list_rows; every filter is optional and they combine with AND."""
    clauses: list[str] = []
    params: list[Any] = []
    sql = {"project": "project = ?", "status": "status = ?",
           "since": "started_at >= ?", "until": "started_at <= ?", "search": _SEARCH_SQL}
    for name, value in conditions.items():
        if value is not None:
            clauses.append(sql[name])
            params.append(_fold(value) if name == "search" else value)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), params
