"""The pieces of the local server's life on their own: the data dir lock and the idle rule (the
processes themselves are in tests/e2e/test_local_server.py)."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest

from deploytui.protocol.local import LOCK_FILE, SERVER_FILE
from deploytui.server.lifecycle import Activity, DataDirBusy, DataDirLock, ServerLife


def test_the_lock_admits_one_holder_and_names_it(tmp_path: Path) -> None:
    first = DataDirLock(tmp_path)
    first.acquire()
    try:
        # Still starting: no server.json yet, so the pid written into the lock file is all there is.
        with pytest.raises(DataDirBusy, match=r"already running on .*: pid \d+, still starting; stop it with"):
            DataDirLock(tmp_path).acquire()
        # A server.json left by an earlier (crashed) server does not name the holder.
        (tmp_path / SERVER_FILE).write_text(json.dumps({"url": "http://127.0.0.1:1", "pid": 1}))
        with pytest.raises(DataDirBusy, match=rf"pid {os.getpid()}, still starting"):
            DataDirLock(tmp_path).acquire()
        (tmp_path / SERVER_FILE).write_text(json.dumps({"url": "http://127.0.0.1:1234", "pid": os.getpid()}))
        with pytest.raises(DataDirBusy) as info:
            DataDirLock(tmp_path).acquire()
        assert str(info.value) == (f"a deploytui server is already running on {tmp_path}: http://127.0.0.1:1234 "
                                   f"(pid {os.getpid()}); stop it with `deploytui server stop`")
    finally:
        first.release()
    again = DataDirLock(tmp_path)
    again.acquire()  # released: the next server takes it
    again.release()
    assert (tmp_path / LOCK_FILE).stat().st_mode & 0o777 == 0o600


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_the_idle_rule_waits_for_deploys_connections_and_requests() -> None:
    clock = Clock()
    stopped = asyncio.Event()
    state = {"deploys": True, "connections": 0}
    checks: asyncio.Queue[None] = asyncio.Queue()
    life = ServerLife(idle_exit_s=30, request_stop=stopped.set, activity=Activity(clock),
                      open_connections=lambda: state["connections"])

    def busy() -> bool:
        checks.put_nowait(None)
        return state["deploys"]

    async def check_at(now: float) -> None:
        """Let the rule look once more with the clock at ``now``."""
        clock.now = now
        while not checks.empty():
            checks.get_nowait()
        await checks.get()

    watcher = asyncio.ensure_future(life.stop_when_idle(busy, clock=clock, interval=0.01))
    try:
        await check_at(100)  # a deploy runs: however long, no stop
        state.update(deploys=False, connections=1)
        await check_at(200)  # a client connection is open
        state["connections"] = 0
        life.activity.opened()  # a request in flight (an SSE stream)
        await check_at(300)
        life.activity.closed()  # at 300: the last request ended
        await check_at(329)
        assert not stopped.is_set()
        await check_at(331)
        await asyncio.wait_for(stopped.wait(), 10)
        await asyncio.wait_for(watcher, 10)  # and it stops looking
    finally:
        watcher.cancel()


async def test_no_idle_rule_without_idle_exit() -> None:
    life = ServerLife(idle_exit_s=None, request_stop=lambda: pytest.fail("stopped"))
    await asyncio.wait_for(life.stop_when_idle(lambda: False), 5)
