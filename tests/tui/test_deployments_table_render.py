"""The deployments table renders its one-line cells itself (DataTable's general path costs ~0.2 ms
a cell before the list's first frame): every cell must come out as DataTable would render it."""

from __future__ import annotations

import pytest
from textual.app import App, ComposeResult
from textual.widgets import DataTable

from deploytui.tui.widgets.deployments_table import DeploymentsTable

STATUSES = ["installing", "success", "failed", "staged", "rolled_back", "activating", "cancelled", "?weird"]


def rows() -> list[dict]:
    return [{"deployment_id": f"{i:08x}-aaaa-4bbb-8ccc-{i:012x}",
             "project": "a-project-name-far-too-long-for-its-column" if i % 3 == 0 else f"proj-{i}",
             "status": status, "phase": "install" if i % 2 else "prepare", "user": "admin" if i % 2 else None,
             "origin_node": "node-with-a-long-name" if i % 4 == 0 else "vm", "started_at": 1_700_000_000_000 + i * 7_000,
             "completed_at": None if status in ("installing", "activating") else 1_700_000_000_000 + i * 7_000 + 1_234,
             "payload_size": 1200 * i or None}
            for i, status in enumerate(STATUSES)]


class TableApp(App[None]):
    def __init__(self, theme: str) -> None:
        super().__init__()
        self.theme_name = theme

    def compose(self) -> ComposeResult:
        yield DeploymentsTable(now=lambda: 1_700_000_100.0, id="t")

    def on_mount(self) -> None:
        self.theme = self.theme_name


@pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
@pytest.mark.parametrize("width", [60, 100, 160])
async def test_every_cell_renders_as_datatable_renders_it(theme: str, width: int) -> None:
    app = TableApp(theme)
    async with app.run_test(size=(width, 20)) as pilot:
        table = app.query_one(DeploymentsTable)
        table.set_width(width)
        table.update_rows(rows())
        await pilot.pause()
        compared = 0
        for row in range(table.row_count):
            for column_index, column in enumerate(table.columns.values()):
                for cursor, hover in ((False, False), (True, False), (False, True)):
                    cell_width = column.get_render_width(table)
                    table._cell_render_cache.clear()
                    ours = table._render_cell(row, column_index, table.rich_style, cell_width, cursor, hover)
                    table._cell_render_cache.clear()
                    theirs = DataTable._render_cell(table, row, column_index, table.rich_style, cell_width, cursor, hover)
                    assert ours == theirs, (row, column.key, cursor, hover)
                    compared += 1
        assert compared == table.row_count * len(table.columns) * 3
