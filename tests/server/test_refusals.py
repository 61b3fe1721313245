"""Client mistakes are 400s with a plain message: numbers, project names, config files, paths.

One real server (loopback, its own data dir) serves the module: every refusal here is answered
before any row is written, so the cases do not disturb each other.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploytui.client.local import LocalServer
from deploytui.server.engine import DeployFailed
from deploytui.server.releases import ComponentInvalid, check_config_yaml
from tests.conftest import make_tarball, op, start_server
from tests.server.test_engine import Env, _component, deploy, env  # noqa: F401
from tests.server.test_http import APP, deploy_json


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    server = start_server(tmp_path_factory.mktemp("refusals") / "data")
    yield server
    server.stop()


def raw_op(server: LocalServer, body: str) -> httpx.Response:
    """POST a JSON body as text: JSON's own syntax for 1e999 or NaN, which json.dumps cannot make."""
    return httpx.post(server.url + "/", content=body.encode(), auth=(server.user, server.password), timeout=60,
                      headers={"Content-Type": "application/json"})


def total_rows(server: LocalServer) -> int:
    return op(server, {"operation": "list_deployments"}).json()["total"]


# -- numbers --------------------------------------------------------------------------------------

PAYLOAD = base64.b64encode(make_tarball(APP)).decode()
NUMERIC_FIELDS = [
    ('"operation": "list_deployments"', "since"),
    ('"operation": "list_deployments"', "until"),
    ('"operation": "list_deployments"', "limit"),
    ('"operation": "list_deployments"', "offset"),
    ('"operation": "get_deployment_events", "deployment_id": "no-such-id"', "after_seq"),
    ('"operation": "get_deployment_events", "deployment_id": "no-such-id"', "limit"),
    (f'"operation": "deploy_component", "project": "num", "payload": "{PAYLOAD}"', "install_timeout"),
    (f'"operation": "deploy_component", "project": "num", "payload": "{PAYLOAD}"', "deployment_timeout"),
]
BAD_NUMBERS = ["1e999", "-1e999", "NaN", "Infinity", "9223372036854775808", "-9223372036854775808", "1e300",
               "true", "false", '"10"', '"soon"', "[1]", "{}"]


@pytest.mark.parametrize("head, name", NUMERIC_FIELDS, ids=[f"{h.split()[1]}{n}" for h, n in NUMERIC_FIELDS])
def test_numbers_that_are_no_numbers_or_too_big_are_400(srv, head, name):
    before = total_rows(srv)
    for value in BAD_NUMBERS:
        r = raw_op(srv, f'{{{head}, "{name}": {value}}}')
        assert r.status_code == 400, (value, r.status_code, r.text)
        assert r.json()["error"].startswith(f"'{name}' "), (value, r.text)
    assert total_rows(srv) == before  # refused before any row was written


def test_numbers_in_range_still_work(srv):
    for body in ['{"operation": "list_deployments", "limit": 9223372036854775807, "offset": -5, "since": 1.5}',
                 '{"operation": "list_deployments", "limit": 2.0, "until": 9e18}']:
        r = raw_op(srv, body)
        assert r.status_code == 200 and r.json()["deployments"] == [], r.text


# -- project names --------------------------------------------------------------------------------

BAD_NAMES = ["../x", "a/../../b", "/abs/y.z", "x\n", "x\r", "a\x1b[31mred", "nul\x00", "tab\tname", "", ".hidden",
             "..", "a..b", "-dash", "x" * 129, "ünïcode", "a b", "back\\slash", 5, True, ["a"]]


def components(server: LocalServer) -> set[str]:
    root = server.data_dir / "components"
    return {entry.name for entry in root.iterdir()} if root.is_dir() else set()


def test_bad_project_names_are_refused_by_every_operation(srv):
    before, dirs_before = total_rows(srv), components(srv)
    for name in BAD_NAMES:
        deployed = op(srv, {"operation": "deploy_component", "project": name, "payload": PAYLOAD})
        assert deployed.status_code == 400, (name, deployed.text)
        if name != "":  # an empty name is a missing one: "'project' is required"
            assert deployed.json()["error"].startswith("Invalid project name"), (name, deployed.text)
        reverted = op(srv, {"operation": "revert_component", "project": name})
        assert reverted.status_code == 400, (name, reverted.text)
        if name != "":
            listed = op(srv, {"operation": "list_deployments", "project": name})
            assert listed.status_code == 400 and listed.json()["error"] == deployed.json()["error"], (name, listed.text)
    assert total_rows(srv) == before and components(srv) == dirs_before


