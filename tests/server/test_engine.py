"""The deploy engine end to end: real SQLite store, real install subprocesses, real symlinks."""

from __future__ import annotations

import asyncio
import hashlib
import os
import shlex
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploytui.protocol.tarpack import pack_directory
from deploytui.server.config import ServerConfig
from deploytui.server.demos import demo_spec, demo_specs
from deploytui.server.engine import (
    DeployFailed,
    DeployRequestError,
    Engine,
    NothingToRevert,
    ProjectBusy,
)
from deploytui.server.install_output import InstallOutput
from deploytui.server.recorder import EventHub
from deploytui.server.releases import ComponentInvalid, ComponentReleases, check_config_yaml
from deploytui.server.store import Store, strip_row

PY = shlex.quote(sys.executable)


@dataclass
class Env:
    config: ServerConfig
    store: Store
    hub: EventHub
    engine: Engine

    def releases(self, project: str) -> ComponentReleases:
        return ComponentReleases(self.config.components_dir, project)


async def _open_env(data_dir: Path, **config: Any) -> Env:
    cfg = ServerConfig(data_dir=data_dir, **config)
    store = Store(cfg.db_path)
    await store.open()
    hub = EventHub(store)
    return Env(cfg, store, hub, Engine(cfg, store, hub))


@pytest.fixture
async def env(tmp_path: Path) -> AsyncIterator[Env]:
    e = await _open_env(tmp_path / "data")
    yield e
    await e.store.close()


async def _chunks(data: bytes, size: int = 7000) -> AsyncIterator[bytes]:
    for i in range(0, len(data), size):
        yield data[i : i + size]


def _component(tmp_path: Path, name: str, files: dict[str, str]) -> bytes:
    src = tmp_path / "src" / name
    for rel, text in files.items():
        (src / rel).parent.mkdir(parents=True, exist_ok=True)
        (src / rel).write_text(text)
    return pack_directory(src)


async def deploy(env: Env, project: str, payload: bytes, **options: Any) -> dict[str, Any]:
    d = await env.engine.begin(project=project, user="admin", **options)
    return await env.engine.run(d, _chunks(payload))


async def deploy_demo(env: Env, demo: str, project: str | None = None, **options: Any) -> dict[str, Any]:
    spec = demo_spec(demo)
    return await deploy(env, project or demo, pack_directory(spec.path), install_command=spec.install_command, **options)


async def _events(env: Env, deployment_id: str) -> list[dict[str, Any]]:
    return await env.store.events(deployment_id)


def _milestones(events: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """Every event but install lines, as (event, phase, status) or (event,)."""
    out = []
    for e in events:
        if e["event"] == "phase":
            out.append(("phase", e["data"]["phase"], e["data"]["status"]))
        elif e["event"] != "install":
            out.append((e["event"],))
    return out


# --------------------------------------------------------------------------- success


async def test_hello_succeeds_in_harpers_order_with_the_row_filled(env: Env) -> None:
    payload = pack_directory(demo_spec("hello").path)
    # The one-shot pipeline (two_phase: false on our wire; every deploy on the harper wire).
    result = await deploy(env, "hello", payload, install_command=demo_spec("hello").install_command, two_phase=False)
    assert result == {"message": "Successfully deployed: hello", "deployment_id": result["deployment_id"], "replicated": [],
                      "install": {"lockfiles": {}}}

    events = await _events(env, result["deployment_id"])
    assert _milestones(events) == [
        ("phase", "prepare", "start"), ("phase", "prepare", "done"),
        ("phase", "load", "start"), ("phase", "load", "done"),
        ("phase", "replicate", "start"), ("phase", "replicate", "done"),
        ("phase", "success", "done"),
    ]
    names = [e["event"] for e in events]
    installs = [e for e in events if e["event"] == "install"]
    assert names.index("install") == 1 and names[len(installs)] == "install"  # all inside prepare
    assert [e["data"]["line"] for e in installs][-1] == "found 0 vulnerabilities"
    assert {(e["data"]["manager"], e["data"]["stream"]) for e in installs} == {("custom", "stdout")}
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))

    row = await env.store.get_row(result["deployment_id"])
    assert row is not None
    assert row["status"] == "success" and row["phase"] == "success" and row["error"] is None
    assert row["payload_hash"] == hashlib.sha256(payload).hexdigest()
    assert row["payload_size"] == len(payload)
    assert row["completed_at"] >= row["started_at"] > 0
    assert row["user"] == "admin" and row["restart_mode"] is None and row["rollback_of"] is None
    assert strip_row(row)["payload_blob_present"] is True
    assert Path(row["payload_path"]).read_bytes() == payload
    assert [e["event"] for e in row["event_log"]] == names

    current = env.releases("hello").current_path()
    assert current.is_symlink() and not os.path.isabs(os.readlink(current))
    assert (current / "package.json").is_file()
    assert env.releases("hello").current_id() == result["deployment_id"]


