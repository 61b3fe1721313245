"""LineRenderer: golden headless output, colour only when asked, nothing raw from the server."""

from __future__ import annotations

import io
import json
import re
from dataclasses import replace
from datetime import datetime
from typing import Any

from deploytui.client.render import LineRenderer, json_line
from deploytui.protocol.events import Event, TruncatedEvent, parse_event

DEP = "6f1c2c1e-0000-4000-8000-000000000001"
ESC = "\x1b"


def ev(name: str, data: Any = None, *, seq: int | None = None, t: int | None = None) -> Event:
    return parse_event(name, data, seq=seq, t=t)


def phase(name: str, status: str, t: int | None = None) -> Event:
    return ev("phase", {"phase": name, "status": status}, t=t)


def install(line: str, stream: str = "stdout", t: int | None = None) -> Event:
    return ev("install", {"manager": "npm", "stream": stream, "line": line}, t=t)


SUCCESS = [
    phase("prepare", "start", 1_000),
    install("added 3 packages in 1s", t=1_500),
    install(f"{ESC}[33mnpm{ESC}[39m {ESC}[43mWARN{ESC}[49m deprecated inflight@1.0.6", "stderr", 1_600),
    install("", t=1_700),  # a blank line is output too: printed as a bare "|"
    phase("prepare", "done", 4_200),
    phase("load", "start", 4_200),
    phase("load", "done", 4_300),
    phase("replicate", "start", 4_300),
    ev("peer", {"node": "node-1", "status": "success"}, t=4_800),
    ev("peer", {"node": "node-2", "status": "failed", "error": {"message": "timeout"}}, t=4_850),
    phase("replicate", "done", 4_900),
    ev("payload_dropped", {"payload_size": 20_000_000, "max_size": 10_485_760}, t=5_000),
    phase("success", "done", 5_000),
    ev("_recorder_finished", {"status": "success"}, t=5_100),
    ev("done", {"result": {"deployment_id": DEP, "project": "hello", "status": "success",
                           "started_at": 1_000, "completed_at": 5_100}}),
]

SUCCESS_GOLDEN = """\
▸ prepare …
  install: using npm
  | added 3 packages in 1s
  ! npm WARN deprecated inflight@1.0.6
  |
✓ prepare (3.2 s)
▸ load …
✓ load (0.1 s)
▸ replicate …
  peer node-1: success
  peer node-2: failed: timeout
✓ replicate (0.6 s)
  payload not retained (19.1 MiB)
✓ deployed hello in 4.1 s
"""

# Harper's wire: no seq, no t (the clock ticks 0.5 s per event); v1/v2 follow the deploy's own error
# with a bare framework one.
FAILURE = [
    phase("prepare", "start"),
    install("npm ERR! code ELIFECYCLE", "stderr"),
    ev("truncated", {"dropped_events": 4_821}),
    install("npm ERR! Exit status 1", "stderr"),
    ev("error", {"message": "install failed\nsee the output above", "code": 500, "phase": "prepare",
                 "deployment_id": DEP}),
    ev("_recorder_finished", {"status": "failed"}),
    ev("error", {"message": "install failed", "code": 500}),
]

FAILURE_GOLDEN = """\
▸ prepare …
  install: using npm
  ! npm ERR! code ELIFECYCLE
  … events not kept by the server …
  ! npm ERR! Exit status 1
✗ deploy failed in prepare (500): install failed
  see the output above
✗ deployment 6f1c2c1e failed in prepare after 3.0 s
"""


def run(events: list[Event], *, color: bool = False, out: io.TextIOBase | None = None, **kw: Any) -> str:
    out = out if out is not None else io.StringIO()
    clock = iter(range(0, 100_000, 500))
    renderer = LineRenderer(out, color=color, clock=lambda: next(clock), **kw)
    for event in events:
        renderer.render(event)
    renderer.finish()
    renderer.finish()  # idempotent
    return out.getvalue() if isinstance(out, io.StringIO) else ""


def test_success_golden() -> None:
    assert run(SUCCESS) == SUCCESS_GOLDEN


def test_failure_golden_with_harper_times() -> None:
    assert run(FAILURE) == FAILURE_GOLDEN


def test_truncation_count_is_shown_only_when_exact() -> None:
    """Harper's marker count is wrong (it always says 2): no number; a measured gap's is exact."""
    harper = run([install("a"), ev("truncated", {"dropped_events": 2})])
    assert "  … events not kept by the server …" in harper.splitlines() and " 2 " not in harper
    exact = run([install("a"), TruncatedEvent(dropped_events=4_821, exact=True, raw={"dropped_events": 4_821})])
    assert "  … 4 821 events not kept by the server …" in exact.splitlines()


