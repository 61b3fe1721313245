"""What every headless command shares: connecting, running an async main, errors, exit codes, colour.

* :func:`run_client_command` resolves the connection (flags, environment, contexts, else the local
  server), opens an :class:`~deploytui.client.api.OperationsClient`, runs the command's async main
  with :func:`asyncio.run`, and turns every typed error into exit code 2 and ONE line on stderr.
* :func:`use_color` decides colour for a stream: only on a terminal, never with ``NO_COLOR`` or
  ``TERM=dumb`` (``FORCE_COLOR`` forces it, for CI systems that render ANSI).
* :class:`StatusLine` is the progress/state channel on stderr: a single updating line on a
  terminal, plain lines (or nothing) in a pipe, so logs never get control sequences.
* :func:`outcome` maps how a deployment ended to the exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable
from typing import IO, Any

from deploytui.client.ansi import strip_controls
from deploytui.client.api import ConnectionSettings, OperationsClient
from deploytui.client.errors import AuthError, DeploytuiError, ForbiddenError, NotFoundError

__all__ = [
    "EXIT_OK",
    "EXIT_FAILED",
    "EXIT_USAGE",
    "EXIT_INTERRUPTED",
    "EXIT_BROKEN_PIPE",
    "CommandError",
    "fail",
    "describe_error",
    "run_client_command",
    "use_color",
    "is_terminal",
    "StatusLine",
    "outcome",
]

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
EXIT_INTERRUPTED = 130  # 128 + SIGINT, as shells report it
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: the reader went away (e.g. `| head`)

class CommandError(DeploytuiError):
    """A usage problem found by a command itself (a bad path, an unknown demo): exit 2."""


def fail(message: str, stream: IO[str] | None = None) -> int:
    """Print ``deploytui: <message>`` on stderr (one line) and return :data:`EXIT_USAGE`.

    The message often quotes the server (an error's text), so it goes through the terminal-safety
    rule (:mod:`deploytui.client.ansi`): no control, no bidi override, ``\\r`` shown as ``␍``.
    """
    stream = sys.stderr if stream is None else stream
    print(f"deploytui: {' '.join(strip_controls(message).split())}", file=stream, flush=True)
    return EXIT_USAGE


def _server(settings: ConnectionSettings | None) -> str:
    return f"the server at {settings.url.rstrip('/')}" if settings else "the server"


def describe_error(error: DeploytuiError, settings: ConnectionSettings | None = None) -> str:
    """One line for a person: what failed, against which server, with the HTTP status."""
    if isinstance(error, AuthError):
        who = f"user {settings.user!r}" if settings and settings.user and not settings.token else (
            "the operation token" if settings and settings.token else "anonymous access")
        return f"{_server(settings)} refused the credentials for {who} (401)"
    if isinstance(error, ForbiddenError):
        return f"{_server(settings)}: {error.message} (403)"
    if isinstance(error, NotFoundError):
        return f"{error.message} on {_server(settings).removeprefix('the server at ')}"
    if error.status_code and f"{error.status_code}" not in error.message:
        return f"{error.message} ({error.status_code})"
    return error.message


def use_color(stream: IO[str], environ: os._Environ[str] | dict[str, str] | None = None) -> bool:
    """Colour on ``stream``? Never with ``NO_COLOR`` (any value) or ``TERM=dumb``; always with a
    non-empty ``FORCE_COLOR``; otherwise only when the stream is a terminal."""
    environ = os.environ if environ is None else environ
    if "NO_COLOR" in environ or environ.get("TERM") == "dumb":
        return False
    if environ.get("FORCE_COLOR"):
        return True
    return is_terminal(stream)


def is_terminal(stream: IO[str]) -> bool:
    """True when ``stream`` is an interactive terminal that understands control sequences."""
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class StatusLine:
    """Progress and connection state on stderr.

    On a terminal, :meth:`update` redraws one line in place (``\\r`` + erase to end of line); in a
    pipe it prints nothing, so logs stay clean — use :meth:`note` for lines that must reach a log
    either way. :meth:`note` and :meth:`clear` first wipe a pending in-place line.
    """

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.live = is_terminal(self.stream)
        self._shown = False

    def update(self, text: str) -> None:
        """Show ``text`` as the current state (terminals only); server text in it is made safe."""
        if not self.live:
            return
        width = _terminal_columns() - 1
        self.stream.write(f"\r{strip_controls(text)[:width]}\x1b[K")
        self.stream.flush()
        self._shown = True

    def note(self, text: str) -> None:
        """Print ``text`` as a line of its own (terminal and pipe alike); server text in it is made safe."""
        self.clear()
        print(strip_controls(text), file=self.stream, flush=True)

    def clear(self) -> None:
        """Remove the in-place line, if one is shown."""
        if self._shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()
            self._shown = False


def _terminal_columns() -> int:
    import shutil

    return max(20, shutil.get_terminal_size((80, 24)).columns)


def outcome(final_row: dict[str, Any] | None, *, saw_error: bool, saw_done: bool) -> int | None:
    """The exit code for how a deployment ended, or None when it is not known to have ended.

    The final row's status decides when there is one (``failed`` → 1; ``success`` and
    ``rolled_back`` — a revert row that completed — → 0); else the stream's last word: a deploy
    ``error`` → 1, ``done`` → 0.
    """
    status = final_row.get("status") if isinstance(final_row, dict) else None
    if status == "failed":
        return EXIT_FAILED
    if status in ("success", "rolled_back"):
        return EXIT_OK
    if saw_error:
        return EXIT_FAILED
    if saw_done:
        return EXIT_OK
    return None


def run_client_command(
    args: argparse.Namespace, main: Callable[[OperationsClient], Awaitable[int]], *, prepare: Callable[[], None] | None = None,
    connect: Callable[[argparse.Namespace], ConnectionSettings] | None = None,
) -> int:
    """Connect as ``args`` say, run ``main(client)`` on a fresh event loop, return its exit code.

    ``prepare`` runs first (e.g. checking a path) so a usage error is reported before connecting.
    ``connect`` picks the server (default :func:`deploytui.config.connection_for`: flags, environment,
    contexts, else the local server, started on demand).
    Every :class:`DeploytuiError` (configuration, no local server, HTTP, network) becomes exit 2
    with one line on stderr; Ctrl-C exits 130 quietly; a closed stdout pipe exits 141.
    """
    from deploytui.config import connection_for

    settings: ConnectionSettings | None = None
    try:
        if prepare is not None:
            prepare()
        settings = (connect or connection_for)(args)

        async def session() -> int:
            async with OperationsClient(settings) as client:  # type: ignore[arg-type]
                return await main(client)

        return asyncio.run(session())
    except DeploytuiError as error:
        return fail(describe_error(error, settings))
    except KeyboardInterrupt:
        print(file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Whoever read stdout has gone; point stdout at /dev/null so the interpreter's final flush
        # does not raise again (the recipe of the Python docs, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
