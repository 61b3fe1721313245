"""attach(): the replay alignment on its own (pure), then end to end against a real loopback server
in both wire modes: exactly once, the deploy's own stream, failures, typed errors, and the same view
whether folded live or replayed."""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from deploytui.client.api import ConnectionSettings, OperationsClient
from deploytui.client.attach import Attachment, AttachState, attach
from deploytui.client.attach import alignment
from deploytui.client.attach.alignment import (
    Deliver,
    DeliveredLog,
    ReplayAligner,
    event_key,
    log_events,
    missing_from_log,
)
from deploytui.client.attach.backfill import find_deployment_id
from deploytui.client.errors import AuthError, NotFoundError, ProtocolError
from deploytui.client.local import LocalServer
from deploytui.client.retry import RetryPolicy
from deploytui.client.view import DeploymentView
from deploytui.protocol.event_log import append_bounded
from deploytui.protocol.events import (
    DoneEvent,
    ErrorEvent,
    Event,
    RecorderFinishedEvent,
    TruncatedEvent,
    parse_event,
)
from deploytui.protocol.tarpack import pack_directory
from deploytui.server.demos import demo_spec
from tests.conftest import PASSWORD, USER, make_tarball, start_server

pytestmark = pytest.mark.timeout(60)
FAST = RetryPolicy(initial_delay_ms=10, cap_ms=100, give_up_after_s=20)
WIRES = ["deploytui", "harper"]


# ---- shared helpers (also used by test_attach_resilience.py) -----------------------------------


@pytest.fixture(params=WIRES)
def wired_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[LocalServer]:
    """A fresh server in each wire mode."""
    srv = start_server(tmp_path / "data", wire=request.param)
    yield srv
    srv.stop()


def client_for(url: str, password: str = PASSWORD, retry: RetryPolicy = FAST) -> OperationsClient:
    """A client whose reads retry on the tests' fast policy (the one attach() then uses too)."""
    return OperationsClient(ConnectionSettings(url, user=USER, password=password), retry=retry)


def gated_install(tmp_path: Path, before: int, after: int) -> tuple[str, Path]:
    """An install command printing ``before`` lines (runs of identical ones), waiting until the
    returned gate file exists, then printing ``after`` more; deterministic mid-deploy points."""
    gate = tmp_path / f"gate-{before}-{after}"
    script = tmp_path / f"install-{before}-{after}.py"
    script.write_text(
        "import os, sys, time\n"
        "def burst(n, tag):\n"
        "    for i in range(n):\n"
        "        print('same line, word for word' if (i // 7) % 2 else f'{tag} line {i}', flush=i % 200 == 0)\n"
        f"burst({before}, 'before')\n"
        "sys.stdout.flush()\n"
        f"while not os.path.exists({str(gate)!r}):\n"
        "    time.sleep(0.02)\n"
        f"burst({after}, 'after')\n"
    )
    return f"{sys.executable} {script}", gate


async def start_deploy(api: OperationsClient, project: str, install_command: str,
                       payload: bytes | None = None) -> str:
    """Start a deploy and return its id, without following it (the deploy runs on regardless)."""
    payload = payload or make_tarball({"package.json": json.dumps({"name": project, "version": "1.0.0"})})
    sent_at = int(time.time() * 1000) - 1
    async with api.deploy_stream({"project": project, "install_command": install_command}, payload) as events:
        if "x-deployment-id" in events.response.headers:
            return events.response.headers["x-deployment-id"]
        # Harper 5.1.14 names the deployment only in done/error: find it as a Harper client must.
        async for _ in events:
            found = await find_deployment_id(api, project, sent_at)
            if found is not None:
                return found
    raise AssertionError(f"{project}'s deploy stream ended without its deployment in the list")


async def start_demo(api: OperationsClient, demo: str) -> str:
    spec = demo_spec(demo)
    return await start_deploy(api, demo, spec.install_command, pack_directory(spec.path))


async def events_table(api: OperationsClient, deployment_id: str) -> list[tuple[str, str]]:
    """The server's full history (the SQLite events table), as comparable keys."""
    keys, after = [], 0
    while True:
        page = await api.get_deployment_events(deployment_id, after_seq=after, limit=10_000)
        keys += [event_key(parse_event(e["event"], e["data"])) for e in page["events"]]
        after = page["next_after_seq"]
        if not page["has_more"]:
            return keys


