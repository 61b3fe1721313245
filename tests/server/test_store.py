"""Store: rows, list_deployments semantics, the events table, strip_row and batched commits."""

from __future__ import annotations

from pathlib import Path

import pytest

from deploytui.server.recorder import EventHub
from deploytui.server.store import Store, connect, strip_row


def make_row(deployment_id: str, *, project: str = "app", status: str = "success",
             started_at: int = 1000, **fields) -> dict:
    return {"deployment_id": deployment_id, "project": project, "status": status,
            "phase": "pending", "started_at": started_at, **fields}


async def insert_all(store: Store, rows: list[dict]) -> None:
    for row in rows:
        await store.insert_row(row)


async def test_insert_get_update_round_trip(store: Store, tmp_path: Path) -> None:
    row = make_row("d1", payload_hash="ab" * 32, payload_size=42, user="admin",
                   error=None, install_fingerprint={"lockfiles": {"package-lock.json": "00"}},
                   payload_path=str(tmp_path / "p.tar.gz"))
    await store.insert_row(row)
    got = await store.get_row("d1")
    assert got is not None
    assert got["event_log"] == [] and got["peer_results"] == []
    assert got["payload_size"] == 42 and got["user"] == "admin"
    assert got["install_fingerprint"] == {"lockfiles": {"package-lock.json": "00"}}
    assert got["payload_path"] == str(tmp_path / "p.tar.gz")

    error = {"message": "boom", "code": 500, "phase": "prepare"}
    peers = [{"node": "n1", "status": "success", "error": None}]
    await store.update_row("d1", {"status": "failed", "error": error, "peer_results": peers,
                                  "completed_at": 2000, "install_fingerprint": {"lockfiles": {}},
                                  "_attempt": 2})
    got = await store.get_row("d1")
    assert got["status"] == "failed" and got["error"] == error and got["peer_results"] == peers
    assert got["completed_at"] == 2000 and got["_attempt"] == 2
    assert got["install_fingerprint"] == {"lockfiles": {}}
    assert await store.get_row("nope") is None


async def test_duplicate_insert_raises(store: Store) -> None:
    await store.insert_row(make_row("d1"))
    with pytest.raises(Exception, match="UNIQUE"):
        await store.insert_row(make_row("d1"))


def test_strip_row_hides_internals(tmp_path: Path) -> None:
    blob = tmp_path / "blob.tar.gz"
    row = make_row("d1", payload_path=str(blob), _secret=1, payload_blob=b"x")
    assert strip_row(row)["payload_blob_present"] is False  # path set, file missing
    blob.write_bytes(b"tar")
    view = strip_row(row)
    assert view["payload_blob_present"] is True
    assert not {"payload_path", "_secret", "payload_blob"} & view.keys()
    assert strip_row(make_row("d2", payload_path=None))["payload_blob_present"] is False


@pytest.fixture
async def listed(store: Store) -> Store:
    await insert_all(store, [
        make_row("b", project="web", status="success", started_at=300),
        make_row("a", project="web", status="failed", started_at=300),   # tie with b
        make_row("c", project="api", status="success", started_at=200),
        make_row("d", project="web", status="pending", started_at=100),
        make_row("e", project="api", status="failed", started_at=400),
    ])
    return store


async def ids(store: Store, **kw) -> tuple[list[str], int]:
    rows, total = await store.list_rows(**kw)
    return [r["deployment_id"] for r in rows], total


async def test_list_orders_newest_first_with_id_tiebreak(listed: Store) -> None:
    assert await ids(listed) == (["e", "a", "b", "c", "d"], 5)


@pytest.mark.parametrize(("filters", "expected"), [
    ({"project": "web"}, ["a", "b", "d"]),
    ({"status": "success"}, ["b", "c"]),
    ({"project": "api", "status": "failed"}, ["e"]),
    ({"since": 200}, ["e", "a", "b", "c"]),            # inclusive
    ({"until": 300}, ["a", "b", "c", "d"]),            # inclusive
    ({"since": 200, "until": 300}, ["a", "b", "c"]),
    ({"project": "nope"}, []),
])
async def test_list_filters(listed: Store, filters: dict, expected: list[str]) -> None:
    assert await ids(listed, **filters) == (expected, len(expected))


