"""Typed errors of the client: what went wrong, in one line a person can act on.

Every failure the client layer reports is a :class:`DeploytuiError`; httpx exceptions never leak
out. The subclass says *what kind* of failure it was (so callers can decide to retry, re-prompt for
credentials or give up); ``message`` says it plainly; ``status_code`` and ``details`` (the decoded
JSON body, e.g. Harper's structured deploy failure) keep the particulars.
"""

from __future__ import annotations

import json
from typing import Any

__all__ = [
    "DeploytuiError",
    "AuthError",
    "ForbiddenError",
    "NotFoundError",
    "ConflictError",
    "BadRequestError",
    "ServerError",
    "ConnectionFailed",
    "ProtocolError",
    "NotSupported",
    "StreamClosed",
    "error_from_response",
    "harper_message",
    "decode_body",
]

# Longest excerpt of a non-JSON error body kept in a message.
_BODY_EXCERPT = 200


class DeploytuiError(Exception):
    """Base of every client error.

    ``message`` is one line for a human; ``status_code`` is the HTTP status when there was one;
    ``details`` holds the decoded response body (a dict for Harper's JSON errors) or ``None``;
    a failed deploy's body also names its ``phase`` and ``deployment_id``.
    """

    retryable: bool = False  # would the same request, later, plausibly succeed?

    def __init__(self, message: str, *, status_code: int | None = None, details: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.details = details

    def __str__(self) -> str:
        return self.message

    @property
    def phase(self) -> str | None:
        """The deploy phase that failed, when the body says."""
        d = self.details
        return d.get("phase") if isinstance(d, dict) and isinstance(d.get("phase"), str) else None

    @property
    def deployment_id(self) -> str | None:
        """The deployment row recording the failure, when the body says."""
        d = self.details
        value = d.get("deployment_id") if isinstance(d, dict) else None
        return value if isinstance(value, str) else None


class AuthError(DeploytuiError):
    """401: the server did not accept the credentials (or the token expired)."""


class ForbiddenError(DeploytuiError):
    """403: the user is known but not allowed to run this operation (deployment ops are super_user)."""


class NotFoundError(DeploytuiError):
    """404, or Harper's 400 ``No deployment found with id '<id>'``."""


class ConflictError(DeploytuiError):
    """409: e.g. a deploy of the same project is already running, or a payload is still in use."""


class BadRequestError(DeploytuiError):
    """Any other 4xx: the server refused the request as written."""


class ServerError(DeploytuiError):
    """5xx: the server failed. ``details`` keeps the JSON body, e.g. Harper's deploy failure
    ``{error, phase, install_output, deployment_id, failed_peers}`` (see ``phase`` and
    ``deployment_id``; a 4xx deploy failure, such as a broken config, carries them too)."""


class ConnectionFailed(DeploytuiError):
    """The network failed: refused, DNS, TLS, a timeout, or the connection dropped mid-stream.

    ``url`` is where we were going; ``__cause__`` keeps the underlying exception.
    """

    retryable = True

    def __init__(self, message: str, *, url: str | None = None, details: Any = None) -> None:
        super().__init__(message, details=details)
        self.url = url


class ProtocolError(DeploytuiError):
    """The server answered, but not in a way we understand: not SSE, malformed JSON, odd status."""


class NotSupported(DeploytuiError):
    """The server does not offer this operation (e.g. ``get_deployment_events`` on Harper)."""


class StreamClosed(DeploytuiError):
    """The server answered an event stream request with 204 No Content: stop, do not reconnect."""


def harper_message(details: Any) -> str | None:
    """The human message of a Harper error body: ``{"error": msg}`` (or ``{"message": msg}``)."""
    if isinstance(details, dict):
        for key in ("error", "message"):
            value = details.get(key)
            if isinstance(value, str) and value.strip():
                return value.strip()
            if isinstance(value, dict) and isinstance(value.get("message"), str):
                return value["message"].strip()
    if isinstance(details, str) and details.strip():
        return details.strip()
    return None


def decode_body(body: bytes, content_type: str | None) -> Any:
    """JSON when it parses as JSON (Harper sometimes omits the type), else a short text excerpt."""
    if not body:
        return None
    text = body.decode("utf-8", errors="replace")
    essence = (content_type or "").partition(";")[0].strip().lower()
    if essence.endswith("json") or text.lstrip()[:1] in ("{", "["):
        try:
            return json.loads(text)
        except ValueError:
            pass
    text = " ".join(text.split())
    return text[:_BODY_EXCERPT] + ("…" if len(text) > _BODY_EXCERPT else "")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def error_from_response(
    status: int,
    body: bytes,
    content_type: str | None,
    *,
    user: str | None = None,
    operation: str | None = None,
) -> DeploytuiError:
    """Turn an unsuccessful HTTP answer into the matching typed error.

    Reads Harper's ``{"error": msg}`` bodies (and structured bodies such as a deploy failure, kept
    whole in ``details``). ``user`` names who we authenticated as, for the 401 message;
    ``operation`` names the operation, to recognise Harper's ``Operation '<op>' not found``.
    """
    details = decode_body(body, content_type)
    said = harper_message(details)
    said_part = f": {_one_line(said)}" if said else ""
    kw: dict[str, Any] = {"status_code": status, "details": details}
    if status == 401:
        who = f" for {user}" if user else ""
        return AuthError(f"the server refused the credentials{who}{said_part}", **kw)
    if status == 403:
        what = f"run {operation}" if operation else "do this"
        return ForbiddenError(f"permission denied: this user may not {what}{said_part}", **kw)
    if status == 404 or (status == 400 and said and said.startswith("No deployment found")):
        return NotFoundError(_one_line(said) if said else "not found (HTTP 404)", **kw)
    if status == 400 and said and operation and said.startswith(f"Operation '{operation}' not found"):
        return NotSupported(f"this server does not support {operation}", **kw)
    if status == 409:
        return ConflictError(_one_line(said) if said else "conflict (HTTP 409)", **kw)
    if 400 <= status < 500:
        return BadRequestError(_one_line(said) if said else f"the server refused the request (HTTP {status})", **kw)
    if status >= 500:
        return ServerError(
            f"server error (HTTP {status}){said_part}" if said else f"server error (HTTP {status})", **kw
        )
    return ProtocolError(f"unexpected HTTP status {status}{said_part}", **kw)