async def wait_terminal(api: OperationsClient, deployment_id: str) -> dict[str, Any]:
    """Wait for the deployment to end (a condition, polled), and return its row."""
    while True:
        row = await api.get_deployment(deployment_id)
        if row["status"] in ("success", "failed", "rolled_back"):
            return row
        await asyncio.sleep(0.02)


def kinds_of(states: list[AttachState]) -> list[str]:
    """State kinds with consecutive repeats collapsed (a state may change only in its details)."""
    return [s.kind for i, s in enumerate(states) if i == 0 or states[i - 1].kind != s.kind]


def history_keys(events: list[Event]) -> list[tuple[str, str]]:
    """Keys of the delivered history: everything but done."""
    return [event_key(e) for e in events if not isinstance(e, DoneEvent)]


def assert_exactly_once(got: list[Event], table: list[tuple[str, str]], *, wire: str = "deploytui") -> None:
    """Every event of the server's history delivered once, in order. Against Harper (``wire``
    "harper") what the row's bounded event_log dropped while we were away cannot be had again:
    there, the history is delivered in order, never twice, and each hole is a truncation marker."""
    if wire == "harper":
        assert_in_order_with_holes_marked(got, table)
        return
    keys = history_keys(got)
    if keys != table:
        first = next((i for i, (a, b) in enumerate(zip(keys, table)) if a != b), min(len(keys), len(table)))
        pytest.fail(f"delivered {len(keys)} events, table has {len(table)}; first difference at {first}: "
                    f"{keys[first:first + 2]} vs {table[first:first + 2]}")


def assert_in_order_with_holes_marked(got: list[Event], table: list[tuple[str, str]]) -> None:
    """The delivered runs between truncation markers are contiguous runs of ``table``, in order,
    the first at its start and the last at its end: nothing twice, nothing lost unmarked."""
    runs: list[list[tuple[str, str]]] = [[]]
    for event in got:
        if isinstance(event, TruncatedEvent):
            runs.append([])
        elif not isinstance(event, DoneEvent):
            runs[-1].append(event_key(event))
    assert table[:len(runs[0])] == runs[0], "the history does not start with the deploy's first events"
    cursor = len(runs[0])
    for run in runs[1:-1]:
        at = next((i for i in range(cursor, len(table) - len(run) + 1) if table[i:i + len(run)] == run), None)
        assert at is not None, f"a run of {len(run)} events after a marker is not in the history in order"
        cursor = at + len(run)
    if len(runs) > 1:
        last = runs[-1]
        assert len(table) - len(last) >= cursor and table[len(table) - len(last):] == last, \
            "the last run is not the end of the history"
    else:
        assert runs[0] == table, f"delivered {len(runs[0])} events without a marker, the history has {len(table)}"


async def collect(events: AsyncIterator[Event], on_event: Callable[[Event, int], Any] | None = None) -> list[Event]:
    got: list[Event] = []
    async for event in events:
        got.append(event)
        if on_event is not None:
            result = on_event(event, len(got))
            if asyncio.iscoroutine(result):
                await result
    return got


# ---- the alignment, pure ------------------------------------------------------------------------


def history(n: int, *, repeat_every: int = 3) -> list[Event]:
    """A synthetic history with long runs of word-for-word identical install lines."""
    out: list[Event] = [parse_event("phase", {"phase": "prepare", "status": "start"})]
    for i in range(1, n):
        line = "same line" if i % repeat_every else f"line {i}"
        out.append(parse_event("install", {"manager": "npm", "stream": "stdout", "line": line}))
    return out


def bounded(events: list[Event], *, harper_count: bool) -> list[Event]:
    """The replay a server sends: the bounded event_log (Harper's count quirk optionally)."""
    log: list[dict[str, Any]] = []
    for e in events:
        append_bounded(log, {"event": e.name, "data": e.raw}, 0)
    if harper_count and len(log) > 20 and log[20]["event"] == "truncated":
        log[20] = {"event": "truncated", "data": {"dropped_events": 2}}
    return [parse_event(entry["event"], entry["data"]) for entry in log]


