"""The install runner streams lines as they are produced, tells the streams apart, and kills the
whole process group on timeout. Real subprocesses throughout."""

from __future__ import annotations

import asyncio
import os
import shlex
import sys
import time
from pathlib import Path

import pytest

from deploytui.server.installer import (
    InstallTimeout,
    choose_install_command,
    run_install,
    split_lines,
)

PY = shlex.quote(sys.executable)


class Lines:
    """Collects (stream, line) pairs, and the lines of each call, and lets a test wait for a given line."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []
        self.reads: list[int] = []  # lines per call
        self._waiters: dict[str, asyncio.Event] = {}

    def __call__(self, stream: str, lines: list[str]) -> None:
        self.reads.append(len(lines))
        for line in lines:
            self.items.append((stream, line))
            if line in self._waiters:
                self._waiters[line].set()

    async def wait_for(self, line: str) -> None:
        if any(text == line for _, text in self.items):
            return
        await self._waiters.setdefault(line, asyncio.Event()).wait()

    def of(self, stream: str) -> list[str]:
        return [text for s, text in self.items if s == stream]


def _script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(body)
    return f"{PY} {shlex.quote(str(path))}"


def _gone(pid: int) -> bool:
    """True when the pid no longer runs (a zombie awaiting its reaper counts as gone)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


async def _until_gone(*pids: int, within: float = 5.0) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if all(_gone(pid) for pid in pids):
            return True
        await asyncio.sleep(0.02)
    return False


async def test_lines_arrive_while_the_command_still_runs(tmp_path: Path) -> None:
    gate = tmp_path / "gate"
    command = _script(
        tmp_path,
        "gated.py",
        # print() without flush: PYTHONUNBUFFERED=1 is what makes this line leave at once.
        f"import os, time\nprint('first')\nwhile not os.path.exists({str(gate)!r}): time.sleep(0.01)\nprint('second')\n",
    )
    lines = Lines()
    task = asyncio.create_task(run_install(command, tmp_path, on_lines=lines, timeout_s=30))
    await asyncio.wait_for(lines.wait_for("first"), 10)
    assert not task.done() and lines.of("stdout") == ["first"]
    gate.touch()
    assert await asyncio.wait_for(task, 10) == 0
    assert lines.of("stdout") == ["first", "second"]


async def test_stdout_and_stderr_are_told_apart_and_exit_code_returned(tmp_path: Path) -> None:
    lines = Lines()
    code = await run_install("echo out1; echo err1 >&2; echo out2; exit 3", tmp_path, on_lines=lines, timeout_s=10)
    assert code == 3
    assert lines.of("stdout") == ["out1", "out2"]
    assert lines.of("stderr") == ["err1"]


async def test_argv_runs_without_a_shell(tmp_path: Path) -> None:
    lines = Lines()
    code = await run_install([sys.executable, "-c", "print('$HOME is literal')"], tmp_path, on_lines=lines)
    assert code == 0 and lines.of("stdout") == ["$HOME is literal"]


async def test_runs_in_the_release_dir(tmp_path: Path) -> None:
    lines = Lines()
    await run_install("pwd", tmp_path, on_lines=lines)
    assert Path(lines.of("stdout")[0]).resolve() == tmp_path.resolve()


async def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    pids = tmp_path / "pids"
    command = _script(
        tmp_path,
        "spawner.py",
        "import os, subprocess, sys, time\n"
        "grandchild = subprocess.Popen(['sleep', '300'])\n"
        f"open({str(pids)!r}, 'w').write(f'{{os.getpid()}} {{grandchild.pid}}')\n"
        "print('spawned')\n"
        "time.sleep(300)\n",
    )
    lines = Lines()
    with pytest.raises(InstallTimeout) as info:  # how soon: bench/bench_install_timeout.py
        await run_install(command, tmp_path, on_lines=lines, timeout_s=1.0)
    assert "timed out after 1s" in str(info.value) and info.value.status_code == 500
    assert lines.of("stdout") == ["spawned"]
    child, grandchild = map(int, pids.read_text().split())
    assert await _until_gone(child, grandchild)


