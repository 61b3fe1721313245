"""attach() through a loopback TCP proxy that cuts, freezes, and outlives the server behind it:
no gap and no duplicate, in both wire modes."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from deploytui.client.attach import AttachState, attach
from deploytui.client.api import OperationsClient
from deploytui.client.attach.alignment import event_key
from deploytui.client.local import LocalServer
from deploytui.client.retry import RetryPolicy
from deploytui.protocol.events import (
    DoneEvent,
    ErrorEvent,
    Event,
    InstallEvent,
    TruncatedEvent,
)
from tests.client import test_attach
from tests.client.tcp_proxy import TcpProxy
from tests.client.test_attach import (
    FAST,
    assert_exactly_once,
    client_for,
    collect,
    events_table,
    gated_install,
    history_keys,
    kinds_of,
    start_deploy,
    wait_terminal,
)
from tests.conftest import start_server

pytestmark = pytest.mark.timeout(90)
wired_server = test_attach.wired_server  # the shared fixture: a fresh server in each wire mode


@pytest.mark.parametrize("wire,cut", [
    ("deploytui", {"cut_after_bytes": 64 * 1024}),
    ("deploytui", {"cut_after_s": 0.3}),
    ("harper", {"cut_after_s": 0.3}),
    # Not ("harper", 64 KiB): a Harper stream replays the 200-entry event_log and ends with a done
    # carrying the whole row, together more than 64 KiB, so no connection could finish.
])
async def test_cuts_during_a_running_deploy(tmp_path: Path, wire: str, cut: dict) -> None:
    """The stream is cut at least three times while the deploy runs (it waits at a gate until the
    proxy has cut three connections, however fast or slow the machine), then the deploy ends and
    the cuts stop, so the last connection can finish: every event exactly once."""
    srv = start_server(tmp_path / "data", wire=wire)
    command, gate = gated_install(tmp_path, 3000, 2000)
    try:
        async with client_for(srv.url) as api, TcpProxy(srv.url, **cut) as proxy:
            deployment_id = await start_deploy(api, "cuts", command)

            async def release_after_three_cuts() -> None:
                await proxy.wait_for_cuts(3)
                proxy.stop_cutting()
                gate.touch()

            release = asyncio.create_task(release_after_three_cuts())
            async with client_for(proxy.url) as through:
                states: list[AttachState] = []
                attachment = attach(through, deployment_id, on_state=states.append, retry=FAST)
                got = await collect(attachment)
            await release
            assert_exactly_once(got, await events_table(api, deployment_id), wire=wire)
    finally:
        gate.touch()
        srv.stop()
    assert proxy.cuts >= 3
    assert "reconnecting" in kinds_of(states) and states[-1].kind == "done"
    assert isinstance(got[-1], DoneEvent) and got[-1].result["status"] == "success"


async def test_cuts_with_identical_lines(wired_server: LocalServer, tmp_path: Path) -> None:
    """Runs of word-for-word identical install lines, cut repeatedly: still exactly once."""
    command, gate = gated_install(tmp_path, 3000, 3000)
    # Cut by bytes, not time: the count of cuts must not depend on how fast the machine is. A Harper
    # connection must fit its 200-entry replay and a done carrying the whole row (about 60 KiB).
    cut_after = (96 if wired_server.wire == "harper" else 48) * 1024
    async with client_for(wired_server.url) as api, TcpProxy(wired_server.url, cut_after_bytes=cut_after) as proxy:
        deployment_id = await start_deploy(api, "same", command)
        async with client_for(proxy.url) as through:
            # A Harper replay holds 200 entries, so the gate opens before the first connection ends.
            gate_at = 100 if wired_server.wire == "harper" else 1000

            def open_gate(event: Event, count: int) -> None:
                if count == gate_at:
                    gate.touch()
            got = await collect(attach(through, deployment_id, retry=FAST), open_gate)
        assert_exactly_once(got, await events_table(api, deployment_id), wire=wired_server.wire)
    assert proxy.cuts >= (1 if wired_server.wire == "harper" else 2)  # Harper's: its fast rest fits one


async def stored_seqs(api: OperationsClient, deployment_id: str) -> list[int]:
    """The seqs of the server's events table, in order."""
    seqs, after = [], 0
    while True:
        page = await api.get_deployment_events(deployment_id, after_seq=after, limit=10_000)
        seqs += [e["seq"] for e in page["events"]]
        after = page["next_after_seq"]
        if not page["has_more"]:
            return seqs


