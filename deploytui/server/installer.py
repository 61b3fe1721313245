"""Running a component's install command, streaming its output line by line as it is produced.

The command runs in the release directory in its own session (so its process group can be killed
as a whole: ``npm`` and shells spawn children that would otherwise outlive a timeout). stdout and
stderr are read by a subprocess protocol in the event loop's read callback, as chunks arrive, and
the complete lines of each chunk are handed to ``on_lines`` at once, as one list (a burst of output
is recorded a read at a time, not a line at a time). A line longer than :data:`MAX_LINE_BYTES`
without a newline is split, so one runaway line cannot hold output back or exhaust memory. The
command inherits only an allow-listed part of the server's environment (:func:`install_environment`):
a package's install script must not be able to read the server's credentials.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

MAX_LINE_BYTES = 64 * 1024
# After SIGTERM, how long the group gets to exit before SIGKILL.
KILL_GRACE_SECONDS = 2.0
# After the command exits, how long its leftover children may keep the output pipes open.
DRAIN_GRACE_SECONDS = 1.0
NPM_ARGS = ("install", "--no-audit", "--no-fund")

# on_lines(stream, lines): the complete lines of one read of stdout or stderr.
LinesCallback = Callable[[str, list[str]], None]


class InstallTimeout(Exception):
    """The install command outlived its timeout; its whole process group was killed."""

    status_code = 500

    def __init__(self, command: str, timeout_s: float) -> None:
        super().__init__(f"Install command timed out after {timeout_s:g}s: {command}")
        self.command = command
        self.timeout_s = timeout_s


@dataclass(frozen=True, slots=True)
class InstallCommand:
    """What to run: a shell string or an argv list, and the ``manager`` named on install events."""

    command: str | tuple[str, ...]
    manager: str

    @property
    def display(self) -> str:
        """The command as a person would type it (for messages)."""
        return self.command if isinstance(self.command, str) else shlex.join(self.command)


def choose_install_command(release_dir: str | os.PathLike[str], install_command: str | None) -> InstallCommand | None:
    """The command Harper would run: the request's ``install_command``, else ``npm install`` when the
    component has a ``package.json`` and npm is on PATH, else none (install is skipped)."""
    if install_command and install_command.strip():
        return InstallCommand(install_command, "custom")
    npm = shutil.which("npm")
    if npm and (Path(release_dir) / "package.json").is_file():
        return InstallCommand((npm, *NPM_ARGS), "npm")
    return None


async def run_install(
    command: str | Sequence[str],
    cwd: str | os.PathLike[str],
    *,
    on_lines: LinesCallback,
    timeout_s: float | None = None,
    env: dict[str, str] | None = None,
    max_line_bytes: int = MAX_LINE_BYTES,
) -> int:
    """Run ``command`` (a shell string, or an argv list run without a shell) in ``cwd``.

    ``on_lines(stream, lines)`` is called with the lines of stdout/stderr as soon as they are
    produced (those of one read at a time, in order), each decoded as UTF-8 (invalid bytes
    replaced) without its line ending. The command sees only
    :func:`install_environment` (no server secret) plus ``env``. Returns the exit code (a
    negative number when a signal ended it). Raises :class:`InstallTimeout` after killing the
    process group (SIGTERM, then SIGKILL) when ``timeout_s`` expires.
    """
    transport, protocol = await _spawn(command, cwd, env, on_lines, max_line_bytes)
    pid = transport.get_pid()
    try:
        async with asyncio.timeout(timeout_s):
            await asyncio.shield(protocol.exited)  # a timeout must not cancel the shared future
            # Leftover children may still hold the pipes; give them a moment, then end them below.
            await asyncio.wait(protocol.pipes_closed, timeout=DRAIN_GRACE_SECONDS)
    except TimeoutError:
        await _terminate_group(pid, protocol)
        display = command if isinstance(command, str) else shlex.join(command)
        raise InstallTimeout(display, timeout_s or 0.0) from None
    finally:
        _kill_group(pid, signal.SIGKILL)  # nothing the install started may outlive it
        await asyncio.wait(protocol.pipes_closed, timeout=DRAIN_GRACE_SECONDS)
        transport.close()  # delivers any partial last line of a pipe still open
    if protocol.callback_error is not None:  # on_lines raised: a bug worth seeing, not a silent gap
        raise protocol.callback_error
    code = transport.get_returncode()
    return -1 if code is None else code


class _LineProtocol(asyncio.SubprocessProtocol):
    """Splits both pipes into lines inside the event loop's read callback, with no reader tasks.

    ``asyncio.subprocess.Process.wait()`` would also wait for the pipes to close, which a leftover
    background child can postpone forever; this protocol reports the exit on its own.
    """

    def __init__(self, on_lines: LinesCallback, max_line: int) -> None:
        loop = asyncio.get_running_loop()
        self.on_lines = on_lines
        self.max_line = max_line
        self.exited: asyncio.Future[None] = loop.create_future()
        self._closed = {1: loop.create_future(), 2: loop.create_future()}
        self._buffers = {1: bytearray(), 2: bytearray()}
        self.callback_error: BaseException | None = None

    @property
    def pipes_closed(self) -> list[asyncio.Future[None]]:
        return list(self._closed.values())

    def pipe_data_received(self, fd: int, data: bytes) -> None:
        buffer = self._buffers[fd]
        buffer += data
        lines = split_lines(buffer, self.max_line)
        if lines:
            self._deliver(fd, lines)

    def pipe_connection_lost(self, fd: int, exc: Exception | None) -> None:
        if fd not in self._closed:
            return
        if self._buffers[fd]:
            self._deliver(fd, [_decode(bytes(self._buffers[fd]))])
            self._buffers[fd].clear()
        _settle(self._closed[fd])

    def process_exited(self) -> None:
        _settle(self.exited)

    def _deliver(self, fd: int, lines: list[str]) -> None:
        try:
            self.on_lines(_STREAMS[fd], lines)
        except Exception as exc:  # keep reading so the pipe never blocks the child
            self.callback_error = self.callback_error or exc


_STREAMS = {1: "stdout", 2: "stderr"}


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


# What an install may inherit from the server's environment: what a shell, npm and node need to
# find tools, caches, proxies and certificates. Nothing else passes, so no server secret (the
# DEPLOYTUI_USER/DEPLOYTUI_PASSWORD the dashboard starts the server with, tokens, keys) reaches
# an install, where any package's postinstall script could read or print it.
INHERITED_VARIABLES = frozenset({
    "PATH", "HOME", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TERM",
    "TMPDIR", "TEMP", "TMP",
    "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME",
    "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY", "http_proxy", "https_proxy", "no_proxy",
    "SSL_CERT_FILE", "SSL_CERT_DIR", "NODE_EXTRA_CA_CERTS", "NODE_OPTIONS", "NODE_PATH",
    "NVM_DIR", "NVM_BIN", "COREPACK_HOME",
})
# npm reads its configuration from ``npm_config_*`` (any case); locale settings are ``LC_*``.
INHERITED_PREFIXES = ("LC_", "npm_config_", "NPM_CONFIG_")


def install_environment(server_env: Mapping[str, str], extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment an install runs with: the allow-listed part of ``server_env``, then
    ``DEPLOYTUI_PYTHON`` (the server's interpreter, so a component's install can run Python without
    knowing where it lives; the bundled demos use it), then ``extra`` (the engine's per-deployment
    marker). Output is unbuffered so lines arrive as they are printed."""
    env = {k: v for k, v in server_env.items() if k in INHERITED_VARIABLES or k.startswith(INHERITED_PREFIXES)}
    return {**env, "DEPLOYTUI_PYTHON": sys.executable, **(extra or {}), "PYTHONUNBUFFERED": "1"}


