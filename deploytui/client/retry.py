"""One retry policy for every read: the event stream's reconnects and the plain JSON reads alike.

:class:`RetryPolicy` says how long to wait between attempts (exponential, capped, jittered:
:func:`~deploytui.client.sse.backoff_delays`) and when to give up (time without progress, or
consecutive failures). :func:`retryable` says which failures are worth another try: the network
(a refused, cut or timed-out connection) and 5xx answers (a restarting server). A refusal (4xx)
is final. :class:`~deploytui.client.api.OperationsClient` retries its reads with it, and
:mod:`deploytui.client.attach` its reconnects; writes are never repeated blindly.
"""

from __future__ import annotations

from dataclasses import dataclass

from deploytui.client.errors import DeploytuiError, ServerError

__all__ = ["RetryPolicy", "retryable"]


@dataclass(frozen=True)
class RetryPolicy:
    """Reconnect timing. ``initial_delay_ms`` applies until the server sends ``retry:``;
    delays grow exponentially up to ``cap_ms`` with jitter. Give up after ``give_up_after_s``
    without progress (a delivered event, a page of history read, an answer, or the server
    confirming after a stall that the deploy still runs), or after ``max_attempts`` consecutive
    failures."""

    initial_delay_ms: int = 1000
    cap_ms: int = 30_000
    give_up_after_s: float = 300.0
    max_attempts: int | None = None

    def gives_up(self, attempt: int, waited_s: float) -> bool:
        """True when ``attempt`` failures in a row, ``waited_s`` seconds since progress, are enough."""
        out_of_attempts = self.max_attempts is not None and attempt >= self.max_attempts
        return out_of_attempts or waited_s > self.give_up_after_s


def retryable(error: DeploytuiError) -> bool:
    """Network failures and server errors (a restarting server) are worth another try."""
    return error.retryable or isinstance(error, ServerError)