def test_dotted_names_keep_their_names(srv):
    for name in ("my.app", "v1.2.3"):
        r = deploy_json(srv, name, install_command="true")
        assert r.status_code == 200, r.text
        row = op(srv, {"operation": "get_deployment", "deployment_id": r.json()["deployment_id"]}).json()
        assert row["project"] == name
        assert (srv.data_dir / "components" / name).is_symlink()
    for renamed in ("my", "v1.2"):
        assert op(srv, {"operation": "list_deployments", "project": renamed}).json()["total"] == 0


def _package(tmp_path: Path, dirname: str, package_name: str | None) -> Path:
    directory = tmp_path / dirname
    directory.mkdir(parents=True)
    manifest = {"version": "1.0.0"} if package_name is None else {"name": package_name, "version": "1.0.0"}
    (directory / "package.json").write_text(json.dumps(manifest))
    return directory


@pytest.mark.parametrize("package_name, dirname, project", [
    ("@scope/pkg", "d1", "pkg"),       # an npm scope is dropped
    ("my.pkg", "d2", "my.pkg"),        # never renamed
    (None, "dir.name", "dir.name"),    # no name: the directory's
])
def test_package_names_become_projects_by_one_documented_rule(srv, tmp_path, package_name, dirname, project):
    directory = _package(tmp_path, dirname, package_name)
    r = op(srv, {"operation": "deploy_component", "package": f"file:{directory}", "install_command": "true"})
    assert r.status_code == 200, r.text
    row = op(srv, {"operation": "get_deployment", "deployment_id": r.json()["deployment_id"]}).json()
    assert row["project"] == project


@pytest.mark.parametrize("package_name, dirname", [
    ("../../evil", "e1"), ("@scope/../x", "e2"), ("a/b/c", "e3"), ("x\n", "e4"), (None, "bad name"),
])
def test_package_names_that_break_the_rule_are_refused(srv, tmp_path, package_name, dirname):
    before = total_rows(srv)
    directory = _package(tmp_path, dirname, package_name)
    r = op(srv, {"operation": "deploy_component", "package": f"file:{directory}", "install_command": "true"})
    assert r.status_code == 400, r.text
    assert "cannot be the project name" in r.json()["error"] and "give 'project'" in r.json()["error"]
    assert total_rows(srv) == before


# -- messages never show the server's absolute paths ---------------------------------------------


def test_a_server_side_failure_names_no_absolute_path(srv):
    """The payloads dir replaced by a file: a real OSError on our side, answered 500 in plain words."""
    payloads = srv.data_dir / "payloads"
    assert deploy_json(srv, "paths", install_command="true").status_code == 200  # payloads/ exists now
    shutil.rmtree(payloads)
    payloads.write_text("in the way")
    try:
        r = deploy_json(srv, "paths", install_command="true")
    finally:
        payloads.unlink()
        payloads.mkdir(mode=0o700)
    assert r.status_code == 500
    message = r.json()["error"]
    assert message.startswith("The server could not store the payload (File exists: 'payloads"), message
    row = op(srv, {"operation": "get_deployment", "deployment_id": r.json()["deployment_id"]}).json()
    assert row["status"] == "failed" and row["error"]["message"] == message
    for text in (r.text, json.dumps(row)):
        assert str(srv.data_dir) not in text and os.path.realpath(srv.data_dir) not in text
    assert deploy_json(srv, "paths", install_command="true").status_code == 200


# -- config.yaml ----------------------------------------------------------------------------------

VALID_CONFIG = """\
# Harper component configuration
defaults: &defaults
  files: resources.js
rest: true
jsResource:
  <<: *defaults
  urlPath: /api
static:
  files: [web/*.html,
          web/*.css]
description: a folded plain scalar
  that goes on over a second line
"""


def test_valid_yaml_passes_load(tmp_path):
    config = check_config_yaml(VALID_CONFIG)
    assert config["jsResource"] == {"files": "resources.js", "urlPath": "/api"}
    assert config["static"]["files"] == ["web/*.html", "web/*.css"]
    assert config["description"] == "a folded plain scalar that goes on over a second line"
    assert check_config_yaml("") == {} and check_config_yaml("# only a comment\n") == {}


async def test_a_valid_config_deploys(env: Env, tmp_path: Path) -> None:
    payload = _component(tmp_path, "cfg", {"package.json": "{}", "config.yaml": VALID_CONFIG})
    result = await deploy(env, "cfg", payload, install_command="true")
    assert result["message"] == "Successfully deployed: cfg"


