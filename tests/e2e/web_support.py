"""Helpers for the ``deploytui web`` tests: start it as a real subprocess and read what it prints."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from tests.e2e.cli_support import PY, cli_env

URL_LINE = "deploytui web: the dashboard is at "
LAST_LINE = "deploytui web: ctrl+c stops serving"
"""The announcement's last line: once it is read, every line printed with the URL has been."""


class Output:
    """Every line a process prints, read on a thread (so its pipe never fills), with a way to wait
    for one: waiting is on the line itself, never on a pause."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.lines: list[str] = []
        self.ended = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self._thread.start()

    def _read(self, process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        for line in process.stdout:
            with self._changed:
                self.lines.append(line)
                self._changed.notify_all()
        with self._changed:
            self.ended = True
            self._changed.notify_all()

    def wait_for(self, prefix: str, timeout: float) -> str:
        """The first line starting with ``prefix``; AssertionError if the output ends (or ``timeout``
        passes, a safety net only) without one."""

        def found() -> str | None:
            return next((line for line in self.lines if line.startswith(prefix)), None)

        with self._changed:
            self._changed.wait_for(lambda: found() is not None or self.ended, timeout=timeout)
            line = found()
            if line is None:
                raise AssertionError(f"no line starting {prefix!r} in: {''.join(self.lines)!r}")
            return line


@contextmanager
def web_process(*argv: str, env: dict[str, str] | None = None, timeout: float = 30) -> Iterator[tuple[str, list[str]]]:
    """``deploytui web --port 0 ARGV``: yields (the page's URL, the lines printed with it); stopped
    with SIGTERM (as ctrl+c would) on the way out."""
    process = subprocess.Popen(
        [PY, "-m", "deploytui", "web", "--port", "0", *argv], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL, text=True, env=env if env is not None else cli_env(None), start_new_session=True,
    )
    try:
        output = Output(process)
        url = output.wait_for(URL_LINE, timeout)[len(URL_LINE):].strip()
        output.wait_for(LAST_LINE, timeout)
        yield url, list(output.lines)
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
