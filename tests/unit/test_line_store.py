"""LineStore: install lines as columns (counts, not timings).

Checked against a plain list of ``InstallLine`` as the model: whatever is appended, extended,
copied or evicted, the store reads back the same lines in the same order, and what it holds stays
within ``maxlen`` plus the ``maxlen // 16`` lines it frees at a time, however many go through it.
"""

from __future__ import annotations

import random

from deploytui.client.ansi import SafeText, StyledSpan
from deploytui.client.lines import InstallLine, LineStore
from deploytui.client.view import DeploymentView
from deploytui.protocol.events import parse_event


CHUNK = 1024  # batch sizes around this


def line(i: int, text: str | None = None) -> InstallLine:
    spans = (StyledSpan(0, 1, "red"),) if i % 97 == 0 else ()
    return InstallLine(i, i + 1 if i % 5 else None, "stderr" if i % 3 == 0 else "stdout",
                       SafeText(text if text is not None else f"line {i} {'é' * (i % 4)}", spans),
                       1000 + i if i % 7 else None, "npm" if i % 2 else "yarn", i % 11 == 0, i % 13 == 0)


def held(store: LineStore) -> int:
    """Lines the store physically keeps (visible or not yet freed)."""
    return len(store.indexes)


def test_reads_back_what_was_appended_across_chunks() -> None:
    store, model = LineStore(), [line(i) for i in range(3 * CHUNK + 17)]
    store.extend(model[:CHUNK - 1])
    store.extend_from(_store_of(model[CHUNK - 1 : 2 * CHUNK + 5]))
    store.extend(model[2 * CHUNK + 5 :])
    assert len(store) == len(model)
    assert list(store) == model
    assert store[CHUNK] == model[CHUNK] and store[-1] == model[-1] and store[5:8] == model[5:8]
    assert [store.text(p) for p in (0, CHUNK - 1, CHUNK, len(model) - 1)] == \
        [model[p].text.text for p in (0, CHUNK - 1, CHUNK, len(model) - 1)]
    assert store.plain_texts(CHUNK - 3) == [m.text.text for m in model[CHUNK - 3 :]]
    assert list(store.tail(CHUNK + 2)) == model[-(CHUNK + 2) :]


def test_eviction_keeps_order_and_bounds_what_is_held() -> None:
    maxlen = 5 * CHUNK
    store, model = LineStore(maxlen=maxlen), []
    rng = random.Random(11)
    most = 0
    i = 0
    while i < 40 * CHUNK:
        n = rng.choice((1, 7, CHUNK // 3, CHUNK + 1, 3 * CHUNK))
        batch = [line(j) for j in range(i, i + n)]
        if rng.random() < 0.5:
            store.extend(batch)
        else:
            store.extend_from(_store_of(batch))
        model += batch
        i += n
        most = max(most, held(store))
        assert len(store) == min(maxlen, len(model))
    assert list(store) == model[-maxlen:]
    assert store.first_index == model[-maxlen].index
    assert most <= maxlen + maxlen // 16  # the bound plus what awaits a chunked free


def test_a_view_fed_thirty_times_its_window_holds_the_window_only() -> None:
    """A DeploymentView fed far more lines than ``max_lines`` keeps at most the window (plus what
    waits to be freed in a chunk), and a bounded number of events: counts, not timings."""
    window, events = 2 * CHUNK, 500
    view = DeploymentView(max_lines=window, max_events=events)
    total = 60 * CHUNK
    for seq in range(1, total + 1):
        view.apply(parse_event("install", {"manager": "npm", "stream": "stdout", "line": f"line {seq}"}, seq=seq))
    lines = view.lines
    assert (view.total_lines, len(lines)) == (total, window)
    assert held(lines) <= window + window // 16 and len(lines.texts) == held(lines)
    assert len(lines.spans) == 0  # no per-line entry for a plain line
    assert len(view.events) == events
    assert lines[-1].text.text == f"line {total}" and lines[0].index == total - window


def _store_of(lines: list[InstallLine]) -> LineStore:
    store = LineStore()
    store.extend(lines)
    return store
