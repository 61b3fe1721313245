"""No secret leaves the server: installs see none of its credentials, its files are owner-only,
and expired operation tokens are not kept."""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploytui.server.auth import Authenticator, AuthFailed, Credentials
from deploytui.server.installer import install_environment
from tests.conftest import start_server
from tests.e2e.cli_support import deploy, python_command
from tests.server.test_http import all_events

PRINT_ENVIRONMENT = python_command("import os\nfor k, v in sorted(os.environ.items()): print(f'{k}={v}')")


def test_an_install_sees_none_of_the_servers_secrets(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # What the dashboard starts its server with (DEPLOYTUI_USER/DEPLOYTUI_PASSWORD, from
    # start_server), and other secrets a server's environment may hold.
    monkeypatch.setenv("DEPLOYTUI_TOKEN", "token-must-not-leak")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-key-must-not-leak")
    srv = start_server(tmp_path / "data")
    try:
        status, body = deploy(srv, "envdump", PRINT_ENVIRONMENT)
        assert status == 200, body
        history = json.dumps(all_events(srv, body["deployment_id"]))
    finally:
        srv.stop()
    assert f"PATH={os.environ['PATH']}" in history  # the install did print its environment
    assert f"DEPLOYTUI_DEPLOYMENT_ID={body['deployment_id']}" in history  # crash recovery's marker
    for secret in (srv.password, "token-must-not-leak", "aws-key-must-not-leak"):
        assert secret not in history
    assert "DEPLOYTUI_USER" not in history and "DEPLOYTUI_PASSWORD" not in history


def test_install_environment_is_an_allow_list() -> None:
    server_env = {"PATH": "/bin", "HOME": "/home/u", "LC_ALL": "C.UTF-8", "npm_config_registry": "http://r",
                  "DEPLOYTUI_PASSWORD": "pw", "DEPLOYTUI_PYTHON": "/fake/python", "GITHUB_TOKEN": "t"}
    env = install_environment(server_env, {"DEPLOYTUI_DEPLOYMENT_ID": "d1"})
    assert {k: env[k] for k in ("PATH", "HOME", "LC_ALL", "npm_config_registry")} == {
        "PATH": "/bin", "HOME": "/home/u", "LC_ALL": "C.UTF-8", "npm_config_registry": "http://r"}
    assert env["DEPLOYTUI_DEPLOYMENT_ID"] == "d1" and env["DEPLOYTUI_PYTHON"] != "/fake/python"
    assert "DEPLOYTUI_PASSWORD" not in env and "GITHUB_TOKEN" not in env


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def test_everything_the_server_keeps_is_owner_only(tmp_path: Path) -> None:
    """Started under umask 022 on a data dir that already existed as 0755 (with a database an
    earlier run left 0644), the server leaves nothing that others may read, list or enter."""
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    data_dir.chmod(0o755)
    with umask(0o022):
        sqlite3.connect(data_dir / "deploytui.sqlite3").close()
        (data_dir / "deploytui.sqlite3").chmod(0o644)
        srv = start_server(data_dir)
    try:
        # The install itself writes files too (npm would write node_modules/).
        status, body = deploy(srv, "private", python_command("import os\nos.makedirs('made/by')\n"
                                                             "open('made/by/install.txt', 'w').write('x')"))
        assert status == 200, body
        entries = [data_dir, *data_dir.rglob("*")]
        names = {p.name for p in entries}
        assert {"deploytui.sqlite3", "deploytui.sqlite3-wal", "server.json", "payloads", "install.txt"} <= names
        wide = {str(p.relative_to(tmp_path)): oct(stat.S_IMODE(p.lstat().st_mode))
                for p in entries if not p.is_symlink() and stat.S_IMODE(p.lstat().st_mode) & 0o077}
        assert wide == {}
    finally:
        srv.stop()


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_expired_operation_tokens_are_dropped() -> None:
    clock = Clock()
    auth = Authenticator(Credentials("admin", "pw"), clock=clock)
    first = auth.create_tokens("admin", "pw")
    assert auth.authenticate(f"Bearer {first['operation_token']}") == "admin"
    clock.now += 1800
    auth.refresh(f"Bearer {first['refresh_token']}")
    assert auth.tokens_held() == 3  # two operation tokens, one refresh token

    clock.now += 1801  # the first operation token expired; the refreshed one has not
    auth.create_tokens("admin", "pw")  # issuing prunes too, not only checking
    assert auth.tokens_held() == 4
    with pytest.raises(AuthFailed):
        auth.authenticate(f"Bearer {first['operation_token']}")

    clock.now += 31 * 24 * 3600  # everything expired: nothing is kept
    with pytest.raises(AuthFailed):
        auth.refresh(f"Bearer {first['refresh_token']}")
    assert auth.tokens_held() == 0


def test_token_churn_holds_only_live_tokens() -> None:
    """A client logging in over and over (one login an hour for a year) does not grow the store."""
    clock = Clock()
    auth = Authenticator(Credentials("admin", "pw"), clock=clock)
    for _ in range(24 * 365):
        auth.create_tokens("admin", "pw")
        clock.now += 3600
    # Live: the refresh tokens of the last 30 days, and at most one operation token.
    assert auth.tokens_held() <= 30 * 24 + 2