def test_color_off_has_no_escape_at_all() -> None:
    hostile = [phase(f"pre{ESC}]0;t\x07pare", "start"), install(f"{ESC}[2J{ESC}[31mred{ESC}[0m\x9b2J"),
               ev("peer", {"node": f"n{ESC}[1A", "status": "success"}),
               ev("warning", {"message": f"w{ESC}[?1049h"}),
               ev("error", {"message": f"x{ESC}c", "code": f"1{ESC}[5n", "phase": f"p{ESC}]52;c;eA==\x07"})]
    stale = [ev("_recorder_finished", {"status": f"odd{ESC}[2J"}), ev("mystery\x07", {"a": 1})]
    text = run(SUCCESS) + run(FAILURE) + run(hostile) + run(stale)
    assert ESC not in text and not re.search("[\x00-\x09\x0b-\x1f\x7f-\x9f]", text)


def test_color_on_emits_only_sgr() -> None:
    text = run(SUCCESS, color=True)
    assert f"{ESC}[33mnpm{ESC}[0m {ESC}[43mWARN{ESC}[0m deprecated" in text  # npm's colours rebuilt
    assert re.sub(rf"{ESC}\[[0-9;]*m", "", text) == SUCCESS_GOLDEN
    hostile = run([install(f"{ESC}]52;c;cGF5bG9hZA==\x07{ESC}[?25l{ESC}[1;31mx")], color=True)
    assert re.sub(rf"{ESC}\[[0-9;]*m", "", hostile).count(ESC) == 0


def test_ascii_fallback_when_the_encoding_cannot_show_symbols() -> None:
    raw = io.BytesIO()
    out = io.TextIOWrapper(raw, encoding="ascii")
    run(SUCCESS + [install("café ✓")], out=out)
    out.flush()
    text = raw.getvalue().decode("ascii")
    assert text.splitlines()[:2] == ["> prepare ...", "  install: using npm"]
    assert "+ prepare (3.2 s)" in text and "+ deployed hello in 4.1 s" in text


def test_backfilled_events_are_marked() -> None:
    events = [phase("prepare", "start", 1_000), replace(phase("prepare", "done", 2_000), backfilled=True),
              replace(install("late", t=1_500), backfilled=True)]
    lines = run(events).splitlines()
    assert lines[1:5] == ["↻ recovered from the server's event log:", "↻ ✓ prepare (1.0 s)",
                          "↻   install: using npm", "↻   | late"]


def test_seen_seq_is_not_rendered_twice() -> None:
    events = [replace(e, seq=i + 1) for i, e in enumerate(SUCCESS)]
    assert run(events[:5] + events) == SUCCESS_GOLDEN


def test_install_output_is_shown_when_no_lines_were() -> None:
    error = ev("error", {"message": "install failed", "code": 500, "phase": "prepare",
                         "install_output": {"lines": [{"manager": "npm", "stream": "stderr", "line": "npm ERR! 404"}],
                                            "truncated": False, "dropped_lines": 0}})
    assert run([error]).splitlines()[:3] == ["✗ deploy failed in prepare (500): install failed",
                                             "  last install output:", "  ! npm ERR! 404"]


def test_stream_ending_early_says_so() -> None:
    assert run([phase("replicate", "start")]).splitlines()[-1] == (
        "stream ended before deployment finished (status: replicating)")


def test_show_time_prefixes_local_time() -> None:
    stamp = datetime.fromtimestamp(1_000).strftime("%H:%M:%S")
    assert run([phase("prepare", "start", 1_000_000)], show_time=True).startswith(f"{stamp} ▸ prepare")


def test_json_line() -> None:
    line = json_line(ev("install", {"manager": "npm", "stream": "stdout", "line": f"a\x9bb{ESC}[31m", "t": 5},
                        seq=3))
    assert json.loads(line) == {"event": "install", "seq": 3, "t": 5, "t_source": "event", "backfilled": False,
                                "data": {"manager": "npm", "stream": "stdout", "line": f"a\x9bb{ESC}[31m"}}
    assert not re.search("[\x00-\x1f\x7f-\x9f]", line)
    assert json.loads(json_line(ev("mystery", "not json"))) == {
        "event": "mystery", "seq": None, "t": None, "t_source": None, "backfilled": False, "data": "not json"}
