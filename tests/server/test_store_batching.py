"""The writer's batching keeps every event, in order, byte for byte (counts, not timings).

Events are stored with multi-row INSERTs of a few fixed sizes and then one row at a time for the
rest; a burst whose size crosses every size must come back whole. The JSON text stored (and sent)
is the one ``json.dumps(separators=(",", ":"), ensure_ascii=False)`` writes.
"""

from __future__ import annotations

import json

import pytest

from deploytui.server.recorder import EventHub
from deploytui.server.store_writer import _ROWS_PER_INSERT, to_json
from tests.server.recording import start


async def test_a_burst_crossing_every_insert_size_is_stored_whole_and_in_order(hub: EventHub) -> None:
    recorder = await start(hub)
    total = sum(_ROWS_PER_INSERT) * 2 + 3  # every size is used, and a remainder
    for i in range(total):
        recorder.emit("install", {"manager": "npm", "stream": "stderr" if i % 7 == 0 else "stdout",
                                  "line": f"line {i} é ✓ \"q\""})
    await recorder.flush()
    stored = await hub.store.events("d1")
    assert [e["seq"] for e in stored] == list(range(1, total + 1))
    assert [e["data"]["line"] for e in stored] == [f"line {i} é ✓ \"q\"" for i in range(total)]
    assert [e["data"]["stream"] for e in stored[:8]] == ["stderr"] + ["stdout"] * 6 + ["stderr"]


@pytest.mark.parametrize("value", [
    {"manager": "npm", "line": "tab\there \u2028 é \x1b[31mred\x1b[0m", "n": 1.5, "big": 10**20, "neg": -0.0},
    ["a", None, True, False, 0, {"nested": {"k": [1, 2]}}],
    {1: "int key", "unicode": "😀"},
    "just a string \"quoted\"",
    3.0,
    None,
])
def test_to_json_writes_what_json_dumps_writes(value: object) -> None:
    assert to_json(value) == json.dumps(value, separators=(",", ":"), ensure_ascii=False)
