"""The store's writer side: queue operation kinds and one batched transaction.

Kept apart from :mod:`deploytui.server.store` so the batching rules (events in one
``executemany``, row updates merged per row) can be read on their own.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from typing import Any

# Writer queue operations: plain tuples, because emit() queues one per install line. _ROW_SYNC is
# an update nobody awaits (the recorder's coalesced row write): like an event, it may wait for the
# batch to fill; the other kinds are awaited, so the writer commits as soon as it sees one.
_EVENT, _INSERT, _UPDATE, _BARRIER, _STOP, _ROW_SYNC = range(6)
_UNAWAITED = frozenset({_EVENT, _ROW_SYNC})

Done = Callable[[BaseException | None], None]

# Compact JSON text, as stored and as sent on the wire. One encoder for every call: json.dumps
# with non-default options would build a new one each time.
to_json: Callable[[Any], str] = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode


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
        self.conn.executemany(
            "INSERT INTO events (deployment_id, seq, t, event, data) VALUES (?, ?, ?, ?, ?)",
            (e[1:6] for e in self._events),
        )
        return [(e[1], e[2], e[3], e[4], e[6]) for e in self._events]

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