async def test_restart_emits_restart_phase_and_says_so(env: Env, tmp_path: Path) -> None:
    payload = _component(tmp_path, "r", {"package.json": '{"name": "r"}'})
    result = await deploy(env, "r", payload, restart=True, install_command="echo ok")
    assert result["message"] == "Successfully deployed: r, restarting Harper"
    milestones = _milestones(await _events(env, result["deployment_id"]))
    assert milestones[-3:] == [("phase", "restart", "start"), ("phase", "restart", "done"), ("phase", "success", "done")]
    assert (await env.store.get_row(result["deployment_id"]))["restart_mode"] == "immediate"


async def test_skipped_install_is_visible(env: Env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "no-npm-here"))
    payload = _component(tmp_path, "plain", {"config.yaml": "rest: true\n"})
    result = await deploy(env, "plain", payload)
    installs = [e["data"] for e in await _events(env, result["deployment_id"]) if e["event"] == "install"]
    assert installs == [{"manager": "none", "stream": "stdout",
                         "line": "install skipped: no install_command, and no package.json with npm on PATH"}]


async def test_npm_wrapped_tarball_uses_the_inner_directory(env: Env, tmp_path: Path) -> None:
    payload = _component(tmp_path, "wrapped", {"package/package.json": '{"name": "w"}', "package/a.js": "1"})
    await deploy(env, "wrapped", payload, install_command="test -f a.js")  # runs in the component root
    assert (env.releases("wrapped").current_path() / "a.js").read_text() == "1"


# --------------------------------------------------------------------------- failures


async def test_broken_install_fails_in_prepare_and_keeps_the_running_release(env: Env) -> None:
    first = await deploy_demo(env, "hello", project="app")
    with pytest.raises(DeployFailed) as info:
        await deploy_demo(env, "broken-install", project="app", two_phase=False)  # one-shot's order
    failure = info.value
    assert failure.status_code == 500
    body = failure.body
    assert body["phase"] == "prepare" and "exit code 1" in body["error"] and "install.py" in body["error"]
    lines = body["install_output"]["lines"]
    assert {"manager": "custom", "stream": "stderr", "line": "npm ERR! code E404"} in lines
    assert any(x["stream"] == "stdout" for x in lines)
    assert body["install_output"]["truncated"] is False

    row = await env.store.get_row(body["deployment_id"])
    assert row["status"] == "failed" and row["completed_at"] >= row["started_at"]
    assert row["error"] == {"message": body["error"], "code": 500, "phase": "prepare"}
    events = await _events(env, body["deployment_id"])
    assert _milestones(events) == [("phase", "prepare", "start"), ("error",)]
    assert events[-1]["data"]["install_output"] == body["install_output"]
    assert env.releases("app").current_id() == first["deployment_id"]
    assert not env.releases("app").release_dir(body["deployment_id"]).exists()


async def test_bad_config_fails_in_load(env: Env) -> None:
    with pytest.raises(DeployFailed) as info:
        await deploy_demo(env, "bad-config")
    assert info.value.body["phase"] == "load"
    assert "config.yaml line 5" in info.value.body["error"]
    events = await _events(env, info.value.body["deployment_id"])
    assert _milestones(events)[-3:] == [("phase", "prepare", "done"), ("phase", "load", "start"), ("error",)]
    assert env.releases("bad-config").current_id() is None


