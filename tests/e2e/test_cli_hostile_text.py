"""No text from a server controls the terminal, in every output mode of every headless command.

A real server runs a deploy whose install prints C0 and C1 controls (8-bit CSI, OSC, ST, NEL), bidi
overrides and isolates, and a ``\\r`` meant to overwrite what came before; its install command holds
the same, so the server's error message ("Install command failed with exit code 3: …") carries them
too. The bytes each command writes to stdout and stderr are checked: no C0 control but ``\\n`` and
``\\t`` (and ESC only as the SGR colour a terminal asked for), no C1, no bidi control, no ``\\r``.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest

from tests.e2e.cli_support import PY, cli_env, deploy, json_lines, python_command

BIDI = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
C1 = "\x9b2J\x9d0;title\x9c\x85\x90dcs\x9c\x9f"
# What the install prints: a bit of everything a terminal acts on, around words we can look for.
HOSTILE_OUTPUT = (
    "\x1b]0;pwned\x07\x1b[2J\x07\x00\x0b\x0c\x7f" + C1
    + "real\u202eexe.txt\u202c\u2066iso\u2069\u200f\u061c line\bX T9\rOVER"
)
# Goes into a shell comment of the install command, so the server's error message quotes it.
HOSTILE_COMMAND_TAIL = "T9\rOVER " + BIDI + C1 + "\x1b[2J\x07 end"

# Everything that must not be written raw (ESC is checked separately: allowed as SGR only).
FORBIDDEN = re.compile(f"[\x00-\x08\x0b-\x1a\x1c-\x1f\x7f-\x9f{BIDI}]")
SGR = re.compile(r"\x1b\[[0-9;]*m")


def hostile_install_command() -> str:
    code = (  # one line, so the error message quoting the command is one line too
        f"import sys; sys.stdout.buffer.write({HOSTILE_OUTPUT!r}.encode() + b'\\n'); sys.stdout.flush(); "
        f"sys.stderr.buffer.write({HOSTILE_OUTPUT!r}.encode() + b'\\n'); sys.stderr.flush(); sys.exit(3)"
    )
    return f"{python_command(code)} # {HOSTILE_COMMAND_TAIL}"


def run_bytes(srv, *argv: str, **extra: str) -> subprocess.CompletedProcess[bytes]:
    """The CLI as a subprocess, its output kept as bytes (nothing decoded away before the check)."""
    return subprocess.run([PY, "-m", "deploytui", *argv], capture_output=True, timeout=60,
                          stdin=subprocess.DEVNULL, env=cli_env(srv, **extra))


def assert_terminal_safe(result: subprocess.CompletedProcess[bytes], *, colour: bool = False) -> tuple[str, str]:
    """Both streams decode as UTF-8 and hold nothing that could control a terminal; their text."""
    texts = []
    for name, raw in (("stdout", result.stdout), ("stderr", result.stderr)):
        text = raw.decode("utf-8")  # strict: a stray byte would be a bug too
        shown = SGR.sub("", text) if colour else text
        found = FORBIDDEN.search(shown) or re.search("\x1b", shown)
        assert found is None, f"{name} holds {found.group()!r}: {shown[max(0, found.start() - 60):found.end() + 60]!r}"
        texts.append(text)
    return texts[0], texts[1]


@pytest.fixture
def hostile_deploy(server) -> str:
    status, body = deploy(server, "hostile", hostile_install_command())
    assert status == 500, body
    return body["deployment_id"]


@pytest.mark.parametrize("colour", [False, True], ids=["pipe", "force-colour"])
def test_watch_human_output_shows_the_truth_and_no_control(server, hostile_deploy: str, colour: bool) -> None:
    extra = {"FORCE_COLOR": "1"} if colour else {}
    result = run_bytes(server, "watch", hostile_deploy, **extra)
    assert result.returncode == 1, result.stderr
    out, _ = assert_terminal_safe(result, colour=colour)
    out = SGR.sub("", out)
    # The failure reason is shown whole: the CR is visible instead of hiding "T9" behind "OVER".
    error_line = next(line for line in out.splitlines() if "deploy failed" in line)
    assert "exit code 3" in error_line and "T9␍OVER" in error_line, error_line
    # Install lines keep their text in the order sent, the overwriting controls made visible.
    install = [line.strip() for line in out.splitlines() if line.strip().startswith(("| ", "! "))]
    assert "| realexe.txtiso line␈X T9␍OVER" in install, install
    assert "! realexe.txtiso line␈X T9␍OVER" in install, install


@pytest.mark.parametrize("mode", ["--json", "--raw"])
def test_watch_json_modes_escape_every_control_losslessly(server, hostile_deploy: str, mode: str) -> None:
    result = run_bytes(server, "watch", hostile_deploy, mode)
    assert result.returncode == 1, result.stderr
    out, _ = assert_terminal_safe(result)
    records = json_lines(out)
    datas = [r["data"] if mode == "--json" else json.loads(r["data"]) for r in records]
    lines = [d.get("line") for d in datas if isinstance(d, dict)]
    assert HOSTILE_OUTPUT in lines  # escaped for the terminal, exact once decoded
    messages = [d.get("message") for d in datas if isinstance(d, dict) and d.get("message")]
    assert any(HOSTILE_COMMAND_TAIL in m for m in messages), messages


@pytest.mark.parametrize("mode", [(), ("--json",)], ids=["table", "json"])
def test_list_shows_no_control(server, hostile_deploy: str, mode: tuple[str, ...]) -> None:
    result = run_bytes(server, "list", *mode)
    assert result.returncode == 0, result.stderr
    out, _ = assert_terminal_safe(result)
    assert hostile_deploy in out
    if mode:
        row = next(r for r in json.loads(out)["deployments"] if r["deployment_id"] == hostile_deploy)
        assert row["error"]["message"].endswith(HOSTILE_COMMAND_TAIL)  # lossless once decoded


@pytest.mark.parametrize("mode", [(), ("--json",)], ids=["human", "json"])
def test_deploy_shows_no_control(server, tmp_path: Path, mode: tuple[str, ...]) -> None:
    app = tmp_path / "app"
    app.mkdir()
    (app / "package.json").write_text('{"name": "app", "version": "1.0.0"}')
    result = run_bytes(server, "deploy", str(app), "--install-command", hostile_install_command(), *mode)
    assert result.returncode == 1, result.stderr
    out, _ = assert_terminal_safe(result)
    if not mode:
        assert "T9␍OVER" in next(line for line in out.splitlines() if "deploy failed" in line)


@pytest.mark.parametrize("mode", [(), ("--json",), ("--raw",)], ids=["human", "json", "raw"])
def test_an_error_quoting_hostile_text_is_one_safe_line(server, mode: tuple[str, ...]) -> None:
    """The server's "no such deployment" quotes the id it was given: the one-line error made of it
    (``deploytui: …`` on stderr) goes through the same rule."""
    result = run_bytes(server, "watch", "nope\x1b]0;pwned\x07\u202e\x9b2J\rOVER", *mode)
    assert result.returncode == 2, result.stderr
    _, err = assert_terminal_safe(result)
    assert len(err.splitlines()) == 1 and err.startswith("deploytui: "), err
