"""The store's writer side: queue operation kinds and one batched transaction.

Kept apart from :mod:`deploytui.server.store` so the batching rules (events in one
``executemany``, row updates merged per row) can be read on their own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from functools import lru_cache
from itertools import chain
from operator import itemgetter
from typing import Any

# Writer queue operations: plain tuples, because emit() queues one per install line. _ROW_SYNC is
# an update nobody awaits (the recorder's coalesced row write): like an event, it may wait for the
# batch to fill; the other kinds are awaited, so the writer commits as soon as it sees one.
_EVENT, _INSERT, _UPDATE, _BARRIER, _STOP, _ROW_SYNC = range(6)
_UNAWAITED = frozenset({_EVENT, _ROW_SYNC})

# An _EVENT op is (_EVENT, deployment_id, seq, t, event, data as JSON text, data) (no done):
# the columns stored, and the (deployment_id, seq, t, event, data) handed to commit listeners.
_STORED_COLUMNS = itemgetter(1, 2, 3, 4, 5)
_PUBLISHED_COLUMNS = itemgetter(1, 2, 3, 4, 6)

# Events go in with multi-row INSERTs of these many rows (then 1 for the rest): one statement
# step per 500 rows instead of one per row, and the sqlite3 module releases the GIL per step, so
# the writer thread waits for the GIL per 500 rows, not per row, while emit() keeps the loop busy.
# A size is used only when its parameters fit the connection's limit (32,766 by default since
# SQLite 3.32, 999 before).
_ROWS_PER_INSERT = (4000, 150, 1)
_COLUMNS = 5


@lru_cache(maxsize=None)
def _insert_sql(rows: int) -> str:
    return "INSERT INTO events (deployment_id, seq, t, event, data) VALUES " + ",".join(["(?,?,?,?,?)"] * rows)


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


to_json: Callable[[Any], str] = _c_encoder() or _ENCODER.encode


class Transaction:
    """The operations of one writer transaction, and whom to tell once it commits.

    Events go in with one ``executemany``; updates of one row merge into one statement (only the
    last value of a field matters); an insert first applies the updates queued before it.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self.conn = conn
        self.stop = False
        self.dones: list[Done] = []
        self._events: list[tuple] = []
        self._updates: dict[str, dict[str, Any]] = {}

    def apply_all(self, ops: list[tuple]) -> None:
        """:meth:`apply` each op in order; events (nearly all of a burst) without a call each."""
        events = self._events
        for op in ops:
            if op[0] == _EVENT:
                events.append(op)
            else:
                self.apply(op)

    def apply(self, op: tuple) -> None:
        kind = op[0]
        if kind == _EVENT:
            self._events.append(op)
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
        if op[-1] is not None:
            self.dones.append(op[-1])

    def finish(self) -> list[tuple]:
        """Run what was deferred; returns the stored events, for the commit listeners."""
        self._flush_updates()
        events = self._events
        if not events:
            return []
        rows = list(map(_STORED_COLUMNS, events))
        done = 0
        limit = self.conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        for per in _ROWS_PER_INSERT:
            if per * _COLUMNS > limit:
                continue
            full = done + (len(rows) - done) // per * per
            if full > done:
                self.conn.executemany(_insert_sql(per), (
                    list(chain.from_iterable(rows[i : i + per])) for i in range(done, full, per)
                ) if per > 1 else rows[done:full])
                done = full
        return list(map(_PUBLISHED_COLUMNS, events))

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