def assert_stored_once_and_the_lost_tail_before_the_error(
        got: list[Event], table: list[tuple[str, str]], seqs: list[int], *, wire: str) -> None:
    """What a crash may cost a watcher, and nothing more. Events it was shown live that the crash
    lost before their commit are one run just before recovery's final ``error`` (then, on our
    wire, a hole marker for the seq gap), and the error's stored seq is above every seq shown (none
    is handed out again); without that run, the history is delivered as :func:`assert_exactly_once`
    demands (every stored event once, in order; against Harper's wire, holes marked). The run is
    told by seq on our wire (above the last stored seq before the error), by position against
    Harper's (what follows the last stored events)."""
    delivered = [e for e in got if not isinstance(e, DoneEvent)]
    assert delivered and event_key(delivered[-1]) == table[-1] and table[-1][0] == "error"
    events = [i for i, e in enumerate(delivered[:-1]) if not isinstance(e, TruncatedEvent)]
    if wire == "deploytui":
        last_stored = seqs[-2] if len(seqs) > 1 else 0
        shown = [seq for i in events if (seq := delivered[i].seq) is not None]
        lost = [i for i in events if (delivered[i].seq or 0) > last_stored]
        assert seqs[-1] > max(shown, default=0), "recovery's error re-used a seq a watcher was shown"
    else:  # the shortest tail whose removal leaves the delivered history ending where the table does
        stored_tail = table[:-1][-20:]
        keys = [event_key(delivered[i]) for i in events]
        cut = next(k for k in range(len(keys) + 1)
                   if (keys[:len(keys) - k][-len(stored_tail):] == stored_tail if stored_tail else k == len(keys)))
        lost = events[len(events) - cut:] if cut else []
    assert lost == events[len(events) - len(lost):], "the lost events are not one run just before the error"
    # The run goes, and so do the markers after it: on our wire one stands for the seq gap before
    # the error (seqs reserved for the watcher, used or not), even when nothing was lost.
    end = lost[0] if lost else (events[-1] + 1 if events else 0)
    kept = delivered[:end] + delivered[-1:]
    assert_exactly_once(kept + [e for e in got if isinstance(e, DoneEvent)], table, wire=wire)


async def test_server_killed_and_restarted_on_the_same_data_dir(tmp_path: Path) -> None:
    """A crash mid-deploy: the watcher resumes on the restarted server and ends with crash
    recovery's "interrupted" error. Watchers get events before they are committed (the server
    commits every store.COMMIT_INTERVAL, 4 s, or 20,000 events, and at once for phases, flushes and
    the end), so a crash may lose the last events a watcher was shown, at most that many: their
    seqs are never handed out again (recovery's error is numbered after the seqs reserved for them,
    a gap); every stored event is delivered once, in order."""
    for wire in ("deploytui", "harper"):
        data = tmp_path / wire
        srv = start_server(data, wire=wire)
        command, gate = gated_install(tmp_path / wire, 500, 10)  # killed while waiting at the gate
        try:
            async with TcpProxy(srv.url) as proxy, client_for(proxy.url) as through:
                deployment_id = await start_deploy(through, "crashy", command)
                states: list[AttachState] = []

                async def crash(event: Event, count: int, data: Path = data, wire: str = wire) -> None:
                    nonlocal srv
                    if isinstance(event, InstallEvent) and event.line == "before line 490":
                        srv.kill()
                        srv = await asyncio.to_thread(start_server, data, wire=wire)
                        proxy.upstream = srv.url

                retry = RetryPolicy(initial_delay_ms=20, cap_ms=200, give_up_after_s=30)
                attachment = attach(through, deployment_id, on_state=states.append, retry=retry)
                got = await collect(attachment, crash)
                table = await events_table(through, deployment_id)
                seqs = await stored_seqs(through, deployment_id)
                assert_stored_once_and_the_lost_tail_before_the_error(got, table, seqs, wire=srv.wire)
        finally:
            gate.touch()  # let the killed server's orphaned install process finish
            srv.stop()
        error = next(e for e in reversed(got) if isinstance(e, ErrorEvent))
        assert "interrupted" in error.message
        assert attachment.final_row is not None and attachment.final_row["status"] == "failed"
        assert "reconnecting" in kinds_of(states) and states[-1].kind == "done"


async def test_stall_then_reconnect(wired_server: LocalServer, tmp_path: Path) -> None:
    """The proxy stops forwarding (connection held open): verifying finds the deploy running, so
    attach reconnects and carries on."""
    command, gate = gated_install(tmp_path, 300, 300)
    async with client_for(wired_server.url) as api, TcpProxy(wired_server.url) as proxy:
        deployment_id = await start_deploy(api, "stall", command)
        async with client_for(proxy.url) as through:
            states: list[AttachState] = []

            def on_state(state: AttachState) -> None:
                states.append(state)
                if state.kind == "reconnecting":
                    gate.touch()  # the deploy goes on only once verifying found it still running

            def freeze(event: Event, count: int) -> None:
                if count == 100:
                    proxy.freeze()

            attachment = attach(through, deployment_id, on_state=on_state, stall_timeout=0.3, retry=FAST)
            got = await collect(attachment, freeze)
        assert_exactly_once(got, await events_table(api, deployment_id), wire=wired_server.wire)
    kinds = kinds_of(states)
    assert kinds.index("verifying") < kinds.index("reconnecting", kinds.index("verifying"))
    assert kinds[-1] == "done"


