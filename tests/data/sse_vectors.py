"""The web-platform-tests SSE parsing cases (``sse_vectors_wpt.json``), loaded once for the tests.

See ``tests/data/README.md`` for where the cases come from and under which licence.
"""

from __future__ import annotations

import json
from pathlib import Path

VECTORS_PATH = Path(__file__).with_name("sse_vectors_wpt.json")
VECTORS: list[dict] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
# Cases about HTTP (status, content type) say nothing about the body parser.
PARSE_CASES = [c for c in VECTORS if not c.get("expect_connection_failure")]


def case_chunks(case: dict) -> list[bytes]:
    """The body as the vector sends it: raw bytes when given, else the UTF-8 of each chunk."""
    if case.get("raw_chunks_hex"):
        return [bytes.fromhex(h) for h in case["raw_chunks_hex"]]
    return [c.encode("utf-8") for c in case["chunks"]]