def run_aligner(log: DeliveredLog, stream: list[Event], hist: list[Event], *, trust: bool) -> list[Event]:
    """Feed a connection's events as attach does; gaps are filled from ``hist`` (an events API)."""
    aligner = ReplayAligner(log, trust_marker_count=trust)
    out: list[Event] = []
    for event in stream:
        for decision in aligner.feed(event):
            new = [decision.event] if isinstance(decision, Deliver) else hist[decision.start:decision.stop]
            for e in new:
                if not isinstance(e, TruncatedEvent):
                    log.append(e)
            out += new
    for decision in aligner.flush():
        log.append(decision.event)  # type: ignore[union-attr]
        out.append(decision.event)  # type: ignore[union-attr]
    return out


def keys(events: list[Event]) -> list[tuple[str, str]]:
    return [event_key(e) for e in events]


@pytest.mark.parametrize("delivered", [0, 1, 20, 60, 150])
def test_untruncated_replay_skips_exactly_what_was_delivered(delivered: int) -> None:
    hist = history(190, repeat_every=50)  # runs of 49 identical lines
    log = DeliveredLog()
    log.extend(hist[:delivered])
    out = run_aligner(log, hist[:170] + hist[170:], hist, trust=False)
    assert keys(out) == keys(hist[delivered:])


@pytest.mark.parametrize("delivered", [100, 600, 700, 821, 950])
def test_trusted_marker_positions_identical_lines_exactly(delivered: int) -> None:
    hist = history(1200)
    server_has = 1000  # replay = log of the first 1000, then live 1000..1200
    log = DeliveredLog()
    log.extend(hist[:delivered])
    stream = bounded(hist[:server_has], harper_count=False) + hist[server_has:]
    out = run_aligner(log, stream, hist, trust=True)
    assert keys(out) == keys(hist[delivered:])  # a gap (delivered < 821) is fetched, in place


def test_harper_marker_aligns_by_content_when_the_overlap_is_distinctive() -> None:
    hist = history(1200, repeat_every=1)  # every line distinct
    log = DeliveredLog()
    log.extend(hist[:900])
    out = run_aligner(log, bounded(hist[:1000], harper_count=True) + hist[1000:], hist, trust=False)
    assert keys(out) == keys(hist[900:])


def test_harper_marker_with_identical_lines_never_duplicates() -> None:
    """The documented limit: a run of identical lines across the reconnect is ambiguous; the longest
    overlap is taken, so nothing is delivered twice (but some of that run may be dropped, which the
    marker, delivered first, says)."""
    hist = history(1200, repeat_every=400)
    log = DeliveredLog()
    log.extend(hist[:900])
    out = run_aligner(log, bounded(hist[:1000], harper_count=True) + hist[1000:], hist, trust=False)
    assert isinstance(out[0], TruncatedEvent)  # the overlap was a guess: say events may be missing
    assert len(out) <= len(hist) - 900 + 1
    assert keys(out[-200:]) == keys(hist[-200:])


def test_harper_marker_after_a_window_of_identical_lines_encodes_each_delivered_event_once(monkeypatch) -> None:
    """Every overlap is consistent when the kept window is one identical line (thousands of
    candidates, each checked against up to 179 events): the delivered side's keys are computed
    once per alignment, not once per candidate and event."""
    hist = history(6000, repeat_every=10_000)  # the phase, then 5,999 identical lines
    log = DeliveredLog()
    log.extend(hist[:4500])
    encoded = 0
    real_key = alignment.event_key

    def counted(event: Event) -> tuple[str, str]:
        nonlocal encoded
        encoded += 1
        return real_key(event)

    monkeypatch.setattr(alignment, "event_key", counted)
    out = run_aligner(log, bounded(hist[:4600], harper_count=True) + hist[4600:], hist, trust=False)
    assert isinstance(out[0], TruncatedEvent)  # a guess: said so
    assert len(out) <= len(hist) - 4500 + 1
    assert encoded < 4 * (alignment.WINDOW + len(hist) - 4500), encoded


def test_harper_marker_without_overlap_reports_the_cut() -> None:
    hist = history(1200, repeat_every=1)
    log = DeliveredLog()
    log.extend(hist[:500])  # events 500..820 were evicted while we were away
    out = run_aligner(log, bounded(hist[:1000], harper_count=True) + hist[1000:], hist, trust=False)
    assert isinstance(out[0], TruncatedEvent)
    assert keys(out[1:]) == keys(hist[821:])


