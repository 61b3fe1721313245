"""The engine's typed errors, and the plain message (and status) any failure gives the client.

Every error carries ``status_code`` (and a failed deploy a ``body``), which the HTTP layer sends as
is: Harper answers a failed deploy with its structured body, ``{error, phase, install_output,
deployment_id}`` (contract §2.1.5). Failure messages are for the client: :func:`describe_failure`
gives every exception a plain message and never lets the server's absolute paths through.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any


class EngineError(Exception):
    """Base of the engine's errors: a message and the HTTP status the API answers with."""

    status_code = 500

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if status_code is not None:
            self.status_code = status_code


class DeployRequestError(EngineError):
    """The request itself is wrong (bad project name, bad option): 400, before any row exists."""

    status_code = 400


class ProjectBusy(EngineError):
    """Another deploy or revert of the same project is running: 409."""

    status_code = 409


class NothingToRevert(EngineError):
    """``revert_component`` on a project with no current or no previous release: 409."""

    status_code = 409


class DeployFailed(EngineError):
    """A recorded deploy failed; ``body`` is Harper's structured failure body."""

    def __init__(self, status_code: int, body: dict[str, Any]) -> None:
        super().__init__(str(body.get("error", "deploy failed")), status_code)
        self.body = body


class StepFailed(EngineError):
    """A pipeline step failed for a known reason (inside the engine only; becomes DeployFailed)."""


class PayloadUnreadable(EngineError):
    """Reading the payload the client sent (or named) failed: its bytes or its files are bad."""

    status_code = 400


class PayloadNotStored(EngineError):
    """The server could not write the payload to its own disk: a server fault, not the client's."""


def source_failure(exc: Exception) -> EngineError | Exception:
    """What an exception raised while *reading* the client's payload means for the client.

    Typed refusals (with a ``status_code``) pass through. An ``OSError`` there comes from the
    client's own ``file:`` directory, and a ``ValueError`` from bytes that do not parse (a broken
    multipart body, bad base64): both are the client's to fix (400). Anything else is our fault.
    """
    if isinstance(getattr(exc, "status_code", None), int):
        return exc
    if isinstance(exc, OSError):
        return PayloadUnreadable(f"The payload could not be read: {os_error_text(exc)}")
    if isinstance(exc, ValueError):
        return PayloadUnreadable(f"The payload could not be read: {exc or type(exc).__name__}")
    return exc


def sink_failure(exc: OSError) -> PayloadNotStored:
    """Writing the payload to the server's disk failed: 507 when the disk (or a file size limit)
    is full, else 500; both with a plain message."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return PayloadNotStored(f"The server has no room to store the payload ({os_error_text(exc)})", 507)
    return PayloadNotStored(f"The server could not store the payload ({os_error_text(exc)})", 500)


def os_error_text(exc: OSError) -> str:
    """``Permission denied: 'vm/drop_caches'``-style text without the errno noise."""
    text = exc.strerror or str(exc) or type(exc).__name__
    return f"{text}: {exc.filename!r}" if exc.filename is not None else text


def describe_failure(exc: BaseException, hidden: Sequence[Path] = ()) -> tuple[str, int]:
    """(message, HTTP status) for any exception that ended a deploy.

    Messages go to the client, so every absolute path under ``hidden`` (the data dir, a component's
    dir) is shown relative to it, as ``releases/<id>/<member>``; unknown exceptions are 500s.
    """
    if isinstance(exc, EngineError):
        message, status = exc.message, exc.status_code
    elif isinstance(exc, OSError):
        message, status = os_error_text(exc), 500
    else:
        code = getattr(exc, "status_code", None)
        text = str(exc) or type(exc).__name__
        message, status = (text, code) if isinstance(code, int) else (f"{type(exc).__name__}: {text}", 500)
    return hide_paths(message, hidden), status


def hide_paths(text: str, bases: Sequence[Path]) -> str:
    """``text`` with each base dir (absolute and resolved, innermost first) made relative to it."""
    spellings = {spelling for base in bases for spelling in (os.path.abspath(base), os.path.realpath(base))}
    for spelling in sorted(spellings, key=len, reverse=True):
        # The whole base, alone or leading a deeper path: not "/data" in "/database" or "/x/data".
        pattern = r"(?<![\w./-])" + re.escape(spelling) + r"(?:/|(?![\w.-]))"
        text = re.sub(pattern, lambda match: "" if match.group().endswith("/") else ".", text)
    return text