async def test_broken_package_json_fails_in_load(env: Env, tmp_path: Path) -> None:
    payload = _component(tmp_path, "pj", {"package.json": '{"name": "pj",}'})
    with pytest.raises(DeployFailed, match="package.json is not valid JSON") as info:
        await deploy(env, "pj", payload, install_command="true")
    assert info.value.status_code == 400


async def test_hostile_tarball_fails_in_prepare_with_400(env: Env) -> None:
    with pytest.raises(DeployFailed) as info:
        await deploy(env, "junk", b"definitely not a tarball")
    assert info.value.status_code == 400 and info.value.body["phase"] == "prepare"
    assert "not a valid tar.gz" in info.value.body["error"]


async def test_install_timeout_fails_in_prepare(env: Env, tmp_path: Path) -> None:
    payload = _component(tmp_path, "t", {"package.json": "{}"})
    with pytest.raises(DeployFailed) as info:  # without the timeout, sleep 60 outlasts the test's own
        await deploy(env, "t", payload, install_command="echo starting; sleep 60", install_timeout_ms=500)
    assert "timed out" in info.value.body["error"] and info.value.body["phase"] == "prepare"
    assert info.value.body["install_output"]["lines"] == [{"manager": "custom", "stream": "stdout", "line": "starting"}]


async def test_invalid_project_names_are_refused_before_a_row(env: Env) -> None:
    for bad in ("../x", "a/b", "..", ".hidden", "", "a..b"):
        with pytest.raises(DeployRequestError) as info:
            await env.engine.begin(project=bad, user=None)
        assert info.value.status_code == 400
    assert await env.store.nonterminal_rows() == []


async def test_a_redeploy_row_is_born_saying_what_it_redeploys(env: Env) -> None:
    # A list polled right after the insert must never show the row without it (it was set by a
    # later, unawaited update: a dashboard caught the row in between).
    d = await env.engine.begin(project="again", user=None, redeploy_of="earlier-id", install_command="true")
    row = await env.store.get_row(d.deployment_id)
    assert row["redeploy_of"] == "earlier-id" and row["_install_command"] == "true"
    with pytest.raises(DeployFailed):  # ends the row, frees the project
        await env.engine.run(d, _chunks(b"not a tarball"))


async def test_a_cut_upload_records_failed_without_payload_and_frees_the_project(env: Env, tmp_path: Path) -> None:
    d = await env.engine.begin(project="ab", user=None)

    async def broken_upload() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionResetError("client went away")

    with pytest.raises(DeployFailed) as info:
        await env.engine.run(d, broken_upload())
    assert info.value.status_code == 400 and info.value.body["phase"] == "pending"
    row = await env.store.get_row(d.deployment_id)
    assert row["status"] == "failed" and "client went away" in row["error"]["message"]
    assert row["payload_path"] is None and row["payload_hash"] is None
    assert list(env.config.payloads_dir.iterdir()) == []
    await deploy(env, "ab", _component(tmp_path, "ab", {"package.json": "{}"}), install_command="true")


# --------------------------------------------------------------------------- concurrency


