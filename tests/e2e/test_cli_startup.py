"""Startup hygiene, contexts end to end, and ``deploytui demo``."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.e2e.cli_support import PY, cli_env, json_lines, run_cli

FORBIDDEN = "[m for m in sys.modules if m == 'textual' or m.startswith(('textual.', 'deploytui.server', 'deploytui.tui'))]"



def run_python(code: str) -> None:
    """Run ``code`` in a fresh interpreter (a clean sys.modules); it asserts for itself."""
    result = subprocess.run([PY, "-c", code], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0, result.stderr

@pytest.mark.parametrize("argv", [["--help"], ["list", "--help"], ["watch", "--help"], ["deploy", "--help"], ["demo", "--help"],
                                  ["server", "status", "--help"]])
def test_help_imports_neither_textual_nor_the_server(argv: list[str]) -> None:
    code = (
        "import sys, deploytui.cli\n"
        f"try:\n    deploytui.cli.main({argv!r})\nexcept SystemExit as e:\n    assert e.code == 0\n"
        f"bad = {FORBIDDEN}\nassert not bad, bad\n"
    )
    run_python(code)


def test_command_modules_import_neither_textual_nor_the_server() -> None:
    code = (
        "import sys\n"
        "import deploytui.commands.list_cmd, deploytui.commands.watch_cmd, deploytui.commands.deploy_cmd\n"
        "import deploytui.commands.demo_cmd, deploytui.commands.server_cmd, deploytui.config, deploytui.client.pack\n"
        "import deploytui.client.local\n"
        f"bad = {FORBIDDEN}\nassert not bad, bad\n"
    )
    run_python(code)


def test_demo_catalogue_imports_only_itself() -> None:
    """``demo`` reads deploytui.server.demos: that must not pull in the rest of the server package."""
    code = (
        "import sys, deploytui.server.demos\n"
        "loaded = sorted(m for m in sys.modules if m.startswith('deploytui.server'))\n"
        "assert loaded == ['deploytui.server', 'deploytui.server.demos'], loaded\n"
        "assert not [m for m in sys.modules if m.startswith(('textual', 'starlette', 'uvicorn'))]\n"
    )
    run_python(code)


def test_help_through_python_m_names_every_command() -> None:
    """``python -m deploytui --help`` (the entry point, not main() in-process) lists each command with
    its summary. How fast it prints is a figure of bench/cold_start.py, not a test."""
    result = subprocess.run([PY, "-m", "deploytui", "--help"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 0 and result.stderr == ""
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.startswith("    ") and line.split()}
    assert {"serve", "list", "watch", "deploy", "demo"} <= listed


def test_connection_flag_before_the_command_is_kept(server) -> None:
    env = cli_env(None)
    result = run_cli(None, "--url", server.url, "--user", server.user, "--password", server.password,
                     "list", "--json", env=env)
    assert result.returncode == 0, result.stderr


# -- contexts, end to end ---------------------------------------------------------------------------


def write_contexts(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "contexts.toml"
    path.write_text(text)
    return path


def test_context_from_file_with_password_env(server, tmp_path: Path) -> None:
    path = write_contexts(tmp_path, f'default = "test"\n[contexts.test]\nurl = "{server.url}"\nuser = "{server.user}"\n'
                                    'password_env = "TEST_HARPER_PASSWORD"\n')
    env = cli_env(None, DEPLOYTUI_CONFIG=str(path), TEST_HARPER_PASSWORD=server.password)
    assert run_cli(None, "list", "--json", env=env).returncode == 0
    assert run_cli(None, "list", "--json", "--context", "test", env=env).returncode == 0
    unknown = run_cli(None, "list", "--context", "prod", env=env)
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == f"deploytui: unknown context 'prod' in {path}; known: local, test"


def test_malformed_contexts_file_exits_2_naming_file_and_line(tmp_path: Path) -> None:
    path = write_contexts(tmp_path, '[contexts.x]\nurl = "https://x"\nuser = admin\n')
    result = run_cli(None, "watch", "id", env=cli_env(None, DEPLOYTUI_CONFIG=str(path)))
    assert result.returncode == 2
    assert result.stderr.startswith(f"deploytui: {path}, line 3: invalid TOML")
    assert len(result.stderr.strip().splitlines()) == 1


# -- demo -----------------------------------------------------------------------------------------


def test_demo_prints_ids_and_results(server) -> None:
    result = run_cli(server, "demo", "hello", "broken-install")
    assert result.returncode == 1, result.stderr  # demos exit like deploy: one failed
    finals = {line.split()[0]: line for line in result.stdout.splitlines() if len(line.split()) > 2}
    assert "success" in finals["hello"]
    assert "failed in prepare" in finals["broken-install"]


def test_demo_no_wait_then_watch(server) -> None:
    result = run_cli(server, "demo", "hello", "--no-wait")
    assert result.returncode == 0, result.stderr
    name, deployment_id = result.stdout.split()
    assert name == "hello"
    watched = run_cli(server, "watch", deployment_id, "--json")
    assert watched.returncode == 0 and json_lines(watched.stdout)[-1]["event"] == "done"


def test_demo_unknown_name() -> None:
    result = run_cli(None, "demo", "nope")
    assert result.returncode == 2 and "no demo named 'nope'; demos: hello" in result.stderr