@pytest.mark.parametrize("delivered", range(300, 314))  # one period of the 7 + 7 pattern: every phase
def test_harper_marker_at_a_seam_of_identical_lines_marks_the_hole(delivered: int) -> None:
    """Runs of 7 identical lines between distinct ones (the resilience test's install): whatever
    the replay's tail starts at, from just before what was delivered to past it (events evicted
    meanwhile), the delivered history is runs of the real one, each hole marked. A tail starting
    at or after the last delivered event may repeat it by content alone (no overlap and an overlap
    of one identical line look alike): that guess must be marked too."""
    hist = [parse_event("phase", {"phase": "prepare", "status": "start"})]
    hist += [parse_event("install", {"manager": "npm", "stream": "stdout",
                                     "line": "same line" if (i // 7) % 2 else f"line {i}"}) for i in range(1, 900)]
    for server_has in range(delivered, delivered + 400, 3):
        log = DeliveredLog()
        log.extend(hist[:delivered])
        out = run_aligner(log, bounded(hist[:server_has], harper_count=True) + hist[server_has:], hist, trust=False)
        assert_in_order_with_holes_marked(hist[:delivered] + out, keys(hist))


def seven_runs(n: int) -> list[Event]:
    """Runs of 7 identical lines between 7 distinct ones (the resilience test's install)."""
    out = [parse_event("phase", {"phase": "prepare", "status": "start"})]
    return out + [parse_event("install", {"manager": "npm", "stream": "stdout",
                                          "line": "same line" if (i // 7) % 2 else f"line {i}"}) for i in range(1, n)]


@pytest.mark.parametrize("behind", [180, 181, 200, 517, 1213, 2500, 3900])
def test_harper_marker_with_a_tail_persisted_behind_the_stream_delivers_nothing_twice(behind: int) -> None:
    """A reconnect in a burst: the row was persisted ``behind`` events before what had been
    delivered, so its tail is old news, and the live events after it (our server: from the row's
    end on) repeat what was delivered before the new ones come. Found in CI: taken as new, the tail
    and the catch-up were delivered a second time."""
    hist = seven_runs(6000)
    delivered = 4500
    server_has = delivered - behind
    log = DeliveredLog()
    log.extend(hist[:delivered])
    out = run_aligner(log, bounded(hist[:server_has], harper_count=True) + hist[server_has:], hist, trust=False)
    assert keys(out) == keys(hist[delivered:])


@pytest.mark.parametrize("subscribed", [3000, 3500, 4499, 4500, 4510])
def test_harper_marker_with_a_stale_tail_then_a_gap_realigns_on_the_live_events(subscribed: int) -> None:
    """Harper's read-before-subscribe after a lagging row: the tail ends at 3000, live events start
    at ``subscribed``. Nothing is delivered twice; what the stream skipped past what we had is a
    marked hole."""
    hist = seven_runs(6000)
    delivered = 4500
    log = DeliveredLog()
    log.extend(hist[:delivered])
    out = run_aligner(log, bounded(hist[:3000], harper_count=True) + hist[subscribed:], hist, trust=False)
    assert_in_order_with_holes_marked(hist[:delivered] + out, keys(hist))
    if subscribed < delivered:  # (at ``delivered`` exactly, it cannot be told from a jump past it)
        assert keys(out) == keys(hist[delivered:])


@pytest.mark.parametrize("delivered,lost", [
    (delivered, lost) for delivered in (150, 320, 327, 4500)
    for lost in (1, 2, 7, 50, 178, 179, 180, 181, 260, 1000) if delivered - lost >= 2])
def test_harper_replay_after_a_crash_that_lost_what_was_delivered_says_only_what_is_new(
        delivered: int, lost: int) -> None:
    """A server killed mid-deploy lost the last ``lost`` events it had streamed (uncommitted);
    recovery then ended the history with an error. The replay (its tail ends with that error) no
    longer continues what was delivered: only the error is new, and nothing is delivered twice.
    Found in CI (a tail persisted 255 events behind, whose last event had never been delivered)."""
    hist = seven_runs(6000)
    stored = delivered - lost
    error = parse_event("error", {"code": 500, "message": "interrupted: the server stopped during prepare"})
    log = DeliveredLog()
    log.extend(hist[:delivered])
    out = run_aligner(log, bounded(hist[:stored] + [error], harper_count=True), hist, trust=False)
    assert keys([e for e in out if not isinstance(e, TruncatedEvent)]) == keys([error])


def test_lost_step_after_a_short_replay_realigns_on_the_delivered_suffix() -> None:
    """Harper's read-before-subscribe: the replay (a lagging event_log) stops at 90, live resumes at 95."""
    hist = history(300, repeat_every=1)
    log = DeliveredLog()
    log.extend(hist[:100])
    out = run_aligner(log, hist[:90] + hist[95:], hist, trust=False)
    assert keys(out) == keys(hist[100:])


@pytest.mark.parametrize("total", [150, 1000])
def test_missing_from_log_backfills_exactly_the_holes(total: int) -> None:
    hist = history(total, repeat_every=4)
    log_entries: list[dict[str, Any]] = []
    for e in hist:
        append_bounded(log_entries, {"t": 0, "event": e.name, "data": e.raw}, 0)
    holes = {3, 5, 6, total - 40, total - 39, total - 2}  # identical lines among them
    log = DeliveredLog()
    log.extend(e for i, e in enumerate(hist) if i not in holes)
    missing = missing_from_log(log, log_entries)
    assert keys(missing) == keys([hist[i] for i in sorted(holes)])
    log_full = DeliveredLog()
    log_full.extend(hist)
    assert missing_from_log(log_full, log_entries) == []


# ---- end to end -----------------------------------------------------------------------------


async def test_attach_mid_deploy_delivers_the_events_table_exactly_once(wired_server: LocalServer) -> None:
    async with client_for(wired_server.url) as api:
        deployment_id = await start_demo(api, "chatty")
        states: list[AttachState] = []
        got = await collect(attach(api, deployment_id, on_state=states.append, retry=FAST))
        assert_exactly_once(got, await events_table(api, deployment_id), wire=wired_server.wire)
        wire = (await api.registration_info())["wire"]
    assert isinstance(got[-1], DoneEvent) and got[-1].result["status"] == "success"
    kinds = [s.kind for s in states]
    assert kinds[0] == "replaying" and "live" in kinds and kinds[-1] == "done"
    assert "reconnecting" not in kinds
    assert states[-1].ids is (wire == "deploytui")


async def test_attach_to_a_finished_deployment_replays_then_ends(wired_server: LocalServer, tmp_path: Path) -> None:
    async with client_for(wired_server.url) as api:
        command, gate = gated_install(tmp_path, 400, 0)
        gate.touch()
        deployment_id = await start_deploy(api, "finished", command)
        row = await wait_terminal(api, deployment_id)
        states: list[AttachState] = []
        attachment = attach(api, deployment_id, on_state=states.append)
        got = await collect(attachment)
        assert_exactly_once(got, await events_table(api, deployment_id), wire=wired_server.wire)
        if wired_server.wire == "harper":  # all Harper keeps: the row's bounded event_log, marker included
            assert history_keys(got) == [event_key(e) for e in log_events(row["event_log"])]
    assert kinds_of(states) == ["replaying", "done"]
    assert attachment.final_row is not None and attachment.final_row["status"] == "success"


async def test_attaches_after_the_first_on_one_client_tell_the_same(wired_server: LocalServer, tmp_path: Path) -> None:
    """The server's kind is learnt once per client; the attaches after (which on our wire open their
    stream while the row is read) deliver the same, exactly once, finished or mid-deploy, and an
    unknown id is still refused."""
    async with client_for(wired_server.url) as api:
        command, gate = gated_install(tmp_path, 300, 0)
        gate.touch()
        finished = await start_deploy(api, "twice", command)
        await wait_terminal(api, finished)
        runs = []
        for _ in range(2):
            states: list[AttachState] = []
            got = await collect(attach(api, finished, on_state=states.append))
            runs.append((history_keys(got), kinds_of(states)))
        assert runs[0] == runs[1] and runs[0][1] == ["replaying", "done"]
        assert_exactly_once(got, await events_table(api, finished), wire=wired_server.wire)
        running = await start_demo(api, "chatty")
        states = []
        got = await collect(attach(api, running, on_state=states.append))
        assert_exactly_once(got, await events_table(api, running), wire=wired_server.wire)
        assert kinds_of(states)[0] == "replaying" and kinds_of(states)[-1] == "done"
        with pytest.raises(NotFoundError):
            await collect(attach(api, "no-such-deployment"))


async def deploy_and_attach(api: OperationsClient, demo: str, project: str) -> tuple[Attachment, list[Event]]:
    """Deploy a demo with its own SSE stream and attach from that stream's first event."""
    spec = demo_spec(demo)
    fields = {"project": project, "install_command": spec.install_command}
    async with api.deploy_stream(fields, pack_directory(spec.path)) as stream:
        attachment = attach(api, None, initial_stream=stream)
        return attachment, await collect(attachment)


async def test_deploy_stream_as_initial_stream(wired_server: LocalServer) -> None:
    """The deploy case: the deploy's own SSE first; the id comes from X-Deployment-Id."""
    async with client_for(wired_server.url) as api:
        attachment, got = await deploy_and_attach(api, "hello", "hello")
        assert attachment.deployment_id is not None
        assert_exactly_once(got, await events_table(api, attachment.deployment_id), wire=wired_server.wire)
    assert isinstance(got[-1], DoneEvent) and got[-1].result["message"] == "Successfully deployed: hello"
    assert attachment.final_row is not None and attachment.final_row["status"] == "success"


async def test_failed_deploy_ends_at_its_error(wired_server: LocalServer) -> None:
    async with client_for(wired_server.url) as api:
        attachment, got = await deploy_and_attach(api, "broken-install", "broken")
        assert_exactly_once(got, await events_table(api, attachment.deployment_id or ""), wire=wired_server.wire)
    # Harper 5.1.14 follows its error with the recorder's _recorder_finished bookkeeping.
    ended = [e for e in got if not isinstance(e, RecorderFinishedEvent)]
    assert isinstance(ended[-1], ErrorEvent)
    assert attachment.state.kind == "done" and "failed" in (attachment.state.message or "")
    assert attachment.final_row is not None and attachment.final_row["status"] == "failed"


async def test_wrong_password_is_permanent(server: LocalServer) -> None:
    states: list[AttachState] = []
    async with client_for(server.url) as api:
        deployment_id = await start_demo(api, "hello")
    async with client_for(server.url, password="wrong") as bad:
        with pytest.raises(AuthError):
            await collect(attach(bad, deployment_id, on_state=states.append, retry=FAST))
    assert [s.kind for s in states] == ["failed"]


async def _html_server() -> tuple[asyncio.base_events.Server, str]:
    """A loopback HTTP server: JSON rows for plain requests, text/html for event-stream requests."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").lower()
        length = next((int(line.split(":")[1]) for line in head.split("\r\n") if line.startswith("content-length:")), 0)
        await reader.readexactly(length)
        if "text/event-stream" in head:
            body, kind = b"<html>not here</html>", b"text/html"
        else:
            body, kind = json.dumps({"status": "pending", "event_log": [], "product": "x"}).encode(), b"application/json"
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: " + kind + b"\r\nContent-Length: "
                     + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"


async def test_an_answer_that_is_not_sse_is_a_protocol_error() -> None:
    server, url = await _html_server()
    states: list[AttachState] = []
    try:
        async with client_for(url) as api:
            with pytest.raises(ProtocolError):
                await collect(attach(api, "some-id", on_state=states.append, retry=FAST))
    finally:
        server.close()
    assert states[-1].kind == "failed" and "reconnecting" not in [s.kind for s in states]


def view_summary(view: DeploymentView) -> dict[str, Any]:
    """What a screen shows, minus times."""
    return {
        "status": view.status,
        "phases": [(p.name, p.state) for p in view.phases],
        "lines": [(line.stream, str(line.text)) for line in view.lines],
        "error": view.error.message if view.error else None,
        "finished": view.finished,
        "succeeded": view.succeeded,
    }


async def test_same_view_live_and_replayed(wired_server: LocalServer) -> None:
    async with client_for(wired_server.url) as api:
        for demo in ("chatty", "broken-install"):
            deployment_id = await start_demo(api, demo)
            live, replayed = DeploymentView(deployment_id), DeploymentView(deployment_id)
            async for event in attach(api, deployment_id):
                live.apply(event, received_at=0)
            async for event in attach(api, deployment_id):
                replayed.apply(event, received_at=0)
            assert live.total_lines > (4000 if demo == "chatty" else 1)
            seen_live, seen_replayed = view_summary(live), view_summary(replayed)
            if wired_server.wire == "harper":  # a replay is the row's bounded event_log: the tail is whole
                seen_live["lines"], seen_replayed["lines"] = seen_live["lines"][-150:], seen_replayed["lines"][-150:]
            assert seen_live == seen_replayed
            assert live.finished and live.succeeded == (demo == "chatty")  # both saw the end, not a prefix
