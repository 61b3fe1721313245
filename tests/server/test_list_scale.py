"""list_deployments over thousands of rows: our ``search`` and ``summary`` additions, and paging."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from deploytui.client.local import LocalServer
from tests.conftest import op, start_server
from tests.list_support import seed_rows
from tests.tui.app_harness import demo_dir, deploy_sync

ROWS = 3000


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    data_dir = tmp_path_factory.mktemp("list-scale") / "data"
    seed_rows(data_dir, ROWS)
    srv = start_server(data_dir)
    yield srv
    srv.stop()


def listing(srv: LocalServer, **fields) -> dict:
    response = op(srv, {"operation": "list_deployments", **fields})
    assert response.status_code == 200, response.text
    return response.json()


def test_search_finds_the_oldest_row_among_thousands(big_server: LocalServer) -> None:
    found = listing(big_server, search="PROJECT-000000", limit=50)
    assert found["total"] == 1
    assert [row["project"] for row in found["deployments"]] == ["project-000000"]


def test_search_matches_any_listed_field_and_pages(big_server: LocalServer) -> None:
    by_id_prefix = listing(big_server, search="seed-00299", limit=5)
    assert by_id_prefix["total"] == 10
    assert len(by_id_prefix["deployments"]) == 5
    assert all(r["deployment_id"].startswith("seed-00299") for r in by_id_prefix["deployments"])
    second = listing(big_server, search="seed-00299", limit=5, offset=5)
    assert {r["deployment_id"] for r in second["deployments"]}.isdisjoint(
        r["deployment_id"] for r in by_id_prefix["deployments"])
    assert listing(big_server, search="no such thing", limit=5) == {"deployments": [], "total": 0}


def test_summary_rows_carry_no_event_log_and_weigh_less(big_server: LocalServer) -> None:
    full = op(big_server, {"operation": "list_deployments", "limit": 200})
    summary = op(big_server, {"operation": "list_deployments", "limit": 200, "summary": True})
    full_rows, summary_rows = full.json()["deployments"], summary.json()["deployments"]
    assert all("event_log" in row for row in full_rows)
    assert not any("event_log" in row for row in summary_rows)
    # Everything else is the same row.
    assert summary_rows == [{k: v for k, v in row.items() if k != "event_log"} for row in full_rows]
    assert len(summary.content) * 3 < len(full.content)


def test_paging_reaches_every_row(big_server: LocalServer) -> None:
    seen: list[str] = []
    offset = 0
    while True:
        page = listing(big_server, limit=1000, offset=offset, summary=True)
        seen += [row["deployment_id"] for row in page["deployments"]]
        offset += 1000
        if offset >= page["total"]:
            break
    assert len(seen) == len(set(seen)) == ROWS
    assert seen[-1].startswith("seed-000000")


@pytest.mark.parametrize(("field", "value", "message"), [
    ("search", 5, "'search' must be a string"),
    ("changed_since", "yesterday", "'changed_since' must be a number, not a string"),
    ("summary", "yes", "'summary' must be true or false"),
])
def test_bad_search_or_summary_is_a_400(big_server: LocalServer, field: str, value: object, message: str) -> None:
    response = op(big_server, {"operation": "list_deployments", field: value})
    assert response.status_code == 400
    assert response.json() == {"error": message}


def test_changed_since_sends_only_what_changed(big_server: LocalServer) -> None:
    """A poll with the previous answer's cursor carries no row when nothing changed (the total
    still counts every row), and a new deploy's row when one ran."""
    first = listing(big_server, limit=200, summary=True)
    assert len(first["deployments"]) == 200
    quiet = listing(big_server, limit=200, summary=True, changed_since=first["cursor"])
    assert quiet["deployments"] == []
    assert quiet["total"] == ROWS
    deployed = deploy_sync(big_server, "hello", demo_dir("hello"), "python3 install.py")
    changed = listing(big_server, limit=200, summary=True, changed_since=quiet["cursor"])
    assert [row["deployment_id"] for row in changed["deployments"]] == [deployed["deployment_id"]]
    assert changed["deployments"][0]["status"] == "success"
    assert changed["total"] == ROWS + 1


def test_cursor_comes_only_with_our_additions(big_server: LocalServer) -> None:
    """A Harper-shaped request gets Harper's answer shape."""
    assert set(listing(big_server, limit=1)) == {"deployments", "total"}
    assert set(listing(big_server, limit=1, changed_since=0)) == {"deployments", "total", "cursor"}
