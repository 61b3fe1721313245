"""What every headless command shares: connecting, running an async main, errors, exit codes, colour.

* :func:`run_client_command` resolves the connection (flags, environment, contexts, else the local
  server), opens an :class:`~deploytui.client.api.OperationsClient`, runs the command's async main
  with :func:`asyncio.run`, and turns every typed error into exit code 2 and ONE line on stderr.
* :func:`use_color` decides colour for a stream: only on a terminal, never with ``NO_COLOR`` or
  ``TERM=dumb`` (``FORCE_COLOR`` forces it, for CI systems that render ANSI).
* :class:`StatusLine` is the progress/state channel on stderr: a single updating line on a
  terminal, plain lines (or nothing) in a pipe, so logs never get control sequences.
* :func:`outcome` maps how a deployment ended to the exit code.
* :func:`resolve_deployment_id` turns a unique prefix of an id (the dashboard shows 8 characters)
  into the full id; :func:`pick_deployment` chooses what ``watch`` follows when given no id.
* :class:`FollowedDeployment` is what Ctrl-C says: the deploy continues on the server, and the
  command that comes back to it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import IO, Any

from deploytui.client.ansi import strip_controls
from deploytui.client.api import ConnectionSettings, OperationsClient
from deploytui.client.errors import AuthError, DeploytuiError, ForbiddenError, NotFoundError, NotSupported
from deploytui.protocol.deployment import is_terminal as is_terminal_status

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
    "FollowedDeployment",
    "resolve_deployment_id",
    "pick_deployment",
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


def retry_notes(status: StatusLine) -> Callable[[str, int, float, Exception], None]:
    """A client's ``on_retry``: one line on stderr per retried read, so a wait is never silent."""

    def on_retry(operation: str, attempt: int, delay: float, error: Exception) -> None:
        status.note(f"retrying {operation} (attempt {attempt}, next in {delay:.1f} s): {error}")

    return on_retry


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


# -- deployment ids --------------------------------------------------------------------------------

# A whole id as both our server and Harper make them (a UUID): no need to list deployments for it.
_FULL_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", re.IGNORECASE)
_PAGE = 200
_AMBIGUOUS_SHOWN = 5


async def _all_rows(client: OperationsClient) -> AsyncIterator[dict[str, Any]]:
    """Every deployment row, newest first, a page at a time (a server that ignores ``offset`` and
    answers the same page again ends the walk instead of looping)."""
    seen: set[str] = set()
    offset = 0
    while True:
        result = await client.list_deployments(limit=_PAGE, offset=offset)
        result = result if isinstance(result, dict) else {}
        rows = [r for r in (result.get("deployments") or []) if isinstance(r, dict)]
        fresh = [r for r in rows if str(r.get("deployment_id")) not in seen]
        for row in fresh:
            seen.add(str(row.get("deployment_id")))
            yield row
        offset += len(rows)
        total = result.get("total")
        if not fresh or len(rows) < _PAGE or (isinstance(total, int) and offset >= total):
            return


async def resolve_deployment_id(client: OperationsClient, given: str) -> str:
    """The full id ``given`` names: a whole id as is, else the one deployment whose id starts with
    it (case-insensitive). Several matches: :class:`CommandError` ("ambiguous: matches a, b, c"),
    exit 2. No match, or a server that cannot list deployments: ``given`` unchanged, so the
    server's own "no such deployment" is reported."""
    given = given.strip()
    if not given or _FULL_ID.fullmatch(given):
        return given
    prefix = given.lower()
    matches: list[str] = []
    try:
        async for row in _all_rows(client):
            deployment_id = row.get("deployment_id")
            if isinstance(deployment_id, str) and deployment_id.lower().startswith(prefix):
                if deployment_id.lower() == prefix:
                    return deployment_id
                matches.append(deployment_id)
    except NotSupported:
        return given
    if len(matches) > 1:
        shown = ", ".join(matches[:_AMBIGUOUS_SHOWN]) + (
            f" and {len(matches) - _AMBIGUOUS_SHOWN} more" if len(matches) > _AMBIGUOUS_SHOWN else "")
        raise CommandError(f"deployment id {given!r} is ambiguous: matches {shown}; give more characters")
    return matches[0] if matches else given


async def pick_deployment(client: OperationsClient) -> tuple[dict[str, Any], bool]:
    """What ``watch`` follows when given no id, as ``gh run watch`` does: the newest deployment that
    is still running, else the newest one. ``(row, running)``; CommandError when there is none."""
    newest: dict[str, Any] | None = None
    try:
        async for row in _all_rows(client):
            if not isinstance(row.get("deployment_id"), str):
                continue
            if not is_terminal_status(row.get("status")):
                return row, True
            newest = newest or row
    except NotSupported:
        raise CommandError("this server cannot list deployments, so watch needs a deployment id") from None
    if newest is None:
        raise CommandError("there are no deployments to watch yet; start one with `deploytui deploy PATH`")
    return newest, False


# -- Ctrl-C ----------------------------------------------------------------------------------------


@dataclass
class FollowedDeployment:
    """The deployment a command follows, for what Ctrl-C says; the id may be learnt late (a deploy
    names it once the server has accepted the upload)."""

    deployment_id: str | None = None
    ended: bool = False
    unknown_note: str | None = None  # said when Ctrl-C comes before the id is known

    def interrupt_note(self) -> str | None:
        """One line: the deploy goes on without us, and how to come back; None once it has ended."""
        if self.ended:
            return None
        if not self.deployment_id:
            return self.unknown_note
        shown = strip_controls(self.deployment_id)
        return (f"stopped following deployment {shown}; it continues on the server. "
                f"Follow it again with: deploytui watch {shown}")


def run_client_command(
    args: argparse.Namespace, main: Callable[[OperationsClient], Awaitable[int]], *, prepare: Callable[[], None] | None = None,
    connect: Callable[[argparse.Namespace], ConnectionSettings] | None = None,
    followed: FollowedDeployment | None = None,
) -> int:
    """Connect as ``args`` say, run ``main(client)`` on a fresh event loop, return its exit code.

    ``prepare`` runs first (e.g. checking a path) so a usage error is reported before connecting.
    ``connect`` picks the server (default :func:`deploytui.config.connection_for`: flags, environment,
    contexts, else the local server, started on demand).
    Every :class:`DeploytuiError` (configuration, no local server, HTTP, network) becomes exit 2
    with one line on stderr; Ctrl-C exits 130, saying what ``followed`` says (the deploy goes on,
    and how to come back); a closed stdout pipe exits 141.
    """
    from deploytui.config import connection_for

    settings: ConnectionSettings | None = None
    try:
        if prepare is not None:
            prepare()
        settings = (connect or connection_for)(args)

        async def session() -> int:
            async with OperationsClient(settings) as client:  # type: ignore[arg-type]
                client.on_retry = retry_notes(StatusLine())
                return await main(client)

        return asyncio.run(session())
    except DeploytuiError as error:
        return fail(describe_error(error, settings))
    except KeyboardInterrupt:
        note = followed.interrupt_note() if followed is not None else None
        if is_terminal(sys.stderr):
            print(file=sys.stderr)  # end the line the terminal echoed ^C on
        if note:
            print(f"deploytui: {note}", file=sys.stderr, flush=True)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # Whoever read stdout has gone; point stdout at /dev/null so the interpreter's final flush
        # does not raise again (the recipe of the Python docs, "Note on SIGPIPE").
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
