"""``deploytui deploy`` as a subprocess against a real server: packing, upload, live stream, exit codes."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import httpx
import pytest

from deploytui.client.pack import pack_directory
from tests.e2e.cli_support import assert_no_controls, json_lines, python_command, run_cli


def make_app(root: Path, name: str = "app") -> Path:
    app = root / name
    (app / "lib").mkdir(parents=True)
    (app / "package.json").write_text(f'{{"name": "{name}", "version": "1.0.0"}}')
    (app / "lib" / "index.js").write_text("export const x = 1;\n")
    for junk in (".git/objects/ab", "node_modules/left-pad", "lib/node_modules/deep"):
        (app / junk).mkdir(parents=True)
        (app / junk / "blob").write_text("must not ship")
    (app / ".git" / "HEAD").write_text("ref: refs/heads/main\n")
    return app


def stored_payload(srv, deployment_id: str) -> bytes:
    response = httpx.post(srv.url + "/", json={"operation": "get_deployment_payload", "deployment_id": deployment_id},
                          auth=(srv.user, srv.password), timeout=30)
    assert response.status_code == 200, response.text
    return response.content


def deployment_id_from(stderr: str) -> str:
    return next(line.split()[1] for line in stderr.splitlines() if line.startswith("deployment "))


def test_deploy_directory_leaves_out_git_and_node_modules(server, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    install = python_command("import sys\nprint('installing', flush=True)\nprint('warn: x', file=sys.stderr, flush=True)")
    result = run_cli(server, "deploy", str(app), "--install-command", install)
    assert result.returncode == 0, result.stderr
    assert_no_controls(result.stdout, result.stderr)
    lines = [line.strip() for line in result.stdout.splitlines()]
    assert "| installing" in lines and "! warn: x" in lines
    # progress on stderr: one "uploaded" line in a pipe, and the deployment id
    assert sum(line.startswith("uploaded ") for line in result.stderr.splitlines()) == 1
    payload = stored_payload(server, deployment_id_from(result.stderr))
    assert payload == pack_directory(app)  # byte for byte what the packer makes
    with tarfile.open(fileobj=io.BytesIO(payload), mode="r:gz") as tar:
        names = tar.getnames()
    assert names == ["lib", "lib/index.js", "package.json"]


def test_deploy_project_defaults_to_directory_name(server, tmp_path: Path) -> None:
    app = make_app(tmp_path, "my-component")
    result = run_cli(server, "deploy", str(app), "--json")
    assert result.returncode == 0, result.stderr
    events = json_lines(result.stdout)
    assert events[0]["event"] == "phase" and events[-1]["event"] == "done"
    assert [e["seq"] for e in events if e["seq"] is not None] == list(range(1, len(events)))
    listing = httpx.post(server.url + "/", json={"operation": "list_deployments", "project": "my-component"},
                         auth=(server.user, server.password), timeout=30).json()
    assert listing["total"] == 1


def test_deploy_failing_install_exits_1(server, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    install = python_command("import sys\nprint('npm ERR! broken', file=sys.stderr, flush=True)\nsys.exit(7)")
    result = run_cli(server, "deploy", str(app), "--install-command", install)
    assert result.returncode == 1, result.stderr
    assert "! npm ERR! broken" in [line.strip() for line in result.stdout.splitlines()]
    assert any("deploy failed in prepare" in line for line in result.stdout.splitlines())


def test_deploy_on_harper_wire(harper_server, tmp_path: Path) -> None:
    """No X-Deployment-Id, no event ids: the deploy stream alone must carry it to the end."""
    result = run_cli(harper_server, "deploy", str(make_app(tmp_path)), "--json")
    assert result.returncode == 0, result.stderr
    events = json_lines(result.stdout)
    assert events[-1]["event"] == "done" and all(e["seq"] is None for e in events)


@pytest.mark.parametrize("kind", ["file", "missing"])
def test_deploy_bad_path_exits_2_before_connecting(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "thing"
    if kind == "file":
        path.write_text("not a dir")
    result = run_cli(None, "deploy", str(path))  # no server at all: the path is checked first
    assert result.returncode == 2
    expected = "is not a directory" if kind == "file" else "does not exist"
    assert result.stderr.strip() == f"deploytui: {path} {expected}"


def test_deploy_symlink_outside_exits_2(server, tmp_path: Path) -> None:
    app = make_app(tmp_path)
    (app / "secret").symlink_to("/etc/passwd")
    result = run_cli(server, "deploy", str(app))
    assert result.returncode == 2 and "secret is a symlink to /etc/passwd" in result.stderr


def test_deploy_bad_credentials_exits_2(server, tmp_path: Path) -> None:
    result = run_cli(server, "deploy", str(make_app(tmp_path)), password="nope")
    assert result.returncode == 2
    assert result.stderr.strip().endswith(f"the server at {server.url} refused the credentials for user 'admin' (401)")


def test_deploy_no_local_server_exits_2(tmp_path: Path) -> None:
    """No server runs and none can start (the data dir cannot be created): one line, exit 2."""
    (tmp_path / "file").write_text("")
    result = run_cli(None, "deploy", str(make_app(tmp_path)), "--data-dir", str(tmp_path / "file" / "data"))
    assert result.returncode == 2 and "cannot create the data dir" in result.stderr


def test_deploy_usage_error() -> None:
    result = run_cli(None, "deploy")
    assert result.returncode == 2 and "usage:" in result.stderr
