"""The dashboard's tests see one time zone, UTC, whatever the machine's: the detail screen shows
local times, and a snapshot taken in one zone must match in every other (with the frozen clock of
``app_harness.recorded_app`` this makes every rendered time fixed)."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

PINNED_TZ = "UTC"


@pytest.fixture(autouse=True)
def pinned_time_zone(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", PINNED_TZ)
    time.tzset()
    yield
    monkeypatch.undo()  # restore the machine's zone before re-reading it
    time.tzset()