async def test_same_project_is_busy_while_another_project_proceeds(env: Env, tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    waiter = f"{PY} -c " + shlex.quote(
        f"import os,time\nprint('waiting')\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.01)\n"
    )
    payload = _component(tmp_path, "a", {"package.json": "{}"})
    first = await env.engine.begin(project="alpha", user=None, install_command=waiter)
    sub = env.hub.subscribe(first.deployment_id, after_seq=0)
    running = asyncio.create_task(env.engine.run(first, _chunks(payload)))
    async for event in sub:  # wait until alpha is really inside its install
        if event["event"] == "install":
            break
    sub.close()

    with pytest.raises(ProjectBusy) as info:
        await env.engine.begin(project="alpha", user=None)
    assert info.value.status_code == 409 and first.deployment_id in str(info.value)
    with pytest.raises(ProjectBusy):
        await env.engine.revert(project="alpha", user=None)

    other = await deploy(env, "beta", payload, install_command="echo beta")
    assert other["message"] == "Successfully deployed: beta" and not running.done()

    gate.touch()
    assert (await asyncio.wait_for(running, 30))["deployment_id"] == first.deployment_id
    await deploy(env, "alpha", payload, install_command="true")  # free again once finished


# --------------------------------------------------------------------------- revert


async def test_revert_swaps_back_and_records_a_rolled_back_row(env: Env, tmp_path: Path) -> None:
    v1 = await deploy(env, "app", _component(tmp_path, "v1", {"package.json": "{}", "v": "1"}), install_command="true")
    v2 = await deploy(env, "app", _component(tmp_path, "v2", {"package.json": "{}", "v": "2"}), install_command="true")
    current = env.releases("app").current_path()
    assert (current / "v").read_text() == "2"

    result = await env.engine.revert(project="app", user="admin", restart=True)
    assert result["message"] == "Reverted component: app, restarting Harper"
    assert result["reverted"] is True and result["project"] == "app"
    assert (current / "v").read_text() == "1"
    row = await env.store.get_row(result["deployment_id"])
    assert row["status"] == "rolled_back" and row["rollback_of"] == v2["deployment_id"]
    assert row["package_identifier"] is None and row["completed_at"] >= row["started_at"]
    assert _milestones(await _events(env, result["deployment_id"])) == [
        ("phase", "revert", "start"), ("phase", "revert", "done"),
        ("phase", "restart", "start"), ("phase", "restart", "done"), ("phase", "success", "done"),
    ]
    back = await env.engine.revert(project="app", user=None)  # a revert can itself be reverted
    assert (current / "v").read_text() == "2"
    assert (await env.store.get_row(back["deployment_id"]))["rollback_of"] == v1["deployment_id"]


async def test_old_releases_are_pruned_to_current_and_previous(env: Env, tmp_path: Path) -> None:
    payload = _component(tmp_path, "p", {"package.json": "{}"})
    ids = [(await deploy(env, "p", payload, install_command="true"))["deployment_id"] for _ in range(3)]
    assert sorted(p.name for p in env.releases("p").releases.iterdir()) == sorted(ids[1:])


async def test_nothing_to_revert(env: Env, tmp_path: Path) -> None:
    with pytest.raises(NothingToRevert, match="no deployed release") as info:
        await env.engine.revert(project="never", user=None)
    assert info.value.status_code == 409
    await deploy(env, "once", _component(tmp_path, "o", {"package.json": "{}"}), install_command="true")
    with pytest.raises(NothingToRevert, match="no previous release"):
        await env.engine.revert(project="once", user=None)


# --------------------------------------------------------------------------- retention, recovery


async def test_payload_over_the_retention_size_is_dropped(tmp_path: Path) -> None:
    env = await _open_env(tmp_path / "data", payload_retention_max_size=1)
    try:
        payload = _component(tmp_path, "big", {"package.json": "{}"})
        result = await deploy(env, "big", payload, install_command="true")
        row = await env.store.get_row(result["deployment_id"])
        view = strip_row(row)
        assert view["status"] == "success" and view["payload_blob_present"] is False
        assert view["payload_size"] == len(payload) and len(view["payload_hash"]) == 64
        assert list(env.config.payloads_dir.iterdir()) == []
        milestones = _milestones(await _events(env, result["deployment_id"]))
        assert milestones[-2:] == [("payload_dropped",), ("phase", "success", "done")]  # contract §4.4
        dropped = [e for e in row["event_log"] if e["event"] == "payload_dropped"]
        assert dropped[0]["data"] == {"payload_size": len(payload), "max_size": 1}
    finally:
        await env.store.close()


async def test_recover_interrupted_fails_orphaned_rows(tmp_path: Path) -> None:
    data = tmp_path / "data"
    crashed = await _open_env(data)
    d = await crashed.engine.begin(project="orphan", user=None)
    await crashed.engine.ingest(d, _chunks(_component(tmp_path, "o", {"package.json": "{}"})))
    d.recorder.emit("phase", {"phase": "prepare", "status": "start"})
    await d.recorder.flush()
    cut = await crashed.engine.begin(project="cut", user=None)  # dies mid-upload
    partial = crashed.config.payloads_dir / f"{cut.deployment_id}.tar.gz"
    partial.write_bytes(b"\x1f\x8b half")
    await crashed.store.close()  # the process "dies" here, the rows still pending

    env = await _open_env(data)
    try:
        assert await env.engine.recover_interrupted() == 2
        assert not partial.exists()
        assert (await env.store.get_row(cut.deployment_id))["error"]["phase"] == "pending"
        assert Path((await env.store.get_row(d.deployment_id))["payload_path"]).is_file()  # complete: kept
        row = await env.store.get_row(d.deployment_id)
        message = "interrupted: the server stopped during prepare"
        assert row["status"] == "failed" and row["error"] == {"message": message, "phase": "prepare"}
        assert row["completed_at"] >= row["started_at"]
        events = await _events(env, d.deployment_id)
        assert events[-1]["event"] == "error" and events[-1]["data"]["message"] == message
        assert [e["seq"] for e in events] == [1, 2]
        assert await env.engine.recover_interrupted() == 0
    finally:
        await env.store.close()


async def test_recovery_reads_the_phase_from_the_events_when_the_row_lags(tmp_path: Path) -> None:
    """Events commit as they come, the row a commit later: a crash in between leaves the row's phase
    behind its events. Recovery names the phase the events recorded."""
    data = tmp_path / "data"
    crashed = await _open_env(data)
    d = await crashed.engine.begin(project="lagging", user=None)
    await crashed.engine.ingest(d, _chunks(_component(tmp_path, "l", {"package.json": "{}"})))
    await d.recorder.flush()
    crashed.store.enqueue_event(d.deployment_id, 99, 1, "phase", {"phase": "prepare", "status": "start"})
    await crashed.store.barrier()  # the event is stored; the row still says pending
    assert (await crashed.store.get_row(d.deployment_id))["phase"] in (None, "pending")
    await crashed.store.close()

    env = await _open_env(data)
    try:
        assert await env.engine.recover_interrupted() == 1
        row = await env.store.get_row(d.deployment_id)
        assert row["error"] == {"message": "interrupted: the server stopped during prepare", "phase": "prepare"}
    finally:
        await env.store.close()


# --------------------------------------------------------------------------- demos, measurements


async def test_chatty_streams_thousands_of_lines_and_truncates_the_log(env: Env) -> None:
    started = time.monotonic()
    result = await deploy_demo(env, "chatty")
    elapsed = time.monotonic() - started
    events = await _events(env, result["deployment_id"])
    installs = [e for e in events if e["event"] == "install"]
    assert len(installs) > 4900
    assert any(e["data"]["stream"] == "stderr" and "\x1b[33mWARN" in e["data"]["line"] for e in installs)
    row = await env.store.get_row(result["deployment_id"])
    assert len(row["event_log"]) == 200 and row["event_log"][20]["event"] == "truncated"
    print(f"\nchatty deploy through the engine: {elapsed:.2f}s, {len(events)} events")


def test_demo_specs_are_complete() -> None:
    names = [spec.name for spec in demo_specs()]
    assert names == ["hello", "chatty", "broken-install", "bad-config", "slow"]
    for spec in demo_specs():
        assert (spec.path / "package.json").is_file() and (spec.path / "install.py").is_file()
        assert spec.install_command.endswith(" install.py") and spec.description


# --------------------------------------------------------------------------- pieces


def test_config_yaml_checker() -> None:
    check_config_yaml("rest: true\nlist:\n  - a\n  - b: 1\n    c: 2\ntext: |\n  x: y\n   z\nurl: http://a/#b\n")
    for bad, why in [
        ("a: 1\n  b: 2\n", "line 2 column 4: mapping values are not allowed"),
        ("a:\n  b: 1\n c: 2\n", "line 3 column 2: expected <block end>"),
        ("a:\n\tb: 1\n", "line 2 column 1: found character '\\\\t' that cannot start any token"),
        ("just words\n", "must be a mapping"),
        ("a: [1, 2\n", "line 2 column 1: expected ',' or ']'"),
        ("a: 'open\n", "line 2 column 1: found unexpected end of stream"),
    ]:
        with pytest.raises(ComponentInvalid, match=why):
            check_config_yaml(bad)


def test_install_output_keeps_the_last_200_lines() -> None:
    out = InstallOutput()
    for i in range(250):
        out.add("npm", "stdout", f"line {i}")
    view = out.as_dict()
    assert len(view["lines"]) == 200 and view["lines"][0]["line"] == "line 50"
    assert view["truncated"] is True and view["dropped_lines"] == 50


def test_install_output_takes_a_read_of_lines_as_one_line_at_a_time() -> None:
    lines = [f"line {i}" + "x" * (i % 300) for i in range(1000)]
    each, reads = InstallOutput(), InstallOutput()
    for line in lines:
        each.add("npm", "stdout", line)
    for start, size in ((0, 0), (0, 1), (1, 450), (451, 549)):
        reads.add_lines("npm", "stdout", lines[start:start + size])
    assert reads.as_dict() == each.as_dict()


# --------------------------------------------------------------------------- replication


def _peer_url(srv: Any) -> str:
    scheme, rest = srv.url.split("://", 1)
    return f"{scheme}://{srv.user}:{srv.password}@{rest}"


async def test_replicates_to_a_real_peer_server(tmp_path: Path, server: Any) -> None:
    """The peer is a real `deploytui serve` child; it receives the payload as base64 and deploys it."""
    env = await _open_env(tmp_path / "origin", peers=[_peer_url(server)])
    try:
        payload = _component(tmp_path, "rep", {"package.json": '{"name": "rep"}'})
        result = await deploy(env, "rep", payload, install_command="echo replicated-install", two_phase=False)
        [peer] = result["replicated"]
        node = server.url.split("://", 1)[1]
        assert peer["node"] == node and peer["status"] == "success" and peer["error"] is None
        assert server.password not in str(result)  # credentials never leak into results
        events = await _events(env, result["deployment_id"])
        milestones = _milestones(events)
        assert milestones[4:7] == [("phase", "replicate", "start"), ("peer",), ("phase", "replicate", "done")]
        row = await env.store.get_row(result["deployment_id"])
        assert row["peer_results"] == [peer]

        async with httpx.AsyncClient(auth=(server.user, server.password)) as client:
            answer = await client.post(server.url + "/", json={"operation": "get_deployment",
                                                               "deployment_id": peer["deployment_id"]})
        remote = answer.json()
        assert remote["status"] == "success" and remote["payload_hash"] == row["payload_hash"]
        assert remote["peer_results"] == []  # replicated: false, so the peer does not fan out
    finally:
        await env.store.close()


async def test_unreachable_peer_fails_the_deploy_in_replicate(tmp_path: Path) -> None:
    env = await _open_env(tmp_path / "origin", peers=["http://u:p@127.0.0.1:9"])
    try:
        payload = _component(tmp_path, "rep", {"package.json": "{}"})
        with pytest.raises(DeployFailed) as info:
            await deploy(env, "rep", payload, install_command="true", deployment_timeout_ms=5000, two_phase=False)
        body = info.value.body
        assert info.value.status_code == 500 and body["phase"] == "replicate"
        assert "failed to replicate to 1 of 1 peer node(s): 127.0.0.1:9" in body["error"]
        assert ":p@" not in body["error"]
        row = await env.store.get_row(body["deployment_id"])
        assert row["peer_results"][0]["status"] == "failed"
        assert env.releases("rep").current_id() is None  # the origin was not changed
    finally:
        await env.store.close()