async def test_stall_then_finish_from_the_row(wired_server: LocalServer, tmp_path: Path) -> None:
    """A stream that goes silent while the deploy ends: verifying finds the row terminal and
    finishes from it, backfilling what the frozen stream never sent. With ids the missing events
    come from the full history, without reconnecting; Harper's bounded row cannot hold them all, so
    there attach reconnects for a replay."""
    got, states, table = await freeze_while_it_ends(wired_server, tmp_path, "stall2")
    assert_exactly_once(got, table, wire=wired_server.wire)
    kinds = kinds_of(states)
    assert "verifying" in kinds and kinds[-1] == "done"
    assert isinstance(got[-1], DoneEvent) and got[-1].result["status"] == "success"
    if states[-1].ids:
        assert "reconnecting" not in kinds
        assert any(e.backfilled for e in got) and states[-1].backfilled > 0


async def test_stall_then_finish_as_against_harper(harper_server: LocalServer, tmp_path: Path) -> None:
    """As :func:`test_stall_then_finish_from_the_row`, but as against a real Harper: no events API,
    Harper's meaningless marker count. What the bounded row no longer holds cannot be recovered, so
    it must be reported by a ``truncated`` notice where it is missing; nothing may be delivered twice,
    and the row's tail (its newest 179 events) must all be there, then done."""
    got, states, table = await freeze_while_it_ends(harper_server, tmp_path, "stall3",
                                                    trust_marker_count=False, events_api=False)
    assert isinstance(got[-1], DoneEvent) and got[-1].result["status"] == "success"
    assert "verifying" in kinds_of(states) and states[-1].kind == "done" and states[-1].backfilled == 0
    history = got[:-1]
    assert_gaps_are_reported(history, table)
    assert history_keys(history)[-179:] == table[-179:]
    assert sum(isinstance(e, TruncatedEvent) for e in history) >= 1  # 600 events, at most 200 in a row


def assert_gaps_are_reported(got: list[Event], table: list[tuple[str, str]]) -> None:
    """Split at the ``truncated`` notices, the delivered events are runs of the table, in order,
    the first from its start: nothing delivered twice, nothing skipped without a notice."""
    runs: list[list[tuple[str, str]]] = [[]]
    for event in got:
        if isinstance(event, TruncatedEvent):
            runs.append([])
        else:
            runs[-1].append(event_key(event))
    assert runs[0] == table[:len(runs[0])], "the history does not start as the table does"
    at = len(runs[0])
    for n, run in enumerate(runs[1:], 1):
        starts = [p for p in range(at, len(table) - len(run) + 1) if table[p:p + len(run)] == run]
        assert starts, f"the events after notice {n} are not a run of the rest of the table"
        at = starts[0] + len(run)


async def test_a_quiet_running_deploy_is_not_given_up(wired_server: LocalServer, tmp_path: Path) -> None:
    """A deploy that goes silent (Harper sends no keepalives) for longer than ``give_up_after_s``:
    each stall is verified with the server, which says the deploy is running, so attach keeps
    following instead of giving up "without progress"; the deploy goes on after three such checks."""
    command, gate = gated_install(tmp_path, 50, 50)
    async with client_for(wired_server.url) as api:
        deployment_id = await start_deploy(api, "quiet", command)
        verified = 0

        def on_state(state: AttachState) -> None:
            nonlocal verified
            if state.kind == "verifying":
                verified += 1
                if verified == 3:
                    gate.touch()

        retry = RetryPolicy(initial_delay_ms=10, cap_ms=50, give_up_after_s=0.25)
        got = await collect(attach(api, deployment_id, on_state=on_state, stall_timeout=0.2, retry=retry))
        assert_exactly_once(got, await events_table(api, deployment_id), wire=wired_server.wire)
    assert verified >= 3 and isinstance(got[-1], DoneEvent)


async def freeze_while_it_ends(server: LocalServer, tmp_path: Path, project: str,
                               **attach_options: object) -> tuple[list[Event], list[AttachState], list]:
    """Attach through a proxy that freezes after 100 events, let the deploy end meanwhile, and
    collect what attach delivers; returns (events, states, the events table)."""
    command, gate = gated_install(tmp_path, 300, 300)
    async with client_for(server.url) as api, TcpProxy(server.url) as proxy:
        deployment_id = await start_deploy(api, project, command)
        # Attach once the install waits at its gate: the stream then starts with a replay burst and
        # the only silence is the freeze's, so no stall is seen before it however loaded the machine.
        await wait_install_lines(api, deployment_id, 300)
        async with client_for(proxy.url) as through:
            states: list[AttachState] = []

            async def freeze_until_over(event: Event, count: int) -> None:
                if count == 100:
                    proxy.freeze()
                    gate.touch()
                    await wait_terminal(api, deployment_id)

            attachment = attach(through, deployment_id, on_state=states.append, stall_timeout=1.0, retry=FAST,
                                **attach_options)
            got = await collect(attachment, freeze_until_over)
        return got, states, await events_table(api, deployment_id)


async def wait_install_lines(api, deployment_id: str, count: int) -> None:
    """Wait (polling the server's history, a condition another process changes) until the
    deployment has recorded ``count`` install lines."""
    seen, after = 0, 0
    while True:
        page = await api.get_deployment_events(deployment_id, after_seq=after, limit=10_000)
        seen += sum(e["event"] == "install" for e in page["events"])
        after = page["next_after_seq"]
        if seen >= count:
            return
        if not page["has_more"]:
            await asyncio.sleep(0.02)
