"""Fixtures of the server tests: a real store and hub in a temporary SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploytui.server.recorder import EventHub
from deploytui.server.store import Store


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[EventHub]:
    store = Store(tmp_path / "deploytui.sqlite3")
    await store.open()
    yield EventHub(store)
    await store.close()