INVALID_CONFIGS = [
    ("rest: true\njs:\n  files: [a,\n  urlPath: /x\n", "config.yaml line 5 column 1: expected ',' or ']'"),
    ("a:\n  b: 1\n c: 2\n", "config.yaml line 3 column 2: expected <block end>"),
    ("a:\n\tb: 1\n", "config.yaml line 2 column 1: found character '\\t' that cannot start any token"),
    ("js:\n  files: a\n  files: b\n", "config.yaml line 3 column 3: duplicate key 'files'"),
    ("a: *nowhere\n", "config.yaml line 1 column 4: found undefined alias 'nowhere'"),
    ("- a\n- b\n", "config.yaml must be a mapping of extension names to options, not a list"),
    ("just words\n", "config.yaml must be a mapping of extension names to options, not a string"),
    ("a: 1\n---\nb: 2\n", "config.yaml line 2 column 1: but found another document"),
    ("js:\n  files: 3\n", "config.yaml: 'js': 'files' must be a string or a list of strings, not a number"),
    ("js:\n  urlPath: [a]\n", "config.yaml: 'js': 'urlPath' must be a string, not a list"),
    ("[" * 5000, "config.yaml line 1 column 65: nested more than 64 levels deep"),
    ("a: !!python/object/apply:os.system [echo]\n", "config.yaml line 1 column 4: could not determine a constructor"),
]


@pytest.mark.parametrize("text, message", INVALID_CONFIGS, ids=[m.split(": ", 1)[-1][:40] for _, m in INVALID_CONFIGS])
async def test_invalid_yaml_fails_load_naming_file_and_line(env: Env, tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ComponentInvalid) as direct:
        check_config_yaml(text)
    assert direct.value.message.startswith(message)
    payload = _component(tmp_path, "bad", {"package.json": "{}", "config.yaml": text})
    with pytest.raises(DeployFailed) as info:
        await deploy(env, "bad", payload, install_command="true")
    assert info.value.status_code == 400 and info.value.body["phase"] == "load"
    assert info.value.body["error"] == f"Component 'bad' failed to load: {direct.value.message}"
    assert str(env.config.data_dir) not in info.value.body["error"]


def test_an_oversized_config_is_refused_before_parsing(tmp_path):
    from deploytui.server.releases import MAX_CONFIG_YAML_BYTES, validate_component
    (tmp_path / "config.yaml").write_text("a: " + "x" * MAX_CONFIG_YAML_BYTES + "\n")
    with pytest.raises(ComponentInvalid, match="config.yaml is larger than"):
        validate_component(tmp_path)


def test_an_unexpected_server_fault_is_a_plain_500_without_our_paths(srv):
    """A stored payload replaced by a directory behind the server's back: nothing the client did,
    so a 500, and its message names no absolute path of the data dir."""
    deployment_id = deploy_json(srv, "fault", install_command="true").json()["deployment_id"]
    payload = srv.data_dir / "payloads" / f"{deployment_id}.tar.gz"
    payload.unlink()
    payload.mkdir()
    try:
        r = op(srv, {"operation": "get_deployment_payload", "deployment_id": deployment_id})
    finally:
        payload.rmdir()
    assert r.status_code == 500 and r.json()["error"].startswith("internal error: "), r.text
    assert f"payloads/{deployment_id}.tar.gz" in r.json()["error"]
    assert str(srv.data_dir) not in r.text and os.path.realpath(srv.data_dir) not in r.text


async def test_the_largest_install_timeout_reaches_a_peer_unchanged(tmp_path: Path, server: LocalServer) -> None:
    """2^63 - 1 ms is a valid install_timeout; the peer must get that very number (not a float
    rounded up to 2^63, which it would refuse) and deploy."""
    from tests.server.test_engine import _open_env, _peer_url
    origin = await _open_env(tmp_path / "origin", peers=[_peer_url(server)])
    try:
        payload = _component(tmp_path, "big", {"package.json": "{}"})
        result = await deploy(origin, "bigtimeout", payload, install_command="true", install_timeout_ms=2**63 - 1)
        [peer] = result["replicated"]
        assert peer["status"] == "success", peer
    finally:
        await origin.store.close()


def test_revert_restart_false_as_a_string_does_not_restart(srv):
    for _ in range(2):
        assert deploy_json(srv, "rr", install_command="true").status_code == 200
    r = op(srv, {"operation": "revert_component", "project": "rr", "restart": "false"})
    assert r.status_code == 200 and r.json()["message"] == "Reverted component: rr", r.text
    row = op(srv, {"operation": "get_deployment", "deployment_id": r.json()["deployment_id"]}).json()
    assert row["restart_mode"] is None
    refused = op(srv, {"operation": "revert_component", "project": "rr", "restart": "yes"})
    assert refused.status_code == 400 and refused.json()["error"] == "'restart' must be true or false"


