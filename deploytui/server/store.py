"""SQLite persistence for deployment rows and their append-only event history.

Two tables live in one WAL-mode file: ``deployments`` (one row per deployment, Harper's row fields
with the list/object fields as JSON text, plus the internal ``payload_path``) and ``events``
(``deployment_id, seq, t, event, data``), the full history of which a row's ``event_log`` is only a
bounded view.

Every write goes through one writer thread with its own connection. It applies what is queued to
one open transaction as it arrives and commits at a slow cadence (:data:`COMMIT_INTERVAL`), or at
once when a write is awaited or a commit requested, so an install costs a handful of commits
whatever the arrival pattern of its lines. After a commit it tells the listeners (the
:class:`~deploytui.server.recorder.EventHub`) on the event loop how far each deployment's events are
committed, and only then resolves the waiting writers. Reads run on a small thread pool with their
own connections, so the event loop never blocks on SQLite.
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
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import orjson

from deploytui.protocol.deployment import TERMINAL_STATUSES

from .store_checkpoint import WRITER_PRAGMA, Checkpointer
from .store_writer import (
    _BARRIER,
    _COMMIT,
    _EVENTS,
    _INSERT,
    _ROW_SYNC,
    _STOP,
    _UNAWAITED,
    _UPDATE,
    Done,
    Transaction,
    insert_events,
    stored_json,
    to_json,
)

log = logging.getLogger(__name__)

_orjson_dumps = orjson.dumps

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

# The writer applies what is queued in chunks of at most this many event rows and operations.
MAX_BATCH = 20_000
# The open transaction commits once it holds this many event rows and operations, whatever the
# interval (and the recorders keep what it holds in memory until then).
MAX_UNCOMMITTED = 20_000
# How long unawaited writes (events, row syncs) may wait in the writer's open transaction before it
# commits them: a commit (an fsync) per this interval at most whatever the arrival pattern. An
# awaited write (flush, insert, update_row, close) or a commit request (a phase change, a seq
# reservation a watcher waits for) commits at once. Watchers do not wait for it: the hub publishes
# events from memory as they are emitted (server/recorder.py).
COMMIT_INTERVAL = 4.0
# emit()'s event rows go to the writer in lists, once this many are gathered (and at the end of each
# loop turn): one queue operation per list, not per install line, and the writer starts on a burst
# before it ends.
ROWS_PER_PUT = 2_000
# How long the writer lets a small chunk grow before applying it (unless a write is awaited).
LINGER_POLL = 0.01
READER_THREADS = 4

# Called on the loop after each commit with the highest committed seq per deployment.
CommitListener = Callable[[dict[str, int]], None]


# Every commit is synced to disk before a write is reported done: with NORMAL, WAL mode can lose the
# last commits on power loss, a seq reservation among them (server/recorder.py), and a client that
# already received seqs under it would drop the re-used seqs of the next events as duplicates.
# Commits are few, so the sync costs little: see bench/bench_recorder.py --compare.
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
        self._rows: list[tuple] = []  # event rows not yet handed to the writer
        self._rows_scheduled = False
        self._listeners: list[CommitListener] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._writer: threading.Thread | None = None
        self.checkpointer: Checkpointer | None = None
        """Checkpoints the WAL beside the writer while the store is open (store_checkpoint.py)."""
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
        self.checkpointer = Checkpointer(self._connect)
        self._readers = ThreadPoolExecutor(READER_THREADS, thread_name_prefix="store-read")

    async def close(self) -> None:
        """Commit everything queued, stop the writer and close every connection."""
        if self._writer is not None:
            await self._submit((_STOP,))
            await asyncio.to_thread(self._writer.join)
            self._writer = None
        if self.checkpointer is not None:
            await asyncio.to_thread(self.checkpointer.stop)
            self.checkpointer = None
        if self._readers is not None:
            self._readers.shutdown(wait=True)
            self._readers = None
        with self._conns_lock:
            for conn in self._reader_conns:
                conn.close()
            self._reader_conns.clear()

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call ``listener(seqs)`` on the loop after each commit that stored events, ``seqs`` the
        highest seq it stored per deployment. Listeners run before the writes of that commit are
        reported done."""
        self._listeners.append(listener)

    # ----------------------------------------------------------------- writes

    def enqueue_event(self, deployment_id: str, seq: int, t: int, event: str, data: Any) -> None:
        """Queue one event for the next commit; never blocks (the caller picks ``seq``). Call it
        on the loop's thread: the rows go to the writer in lists, at the end of the loop turn or
        once :data:`ROWS_PER_PUT` are gathered."""
        try:  # stored_json(), inlined: once per event
            text = _orjson_dumps(data).decode()
        except TypeError:
            text = stored_json(data)
        self._rows.append((deployment_id, seq, t, event, text))
        self._rows_added()

    def enqueue_events(self, deployment_id: str, first_seq: int, t: int, event: str,
                       datas: Sequence[Any]) -> None:
        """:meth:`enqueue_event` for events ``first_seq``, ``first_seq + 1`` ... of one kind and
        time, e.g. the lines of one read of an install's output."""
        try:
            rows = [(deployment_id, seq, t, event, _orjson_dumps(data).decode())
                    for seq, data in enumerate(datas, first_seq)]
        except TypeError:
            rows = [(deployment_id, seq, t, event, stored_json(data)) for seq, data in enumerate(datas, first_seq)]
        self._rows += rows
        self._rows_added()

    def _rows_added(self) -> None:
        if len(self._rows) >= ROWS_PER_PUT:
            self._hand_over()
        elif not self._rows_scheduled:
            self._rows_scheduled = True
            assert self._loop is not None
            self._loop.call_soon(self._end_of_turn)

    def _end_of_turn(self) -> None:
        self._rows_scheduled = False
        self._hand_over()

    def _hand_over(self) -> None:
        """Put the event rows gathered so far on the writer's queue (before any other operation,
        so the queue keeps the order things were asked in)."""
        if self._rows:
            self._queue.put((_EVENTS, self._rows, None))
            self._rows = []

    def request_commit(self) -> None:
        """Commit what is queued soon, without waiting for the interval; nobody awaits it."""
        self._hand_over()
        self._queue.put((_COMMIT, None))
        self._awaited.set()

    def enqueue_update(self, deployment_id: str, fields: dict, done: Done | None = None) -> None:
        """Queue a row update for the next commit; ``done(exc)`` runs on the loop after it."""
        self._hand_over()
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
        self._hand_over()
        self._queue.put((*op, lambda exc: _resolve(future, exc)))
        self._awaited.set()
        return future

    # ----------------------------------------------------------------- writer thread

    def _writer_main(self, ready: asyncio.Future[None]) -> None:
        try:
            conn = self._connect()
            conn.executescript(SCHEMA)
            conn.execute(WRITER_PRAGMA)  # the checkpointer thread checkpoints, not the writer's commits
        except BaseException as exc:  # report to open(), then give up
            self._call_in_loop(lambda error=exc: ready.set_exception(error))
            return
        self._call_in_loop(lambda: ready.set_result(None))
        try:
            _Writer(self, conn).run()
        finally:
            conn.close()

    def _connect(self) -> sqlite3.Connection:
        return connect(self.db_path, synchronous=self.synchronous)

    def _next_chunk(self, timeout: float | None) -> list[tuple]:
        """Wait up to ``timeout`` (None: for ever) for an operation; unless someone awaits a
        write, let a small chunk grow for LINGER_POLL; then take what is queued, up to MAX_BATCH
        rows and operations. Empty when the timeout passed.

        Event rows come in lists (at most one put per loop turn or ROWS_PER_PUT rows); awaited
        operations set ``_awaited`` so that the writer stops lingering.
        """
        try:
            first = self._queue.get(timeout=timeout) if timeout is None or timeout > 0 else self._queue.get_nowait()
        except queue.Empty:
            return []
        if first[0] in _UNAWAITED and self._queue.qsize() * ROWS_PER_PUT < MAX_BATCH:
            self._awaited.wait(LINGER_POLL)
        self._awaited.clear()  # what set it is queued now, so this chunk takes it
        chunk = [first]
        size = len(first[1]) if first[0] == _EVENTS else 1
        with contextlib.suppress(queue.Empty):
            while size < MAX_BATCH:
                op = self._queue.get_nowait()
                chunk.append(op)
                size += len(op[1]) if op[0] == _EVENTS else 1
        if size >= MAX_BATCH:
            self._awaited.set()  # an awaited write may still be queued: do not make it linger
        return chunk

    def _deliver(self, seqs: dict[str, int], results: list[tuple[Done, BaseException | None]]) -> None:
        """On the loop: tell the listeners what is committed, then wake whoever awaited it."""
        if seqs:
            for listener in self._listeners:
                try:
                    listener(seqs)
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