async def _spawn(
    command: str | Sequence[str],
    cwd: str | os.PathLike[str],
    env: dict[str, str] | None,
    on_lines: LinesCallback,
    max_line: int,
) -> tuple[asyncio.SubprocessTransport, _LineProtocol]:
    """Start the command in a new session (its own process group) with piped output, no stdin."""
    loop = asyncio.get_running_loop()
    options = dict(
        cwd=os.fspath(cwd),
        env=install_environment(os.environ, env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    factory = lambda: _LineProtocol(on_lines, max_line)  # noqa: E731
    return await loop.subprocess_exec(factory, *_argv(command), **options)


# util-linux's setpriv (Linux) makes the install's first process receive SIGKILL when the server
# dies without cleaning up (kill -9, a crash), so a crashed server leaves no install running on.
_SETPRIV = shutil.which("setpriv") if sys.platform.startswith("linux") else None


def _argv(command: str | Sequence[str]) -> list[str]:
    argv = ["/bin/sh", "-c", command] if isinstance(command, str) else list(command)
    return [_SETPRIV, "--pdeathsig", "KILL", "--", *argv] if _SETPRIV else argv


def split_lines(buffer: bytearray, max_line: int = MAX_LINE_BYTES) -> list[str]:
    """Remove and return every complete line at the front of ``buffer``.

    A run of more than ``max_line`` bytes without a newline is cut (at a UTF-8 character boundary)
    and returned as a line of its own; the rest stays in ``buffer`` for the next chunk.
    """
    lines: list[str] = []
    while True:
        newline = buffer.find(b"\n", 0, max_line + 1)
        if newline >= 0:
            lines.append(_decode(bytes(buffer[:newline])))
            del buffer[: newline + 1]
        elif len(buffer) > max_line:
            cut = _char_boundary(buffer, max_line)
            lines.append(_decode(bytes(buffer[:cut])))
            del buffer[:cut]
        else:
            return lines


def _char_boundary(data: bytearray, at: int) -> int:
    """``at`` moved back (at most 3 bytes) so it does not split a UTF-8 sequence."""
    cut = at
    while cut > at - 3 and cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    return cut if cut > 0 else at


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").removesuffix("\r")


async def _terminate_group(pid: int, protocol: _LineProtocol) -> None:
    """SIGTERM the process group, then SIGKILL it if the leader has not exited within the grace."""
    _kill_group(pid, signal.SIGTERM)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(protocol.exited), KILL_GRACE_SECONDS)
    _kill_group(pid, signal.SIGKILL)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(asyncio.shield(protocol.exited), KILL_GRACE_SECONDS)


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    """Signal every process in the group; a group that is already gone is fine."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def kill_orphaned_installs(env_marker: str) -> int:
    """Kill what is left of an install a previous server process started (it died without cleaning
    up): every process whose environment holds ``env_marker`` (``NAME=value``, which each install
    inherits), with its process group. Linux (/proc) only; returns how many processes were found."""
    marker = env_marker.encode()
    found = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            found += 1
            _kill_group(os.getpgid(int(entry.name)), signal.SIGKILL)
        except OSError:  # gone meanwhile, or not ours to read
            continue
    return found
