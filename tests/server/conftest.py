"""Fixtures of the server tests: a real store and hub in a temporary SQLite file."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from deploytui.server.recorder import EventHub
from deploytui.server.store import Store


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    opened = Store(tmp_path / "deploytui.sqlite3")
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def hub(store: Store) -> EventHub:
    return EventHub(store)