@pytest.mark.parametrize(("paging", "expected"), [
    ({"limit": 2}, ["e", "a"]),
    ({"limit": 2, "offset": 2}, ["b", "c"]),
    ({"offset": 4}, ["d"]),
    ({"offset": 10}, []),
    ({"limit": 0}, []),
    ({"limit": -3}, []),              # negative limit counts as 0
    ({"offset": -2, "limit": 1}, ["e"]),  # negative offset counts as 0
])
async def test_list_paging_keeps_total(listed: Store, paging: dict, expected: list[str]) -> None:
    assert await ids(listed, **paging) == (expected, 5)


async def test_list_uses_indexes(listed: Store) -> None:
    conn = listed._reader()
    plan = " ".join(str(r[3]) for r in conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM deployments WHERE project = ?"
        " ORDER BY started_at DESC, deployment_id ASC", ("web",)))
    assert "deployments_by_project" in plan


async def test_nonterminal_rows(listed: Store) -> None:
    assert [r["deployment_id"] for r in await listed.nonterminal_rows()] == ["d"]


async def test_events_paging_and_last_seq(store: Store) -> None:
    await store.insert_row(make_row("d1"))
    assert await store.last_seq("d1") == 0
    for seq in range(1, 8):
        store.enqueue_event("d1", seq, 1000 + seq, "install", {"line": f"l{seq}"})
    store.enqueue_event("other", 1, 5, "phase", {"phase": "prepare", "status": "start"})
    await store.barrier()
    assert await store.last_seq("d1") == 7
    everything = await store.events("d1")
    assert [e["seq"] for e in everything] == list(range(1, 8))
    assert everything[0] == {"seq": 1, "t": 1001, "event": "install", "data": {"line": "l1"}}
    assert [e["seq"] for e in await store.events("d1", after_seq=3, limit=2)] == [4, 5]
    assert [e["seq"] for e in await store.events("d1", after_seq=6, limit=10)] == [7]
    assert await store.events("d1", after_seq=7) == []


async def test_a_bad_event_does_not_lose_its_batch(store: Store) -> None:
    store.enqueue_event("d1", 1, 1, "install", {"line": "a"})
    await store.barrier()
    for seq in (1, 2, 3):  # seq 1 again: a duplicate the writer must skip, not the whole batch
        store.enqueue_event("d1", seq, 2, "install", {"line": f"b{seq}"})
    await store.barrier()
    assert [(e["seq"], e["data"]["line"]) for e in await store.events("d1")] == [
        (1, "a"), (2, "b2"), (3, "b3")]


async def test_burst_of_10k_events_costs_few_commits(store: Store) -> None:
    hub = EventHub(store)
    row = make_row("d1", status="pending")
    await store.insert_row(row)
    recorder = hub.start_recording(row)
    commits_before = store.commits
    for i in range(10_000):
        recorder.emit("install", {"manager": "npm", "stream": "stdout", "line": f"line {i}"})
    await recorder.flush()
    assert store.commits - commits_before < 50
    seqs = [e["seq"] for e in await store.events("d1")]
    assert seqs == list(range(1, 10_001))
    stored = await store.get_row("d1")
    assert stored["event_log"] == recorder.row["event_log"]


async def test_close_commits_what_is_queued(tmp_path: Path) -> None:
    db = Store(tmp_path / "x.sqlite3")
    await db.open()
    await db.insert_row(make_row("d1"))
    db.enqueue_event("d1", 1, 1, "phase", {"phase": "prepare", "status": "start"})
    db.enqueue_update("d1", {"phase": "prepare"})
    await db.close()
    reopened = Store(tmp_path / "x.sqlite3")
    await reopened.open()
    try:
        assert (await reopened.get_row("d1"))["phase"] == "prepare"
        assert await reopened.last_seq("d1") == 1
    finally:
        await reopened.close()


FULL = 2  # PRAGMA synchronous reads back as a number: 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA


async def test_commits_are_synced_to_disk(store: Store, tmp_path: Path) -> None:
    """synchronous=FULL on every connection the store makes (the writer's is made the same way):
    in WAL mode NORMAL could lose the last commits, and their seqs, on power loss."""
    await store.insert_row(make_row("d1"))
    reader_level = await store._read(lambda: store._reader().execute("PRAGMA synchronous").fetchone()[0])
    assert reader_level == FULL
    writer = store._connect()
    try:
        assert writer.execute("PRAGMA synchronous").fetchone()[0] == FULL
        assert writer.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        writer.close()


def test_connect_refuses_an_unknown_synchronous_mode(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="synchronous must be one of"):
        connect(tmp_path / "x.sqlite3", synchronous="FULL; DROP TABLE events")