@pytest.mark.parametrize("body", [
    '{"operation": "get_deployment", "deployment_id": "\\ud800"}',
    '{"operation": "list_deployments", "status": "\\udfff"}',
    '{"operation": "deploy_component", "project": "sur", "package": "file:/tmp/\\ud800"}',
    f'{{"operation": "deploy_component", "project": "sur", "payload": "{PAYLOAD}", "install_command": "echo \\ud800"}}',
], ids=["deployment_id", "status", "package", "install_command"])
def test_unpaired_surrogate_escapes_are_400(srv, body):
    """JSON may escape half a UTF-16 pair; no store, path or answer can hold it: a 400, no row."""
    before = total_rows(srv)
    r = raw_op(srv, body)
    assert r.status_code == 400 and "unpaired surrogate" in r.json()["error"], r.text
    assert total_rows(srv) == before


def test_unpaired_surrogate_in_a_multipart_field_is_400(srv):
    r = httpx.post(srv.url + "/", auth=(srv.user, srv.password), timeout=60,
                   data={"operation": "deploy_component", "project": "sur", "install_command": '["\\ud800"]'},
                   files={"payload": ("p.tar.gz", make_tarball(APP), "application/gzip")})
    assert r.status_code == 400 and "unpaired surrogate" in r.json()["error"], r.text


def test_hide_paths_makes_only_whole_data_dir_paths_relative(tmp_path, monkeypatch):
    from deploytui.server.errors import hide_paths
    data = tmp_path / "data"
    component = data / "components" / "app"
    text = (f"'{component}/releases/1/x' outside {component}; {data}/payloads/1.tar.gz in {data}, "
            f"not {tmp_path}/database nor /elsewhere{data}")
    assert hide_paths(text, (component, data)) == (
        f"'releases/1/x' outside .; payloads/1.tar.gz in ., not {tmp_path}/database nor /elsewhere{data}")
    monkeypatch.chdir(tmp_path)  # a relative data dir: only its absolute spelling is a path of ours
    assert hide_paths(f"metadata/x and {data}/y", (Path("data"),)) == "metadata/x and y"


def test_merges_of_merges_stay_linear():
    """YAML's ``<<`` merge copies every merged pair; nine-fold merges nested 30 deep would take 9^30
    pairs. The loader keeps one pair per key (the winner), so each merged mapping stays small."""
    from deploytui.server.config_yaml import _ConfigLoader
    lines = ["m0: &m0 {files: a.js, urlPath: /a}"]
    lines += [f"m{i}: &m{i}\n  <<: [{', '.join([f'*m{i - 1}'] * 9)}]\n  own{i}: {i}" for i in range(1, 31)]
    text = "\n".join(lines) + "\n"
    loader = _ConfigLoader(text)
    try:
        root = loader.get_single_node()
        loader.construct_document(root)
    finally:
        loader.dispose()
    deepest = next(value for key, value in root.value if key.value == "m30")
    assert len(deepest.value) == 2 + 30  # files, urlPath and own1..own30, each once
    config = check_config_yaml(text)
    assert config["m30"]["files"] == "a.js" and config["m30"]["own1"] == 1 and config["m30"]["own30"] == 30
    merged = check_config_yaml("x: &x {a: 1, b: 2}\ny: &y {b: 3, c: 4}\nz:\n  <<: [*x, *y]\n  c: 5\n")["z"]
    assert merged == {"a": 1, "b": 2, "c": 5}  # YAML's rule: earlier merges win, own keys win over all


def test_a_fifo_package_json_does_not_hang_the_server(srv, tmp_path):
    """The client's directory is read with care: a named pipe as package.json must neither block the
    server (old code waited for a writer, on the event loop) nor be packed as a file."""
    directory = tmp_path / "fifo-pkg"
    directory.mkdir()
    os.mkfifo(directory / "package.json")
    r = op(srv, {"operation": "deploy_component", "package": f"file:{directory}", "install_command": "true"})
    assert 400 <= r.status_code < 500, r.text
    assert httpx.get(srv.url + "/health", timeout=10).status_code == 200


def test_package_name_reads_only_a_small_regular_file(tmp_path):
    from deploytui.server.releases import MAX_PACKAGE_JSON_BYTES, package_name
    (tmp_path / "package.json").write_text(json.dumps({"name": "ok"}))
    assert package_name(tmp_path) == "ok"
    (tmp_path / "package.json").write_text(json.dumps({"name": "big", "pad": "x" * MAX_PACKAGE_JSON_BYTES}))
    assert package_name(tmp_path) is None
    (tmp_path / "package.json").write_text("[" * 100_000)
    assert package_name(tmp_path) is None