class _Writer:
    """The writer thread's loop. One transaction stays open while operations arrive; each drained
    chunk is applied to it at once, and it commits when a chunk held an awaited write or a commit
    request, when it holds MAX_UNCOMMITTED operations, or ``commit_interval`` after it began.
    Inserting as events arrive keeps SQLite's work beside emit() instead of after it; committing
    rarely keeps the fsyncs few.

    If a chunk fails, the transaction is rolled back and everything it held is applied again one
    operation per savepoint (an event list one row at a time), so a bad operation (a duplicate
    insert) fails alone and the rest stays in. The operations of the open transaction are kept for
    that until it commits: references to what the recorders hold in memory until then anyway.
    """

    def __init__(self, store: Store, conn: sqlite3.Connection) -> None:
        self.store = store
        self.conn = conn
        self.opened_at: float | None = None  # monotonic time the open transaction began
        self.applied: list[list[tuple]] = []  # the chunks of the open transaction
        self.held: list[tuple] = []  # event rows applied but not inserted yet (less than a statement)
        self.uncommitted = 0  # rows and other operations
        self.urgent = False
        self.stop = False
        self.dones: list[Done] = []
        self.seqs: dict[str, int] = {}

    def run(self) -> None:
        store = self.store
        while not self.stop:
            timeout = None
            if self.opened_at is not None:
                timeout = self.opened_at + store.commit_interval - time.monotonic()
            chunk = store._next_chunk(timeout)
            try:
                if chunk:
                    if self.opened_at is None:
                        self.conn.execute("BEGIN IMMEDIATE")
                        self.opened_at = time.monotonic()
                    self._apply(chunk)
                if self.opened_at is not None and (
                        self.urgent or self.stop or self.uncommitted >= MAX_UNCOMMITTED
                        or time.monotonic() - self.opened_at >= store.commit_interval):
                    self._commit()
            except Exception as exc:  # e.g. BEGIN refused: whoever waits hears why; the thread goes on
                self._give_up(exc, chunk)

    def _give_up(self, exc: BaseException, chunk: list[tuple]) -> None:
        log.warning("store: a transaction failed: %s", exc)
        with contextlib.suppress(Exception):
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
        dones = [*self.dones, *(op[-1] for op in chunk if op[0] != _EVENTS and op[-1] is not None)]
        self.stop = self.stop or any(op[0] == _STOP for op in chunk)
        self.opened_at, self.applied, self.held, self.uncommitted = None, [], [], 0
        self.urgent, self.dones, self.seqs = False, [], {}
        self.store._call_in_loop(lambda: self.store._deliver({}, [(d, exc) for d in dict.fromkeys(dones)]))

    def _apply(self, chunk: list[tuple]) -> None:
        txn = Transaction(self.conn)
        try:
            txn.apply_all(chunk)
            seqs, self.held = txn.finish(self.held, everything=False)
        except Exception:
            self._replay([*self.applied, chunk])
            return
        self.applied.append(chunk)
        self.uncommitted += len(chunk) + txn.rows
        self._took(txn, seqs)

    def _took(self, txn: Transaction, seqs: dict[str, int]) -> None:
        self.stop = self.stop or txn.stop
        self.urgent = self.urgent or txn.urgent
        self.dones += txn.dones
        mine = self.seqs
        for deployment_id, seq in seqs.items():
            if seq > mine.get(deployment_id, 0):
                mine[deployment_id] = seq

    def _replay(self, chunks: list[list[tuple]]) -> None:
        """Roll back and apply every operation of ``chunks`` again, each in a savepoint."""
        conn = self.conn
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        conn.execute("BEGIN IMMEDIATE")
        self.applied, self.held, self.uncommitted, self.dones, self.seqs = [], [], 0, [], {}
        for chunk in chunks:
            for op in chunk:
                if op[0] == _EVENTS and len(op[1]) > 1:
                    if self._apply_one(op, quiet=True):
                        continue
                    for row in op[1]:
                        self._apply_one((_EVENTS, [row], None))
                else:
                    self._apply_one(op)

    def _apply_one(self, op: tuple, *, quiet: bool = False) -> bool:
        conn = self.conn
        txn = Transaction(conn)
        conn.execute("SAVEPOINT one")
        try:
            txn.apply(op)
            seqs, _ = txn.finish()
            conn.execute("RELEASE one")
        except Exception as exc:
            conn.execute("ROLLBACK TO one")
            conn.execute("RELEASE one")
            if quiet:
                return False
            log.warning("store: write %r failed: %s", op[:3] if op[0] != _EVENTS else op[1][0][:3], exc)
            self.stop = self.stop or op[0] == _STOP
            self.urgent = self.urgent or op[0] not in _UNAWAITED
            if op[-1] is not None:
                self.store._call_in_loop(lambda done=op[-1], error=exc: done(error))
            return False
        self.applied.append([op])
        self.uncommitted += len(op[1]) if op[0] == _EVENTS else 1
        self._took(txn, seqs)
        return True

    def _commit(self) -> None:
        if self.held:
            try:
                insert_events(self.conn, self.held, everything=True)
                self.held = []
            except Exception:
                self._replay(self.applied)
        dones, seqs = self.dones, self.seqs
        self.opened_at, self.applied, self.held, self.uncommitted = None, [], [], 0
        self.urgent, self.dones, self.seqs = False, [], {}
        try:
            self.conn.execute("COMMIT")
        except Exception as exc:  # an I/O error, a full disk: the transaction is lost
            log.warning("store: a commit failed: %s", exc)
            if self.conn.in_transaction:
                self.conn.execute("ROLLBACK")
            self.store._call_in_loop(lambda error=exc: self.store._deliver({}, [(d, error) for d in dones]))
            return
        self.store.commits += 1
        if self.store.checkpointer is not None:
            self.store.checkpointer.poke()
        self.store._call_in_loop(lambda: self.store._deliver(seqs, [(d, None) for d in dones]))


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
