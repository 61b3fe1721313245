"""Helpers for the CLI end-to-end tests: run ``python -m deploytui`` as a real subprocess against a
real server, and create deployments to look at."""

from __future__ import annotations

import base64
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from deploytui.client.local import LocalServer
from tests.conftest import make_tarball, op

# Anything that could control a terminal: ESC, BEL, and the 8-bit C1 controls.
CONTROL = re.compile("[\x1b\x07\x80-\x9f]")
PY = sys.executable


def cli_env(srv: LocalServer | None, *, password: str | None = None, **extra: str) -> dict[str, str]:
    """A clean environment: no inherited DEPLOYTUI_* settings, no contexts file, the server's creds."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("DEPLOYTUI_") and k not in ("NO_COLOR", "FORCE_COLOR")}
    env["DEPLOYTUI_CONFIG"] = str(Path(os.environ.get("TMPDIR", "/tmp")) / "deploytui-tests-no-contexts.toml")
    # A data dir that cannot be created: a command that would start a local server on demand
    # fails at once instead of leaving one running (tests that want one give their own).
    env["DEPLOYTUI_DATA_DIR"] = "/dev/null/deploytui-tests-no-data-dir"
    if srv is not None:
        env.update(DEPLOYTUI_URL=srv.url, DEPLOYTUI_USER=srv.user, DEPLOYTUI_PASSWORD=password or srv.password)
    env.update(extra)
    return env


def run_cli(srv: LocalServer | None, *argv: str, password: str | None = None, timeout: float = 50,
            env: dict[str, str] | None = None, **extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m deploytui ARGV`` with stdout/stderr captured (pipes, so not a terminal)."""
    return subprocess.run(
        [PY, "-m", "deploytui", *argv],
        capture_output=True, text=True, encoding="utf-8", timeout=timeout, stdin=subprocess.DEVNULL,
        env=env if env is not None else cli_env(srv, password=password, **extra),
    )


def assert_no_controls(*texts: str) -> None:
    for text in texts:
        found = CONTROL.search(text)
        assert found is None, f"control character {found.group()!r} in output: {text[max(0, found.start() - 60):found.end() + 60]!r}"


def python_command(code: str) -> str:
    """An install command running ``code`` with this interpreter (shell-quoted for the server's sh)."""
    return f"{shlex.quote(PY)} -c {shlex.quote(code)}"


def deploy(srv: LocalServer, project: str, install_command: str | None = None,
           files: dict[str, str] | None = None) -> tuple[int, dict[str, Any]]:
    """A finished deploy through the JSON API: (HTTP status, body). The body names the deployment."""
    payload = make_tarball(files or {"package.json": json.dumps({"name": project, "version": "1.0.0"})})
    body: dict[str, Any] = {"operation": "deploy_component", "project": project,
                            "payload": base64.b64encode(payload).decode()}
    if install_command:
        body["install_command"] = install_command
    response = op(srv, body)
    return response.status_code, response.json()


def deploy_ok(srv: LocalServer, project: str = "app", lines: int = 3) -> str:
    """A successful deploy whose install prints ``out N`` on stdout and ``err N`` on stderr."""
    code = (f"import sys\nfor i in range({lines}):\n print('out', i, flush=True)\n"
            " print('err', i, file=sys.stderr, flush=True)")
    status, body = deploy(srv, project, python_command(code))
    assert status == 200, body
    return body["deployment_id"]


def deploy_failing(srv: LocalServer, project: str = "broken") -> str:
    """A deploy whose install fails in prepare (exit 3) after one line on each stream."""
    code = "import sys\nprint('about to fail', flush=True)\nprint('npm ERR! nope', file=sys.stderr, flush=True)\nsys.exit(3)"
    status, body = deploy(srv, project, python_command(code))
    assert status == 500, body
    return body["deployment_id"]


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines() if line.strip()]
