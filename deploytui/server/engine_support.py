"""The engine's typed errors and Harper's install-output ring buffer.

Every error carries ``status_code`` (and a failed deploy a ``body``), which the HTTP layer sends as
is: Harper answers a failed deploy with its structured body, ``{error, phase, install_output,
deployment_id}`` (contract §2.1.5).
"""

from __future__ import annotations

import time
from collections import deque
from typing import Any

# Harper keeps the last 200 lines / 16 KiB of install output for the failure body.
INSTALL_OUTPUT_LINES = 200
INSTALL_OUTPUT_BYTES = 16 * 1024


def now_ms() -> int:
    return time.time_ns() // 1_000_000


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


def describe_failure(exc: BaseException) -> tuple[str, int]:
    """(message, HTTP status) for any exception that ended a deploy."""
    if isinstance(exc, EngineError):
        return exc.message, exc.status_code
    status = getattr(exc, "status_code", None)
    text = str(exc) or type(exc).__name__
    return (text, status) if isinstance(status, int) else (f"{type(exc).__name__}: {text}", 500)


class InstallOutput:
    """The last :data:`INSTALL_OUTPUT_LINES` lines / :data:`INSTALL_OUTPUT_BYTES` of install output."""

    def __init__(self, max_lines: int = INSTALL_OUTPUT_LINES, max_bytes: int = INSTALL_OUTPUT_BYTES) -> None:
        self._lines: deque[dict[str, str]] = deque()
        self._bytes = 0
        self._max_lines = max_lines
        self._max_bytes = max_bytes
        self.dropped = 0

    def add(self, manager: str, stream: str, line: str) -> None:
        size = len(line.encode("utf-8", "replace"))
        if size > self._max_bytes:  # one huge line keeps its tail, as a ring buffer would
            line = line[-self._max_bytes:]
            size = len(line.encode("utf-8", "replace"))
        self._lines.append({"manager": manager, "stream": stream, "line": line})
        self._bytes += size
        while len(self._lines) > self._max_lines or self._bytes > self._max_bytes:
            old = self._lines.popleft()
            self._bytes -= len(old["line"].encode("utf-8", "replace"))
            self.dropped += 1

    def as_dict(self) -> dict[str, Any]:
        return {"lines": list(self._lines), "truncated": self.dropped > 0, "dropped_lines": self.dropped}
