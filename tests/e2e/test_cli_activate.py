"""``deploytui deploy --stage-only`` and ``deploytui activate ID`` as subprocesses against real servers.

Stage now, activate later from the command line, with ``deploy``'s exit codes: 0 success (or
staged), 1 the activation failed, 2 usage, connection, auth or a refused activation. Against a
server without two-phase deploys (``serve --wire harper``, i.e. Harper 5.1.14) neither is attempted:
Harper would ignore ``activate: false`` and go live.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploytui.client.local import LocalServer
from deploytui.server.config import ServerConfig
from deploytui.server.releases import ComponentReleases
from tests.conftest import op, start_server
from tests.e2e.cli_support import assert_no_controls, run_cli


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    server = start_server(tmp_path_factory.mktemp("cli-activate") / "data")
    yield server
    server.stop()


def make_app(root: Path, version: int) -> Path:
    app = root / f"app-{version}"
    app.mkdir(parents=True)
    (app / "package.json").write_text(f'{{"name": "app", "version": "{version}.0.0"}}')
    (app / "version.txt").write_text(str(version))
    return app


def releases(srv: LocalServer, project: str) -> ComponentReleases:
    return ComponentReleases(ServerConfig(data_dir=srv.data_dir).components_dir, project)


def stage(srv: LocalServer, tmp_path: Path, project: str, version: int) -> str:
    result = run_cli(srv, "deploy", str(make_app(tmp_path, version)), "--project", project, "--stage-only",
                     "--install-command", "echo built")
    assert result.returncode == 0, result.stderr
    assert "✓ staged" in result.stdout
    return re.search(r"make it live with: deploytui activate (\S+)", result.stderr).group(1)


def test_stage_only_then_activate(srv: LocalServer, tmp_path: Path) -> None:
    first = run_cli(srv, "deploy", str(make_app(tmp_path, 1)), "--project", "cli-later", "--install-command", "echo built")
    assert first.returncode == 0, first.stderr
    staged_id = stage(srv, tmp_path, "cli-later", 2)
    assert (releases(srv, "cli-later").current_path() / "version.txt").read_text() == "1"

    result = run_cli(srv, "activate", staged_id[:8], "--restart")
    assert result.returncode == 0, result.stderr
    assert_no_controls(result.stdout, result.stderr)
    assert "▸ activate …" in result.stdout and "▸ restart …" in result.stdout
    assert f"activating deployment {staged_id}" in result.stderr
    assert (releases(srv, "cli-later").current_path() / "version.txt").read_text() == "2"

    again = run_cli(srv, "activate", staged_id)  # no longer staged: refused before anything is sent
    assert again.returncode == 2
    assert f"deployment {staged_id} is success, not staged" in again.stderr


def test_activate_refuses_unknown_ids(srv: LocalServer) -> None:
    result = run_cli(srv, "activate", "0b0b0b0b-0000-4000-8000-000000000000")
    assert result.returncode == 2 and "No deployment found" in result.stderr


def test_an_activation_that_fails_exits_1(srv: LocalServer, tmp_path: Path) -> None:
    staged_id = stage(srv, tmp_path, "cli-gone", 1)
    shutil.rmtree(releases(srv, "cli-gone").release_dir(staged_id))  # its build is gone by activation time
    result = run_cli(srv, "activate", staged_id)
    assert result.returncode == 1, result.stderr
    assert "has no staged build to activate" in result.stdout + result.stderr


def test_stage_only_and_restart_is_a_usage_error() -> None:
    result = run_cli(None, "deploy", ".", "--stage-only", "--restart")
    assert result.returncode == 2 and "--stage-only and --restart do not go together" in result.stderr


def test_a_server_without_two_phase_is_not_asked(tmp_path: Path) -> None:
    harper = start_server(tmp_path / "harper", wire="harper")
    try:
        result = run_cli(harper, "deploy", str(make_app(tmp_path, 1)), "--stage-only")
        assert result.returncode == 2 and "has no two-phase deploys" in result.stderr
        assert "uploaded" not in result.stderr
        listed = op(harper, {"operation": "list_deployments"}).json()
        assert listed["total"] == 0  # nothing went live behind the user's back
        result = run_cli(harper, "activate", "0b0b0b0b-0000-4000-8000-000000000000")
        assert result.returncode == 2 and "cannot activate a staged deployment" in result.stderr
    finally:
        harper.stop()
