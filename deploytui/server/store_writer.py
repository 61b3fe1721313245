"""The store's writer side: queue operation kinds and the operations of one drained chunk.

Kept apart from :mod:`deploytui.server.store` so the batching rules (events in multi-row
INSERTs, row updates merged per row) can be read on their own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

import orjson

# Writer queue operations: plain tuples. _EVENTS carries a list of event rows
# ``(deployment_id, seq, t, event, data as JSON text)``: the store hands emit()'s rows over in
# lists, not one op per install line. _ROW_SYNC is an update nobody awaits (the recorder's
# coalesced row write): like events, it waits for the writer's next commit. _COMMIT asks for a
# commit soon without anyone awaiting it (a phase change, a seq reservation a watcher waits for).
# The other kinds are awaited: the writer commits as soon as it has applied one.
_EVENTS, _INSERT, _UPDATE, _BARRIER, _STOP, _ROW_SYNC, _COMMIT = range(7)
_UNAWAITED = frozenset({_EVENTS, _ROW_SYNC})

_DEPLOYMENT, _SEQ = itemgetter(0), itemgetter(1)

# Events go in with multi-row INSERTs of these many rows (the smaller sizes only for what is left
# when the transaction commits). The sqlite3 module releases the GIL around each statement step,
# and while emit() keeps the loop busy, getting it back takes up to the switch interval (5 ms): one
# step per 6,000 rows, not per row, keeps the writer beside emit(). A size is used only when its
# parameters fit the connection's limit (32,766 by default since SQLite 3.32, 999 before).
_ROWS_PER_INSERT = (6000, 500, 40, 1)
_COLUMNS = 5


@lru_cache(maxsize=None)
def _insert_sql(rows: int) -> str:
    return "INSERT INTO events (deployment_id, seq, t, event, data) VALUES " + ",".join(["(?,?,?,?,?)"] * rows)


def insert_events(conn: sqlite3.Connection, rows: list[tuple], *, everything: bool) -> int:
    """Insert the first rows of ``rows`` and return how many: all of them with ``everything``, else
    only whole statements of the largest size the connection allows (the rest waits for more)."""
    done = 0
    limit = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    for per in _ROWS_PER_INSERT:
        if per * _COLUMNS > limit:
            continue
        full = done + (len(rows) - done) // per * per
        if full > done:
            conn.executemany(_insert_sql(per), (
                list(chain.from_iterable(rows[i : i + per])) for i in range(done, full, per)
            ) if per > 1 else rows[done:full])
            done = full
        if not everything:
            break
    return done


Done = Callable[[BaseException | None], None]

# Compact JSON text, as stored and as sent on the wire. One encoder for every call: json.dumps
# with non-default options would build a new one each time.
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _c_encoder() -> Callable[[Any], str] | None:
    """The C encoder ``JSONEncoder.encode`` would build on every call, built once (emit() encodes
    every install line; building it was a third of the encoding). Same text: same separators,
    same string escaping, float repr and ``default``; only the circular-reference check is left out
    (event data comes from JSON or from our own dicts)."""
    make = getattr(json.encoder, "c_make_encoder", None)
    escape = getattr(json.encoder, "c_encode_basestring", None)
    if make is None or escape is None:
        return None
    encode = make(None, _ENCODER.default, escape, None, ":", ",", False, False, True)

    def to_json(value: Any) -> str:
        if value.__class__ is str:
            return escape(value)
        return "".join(encode(value, 0))

    return to_json


# The wire's encoder: its bytes are what the byte-for-byte wire tests compare.
to_json: Callable[[Any], str] = _c_encoder() or _ENCODER.encode

_orjson_dumps = orjson.dumps


def stored_json(value: Any) -> str:
    """JSON text of an event's data for the events table: orjson (~0.3 µs for an install line
    against ~1.4 µs). It decodes to the same values as :func:`to_json`'s text; only a float's
    exponent is written differently (``1e16`` for ``1e+16``) and NaN or an infinity is ``null``
    (valid JSON, which to_json's text is not). What orjson refuses (integers beyond
    64 bits, non-string keys) goes through :func:`to_json`. Never sent on the wire as is: readers
    decode it and the wire encodes with :func:`to_json`."""
    try:
        return _orjson_dumps(value).decode()
    except TypeError:
        return to_json(value)


class Transaction:
    """The operations of one chunk the writer drained, applied inside its open transaction, and
    whom to tell once that commits.

    Events go in with multi-row INSERTs; updates of one row merge into one statement (only the
    last value of a field matters); an insert first applies the updates queued before it.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.stop = False
        self.urgent = False  # an awaited op or a commit request: commit after this chunk
        self.dones: list[Done] = []
        self.rows = 0  # event rows, once finished
        self._events: list[tuple] = []
        self._updates: dict[str, dict[str, Any]] = {}

    def apply_all(self, ops: list[tuple]) -> None:
        """:meth:`apply` each op in order; events (nearly all of a burst) without a call each."""
        events = self._events
        for op in ops:
            if op[0] == _EVENTS:
                events += op[1]
            else:
                self.apply(op)

    def apply(self, op: tuple) -> None:
        kind = op[0]
        if kind == _EVENTS:
            self._events += op[1]
            return
        if kind in (_UPDATE, _ROW_SYNC):
            fields = self._updates.setdefault(op[1], {})
            extra = {**fields.get("extra", {}), **op[2].get("extra", {})}  # merges key by key
            fields.update(op[2])
            if extra:
                fields["extra"] = extra
        elif kind == _INSERT:
            self._flush_updates()
            self._insert(op[1])
        self.stop = self.stop or kind == _STOP
        self.urgent = self.urgent or kind not in _UNAWAITED
        if op[-1] is not None:
            self.dones.append(op[-1])

    def finish(self, held: list[tuple] | None = None, *, everything: bool = True,
               ) -> tuple[dict[str, int], list[tuple]]:
        """Run what was deferred, after the event rows ``held`` from earlier chunks; returns the
        highest seq per deployment of this chunk's events, and the rows left for later: none with
        ``everything``, else what does not fill a statement of the largest size."""
        self._flush_updates()
        events = self._events
        self.rows = len(events)
        # Each deployment's events are queued in seq order: the last one per id is its highest.
        seqs = dict(zip(map(_DEPLOYMENT, events), map(_SEQ, events))) if events else {}
        rows = held + events if held else events
        done = insert_events(self.conn, rows, everything=everything) if rows else 0
        return seqs, rows[done:]

    def _insert(self, encoded: dict[str, Any]) -> None:
        values = dict(encoded)
        if "extra" in values:
            pairs = (f"{to_json(k)}:{v}" for k, v in values["extra"].items())
            values["extra"] = "{" + ",".join(pairs) + "}"
        columns = ",".join(f'"{c}"' for c in values)
        marks = ",".join("?" * len(values))
        sql = f"INSERT INTO deployments ({columns}) VALUES ({marks})"
        self.conn.execute(sql, list(values.values()))

    def _update(self, deployment_id: str, encoded: dict[str, Any]) -> None:
        assignments: list[str] = []
        params: list[Any] = []
        for column, value in encoded.items():
            if column == "extra":  # json_set replaces each key; a JSON patch would deep-merge
                paths = ", ".join("?, json(?)" for _ in value)
                assignments.append(f"extra = json_set(COALESCE(extra, '{{}}'), {paths})")
                for key, text in value.items():
                    params += ['$."' + key.replace('"', "") + '"', text]
            else:
                assignments.append(f'"{column}" = ?')
                params.append(value)
        if assignments:
            sql = f"UPDATE deployments SET {', '.join(assignments)} WHERE deployment_id = ?"
            self.conn.execute(sql, [*params, deployment_id])

    def _flush_updates(self) -> None:
        for deployment_id, fields in self._updates.items():
            self._update(deployment_id, fields)
        self._updates.clear()
