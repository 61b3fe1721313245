"""One reconnect/backoff mechanism for every retry loop: the event stream's reconnects (attach and
``watch --raw``) and the plain JSON reads alike.

:class:`RetryPolicy` says how long to wait between attempts (exponential, capped, jittered:
:func:`backoff_delays`) and when to give up (time without progress, or consecutive failures).
:class:`Backoff` is one loop's bookkeeping under a policy — the attempt count, the progress clock,
the server's ``retry:`` — and its :meth:`Backoff.wait` is the one place that waits or gives up.
:func:`retryable` says which failures are worth another try: the network (a refused, cut or
timed-out connection) and 5xx answers (a restarting server). A refusal (4xx) is final.
:class:`~deploytui.client.api.OperationsClient` retries its reads with it, :mod:`deploytui.client.attach`
its reconnects, and ``watch --raw`` its reconnects; writes are never repeated blindly.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from deploytui.client.errors import DeploytuiError, ServerError

__all__ = [
    "DEFAULT_RETRY_MS",
    "MAX_RETRY_DELAY_MS",
    "Backoff",
    "RetryPolicy",
    "backoff_delays",
    "retryable",
]

# The SSE reconnection time before any ``retry:`` arrives ("a few seconds"; npm eventsource uses 3 s).
DEFAULT_RETRY_MS = 3000
# Backoff never waits longer than this between attempts.
MAX_RETRY_DELAY_MS = 30_000


def backoff_delays(
    retry_ms: int | None,
    attempt: int,
    *,
    cap_ms: int = MAX_RETRY_DELAY_MS,
    rng: Callable[[], float] = random.random,
) -> float:
    """Seconds to wait before reconnect ``attempt`` (0 for the first reconnect after a stream ended).

    The base is the server's ``retry:`` (else :data:`DEFAULT_RETRY_MS`), honoured as the spec's
    reconnection time: attempt 0 waits exactly that. Each further failed attempt doubles the
    ceiling up to ``cap_ms``, and the delay is drawn uniformly between the base and the ceiling
    (full jitter above the server's floor), so many clients do not reconnect in lockstep.
    """
    base = DEFAULT_RETRY_MS if retry_ms is None else max(0, retry_ms)
    floor = min(base, cap_ms)
    ceiling = min(cap_ms, base * (2 ** max(0, min(attempt, 32))))
    return (floor + (ceiling - floor) * rng()) / 1000.0


@dataclass(frozen=True)
class RetryPolicy:
    """Reconnect timing. ``initial_delay_ms`` applies until the server sends ``retry:``;
    delays grow exponentially up to ``cap_ms`` with jitter. Give up after ``give_up_after_s``
    without progress (a delivered event, a page of history read, an answer, or the server
    confirming after a stall that the deploy still runs), or after ``max_attempts`` consecutive
    failures."""

    initial_delay_ms: int = 1000
    cap_ms: int = MAX_RETRY_DELAY_MS
    give_up_after_s: float = 300.0
    max_attempts: int | None = None

    def gives_up(self, attempt: int, waited_s: float) -> bool:
        """True when ``attempt`` failures in a row, ``waited_s`` seconds since progress, are enough."""
        out_of_attempts = self.max_attempts is not None and attempt >= self.max_attempts
        return out_of_attempts or waited_s > self.give_up_after_s


class Backoff:
    """One retry loop under a :class:`RetryPolicy`: how many attempts failed in a row, when progress
    was last made, and the server's ``retry:`` (the delays' base once known; the policy's
    ``initial_delay_ms`` until then).

    After a failure, ``if not await backoff.wait(report): raise …``; after progress,
    :meth:`progress`.
    """

    def __init__(self, policy: RetryPolicy, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.retry_ms: int | None = None  # the server's ``retry:``, once sent
        self.attempt = 0  # failed attempts since the last progress
        self._clock = clock
        self._last_progress = clock()

    def progress(self) -> None:
        """Something worked: the next failure backs off from the base again, the give-up clock restarts."""
        self.attempt = 0
        self._last_progress = self._clock()

    def alive(self) -> None:
        """The other side is known to be well although nothing arrived (a deploy still running
        behind a silent stream): the give-up clock restarts; the delays keep growing."""
        self._last_progress = self._clock()

    def exhausted(self) -> bool:
        """True when the policy gives up now."""
        return self.policy.gives_up(self.attempt, self._clock() - self._last_progress)

    def next_delay(self) -> float:
        """Seconds to wait before the next attempt; counts the attempt."""
        base = self.retry_ms if self.retry_ms is not None else self.policy.initial_delay_ms
        delay = backoff_delays(base, self.attempt, cap_ms=self.policy.cap_ms)
        self.attempt += 1
        return delay

    async def wait(self, report: Callable[[int, float], None] | None = None) -> bool:
        """Wait before the next attempt and return True; or return False at once, without
        counting an attempt, when the policy gives up. ``report(attempt, delay_s)`` is called
        before the wait (for a status line or a state change)."""
        if self.exhausted():
            return False
        delay = self.next_delay()
        if report is not None:
            report(self.attempt, delay)
        await asyncio.sleep(delay)
        return True


def retryable(error: DeploytuiError) -> bool:
    """Network failures and server errors (a restarting server) are worth another try."""
    return error.retryable or isinstance(error, ServerError)


_SINGLE_ATTEMPTS: contextvars.ContextVar[bool] = contextvars.ContextVar("single_attempts", default=False)


@contextlib.contextmanager
def single_attempts() -> Iterator[None]:
    """Reads made inside (in this task) are sent once: for a caller that is itself a retry loop
    and shows each failure, e.g. the dashboard's list poll with its "server unreachable" banner."""
    token = _SINGLE_ATTEMPTS.set(True)
    try:
        yield
    finally:
        _SINGLE_ATTEMPTS.reset(token)


def attempts_are_single() -> bool:
    """Whether the current task is inside :func:`single_attempts`."""
    return _SINGLE_ATTEMPTS.get()