async def test_timeout_escalates_to_sigkill(tmp_path: Path) -> None:
    """A command that ignores SIGTERM is still ended."""
    pid_file = tmp_path / "pid"
    command = f"trap '' TERM; echo $$ > {shlex.quote(str(pid_file))}; echo ready; while :; do sleep 0.1; done"
    lines = Lines()
    with pytest.raises(InstallTimeout):
        await run_install(command, tmp_path, on_lines=lines, timeout_s=0.5)
    assert lines.of("stdout") == ["ready"]
    assert await _until_gone(int(pid_file.read_text()))


async def test_background_leftovers_do_not_hold_the_install_open(tmp_path: Path) -> None:
    pid_file = tmp_path / "pid"
    lines = Lines()
    # Were the install held open by the leftover's pipes, this would end as an InstallTimeout.
    code = await run_install(
        f"sleep 300 & echo $! > {shlex.quote(str(pid_file))}; echo done", tmp_path, on_lines=lines, timeout_s=30
    )
    assert code == 0 and lines.of("stdout") == ["done"]
    assert await _until_gone(int(pid_file.read_text()))


async def test_huge_line_is_split_and_bad_utf8_replaced(tmp_path: Path) -> None:
    command = _script(
        tmp_path,
        "huge.py",
        "import sys\n"
        "out = sys.stdout.buffer\n"
        "out.write(b'a' * 150000 + b'\\n')\n"
        "out.write(b'crlf line\\r\\n')\n"
        "out.write(b'bad \\xff byte\\n')\n"
        "out.write('no newline at end \\u00e9'.encode())\n",
    )
    lines = Lines()
    assert await run_install(command, tmp_path, on_lines=lines) == 0
    out = lines.of("stdout")
    assert [len(x) for x in out[:3]] == [65536, 65536, 150000 - 2 * 65536]
    assert out[3:] == ["crlf line", "bad \ufffd byte", "no newline at end \u00e9"]


async def test_the_lines_of_one_read_arrive_together(tmp_path: Path) -> None:
    """A burst of output is handed over a read at a time, in order, not a line at a time."""
    command = _script(tmp_path, "burst.py",
                      "import os\nos.write(1, b''.join(b'line %d\\n' % i for i in range(5000)))\n")
    lines = Lines()
    assert await run_install(command, tmp_path, on_lines=lines) == 0
    assert lines.of("stdout") == [f"line {i}" for i in range(5000)]
    assert len(lines.reads) < 100 and all(lines.reads)


def test_split_lines_keeps_utf8_characters_whole() -> None:
    buffer = bytearray("ab\u00e9\u00e9".encode())  # a b [c3 a9] [c3 a9]
    assert split_lines(buffer, max_line=3) == ["ab", "\u00e9"]  # never a half character
    assert buffer == bytearray("\u00e9".encode())  # not yet over the cap: waits for more
    partial = bytearray(b"one\ntwo\nthr")
    assert split_lines(partial) == ["one", "two"] and partial == bytearray(b"thr")


def test_choose_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    custom = choose_install_command(tmp_path, "make deps")
    assert custom is not None and (custom.command, custom.manager) == ("make deps", "custom")
    (tmp_path / "package.json").write_text("{}")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    npm = fake_bin / "npm"
    npm.write_text("#!/bin/sh\n")
    npm.chmod(0o755)
    monkeypatch.setenv("PATH", str(fake_bin))
    chosen = choose_install_command(tmp_path, None)
    assert chosen is not None and chosen.manager == "npm"
    assert chosen.display == f"{npm} install --no-audit --no-fund"
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    assert choose_install_command(tmp_path, None) is None  # no npm
    monkeypatch.setenv("PATH", str(fake_bin))
    os.remove(tmp_path / "package.json")
    assert choose_install_command(tmp_path, "  ") is None  # no package.json, blank command
