"""Out-of-band reads for :mod:`.attachment`: what a stream missed, read from the API instead.

* :class:`EventsFetcher` reads a seq range of our server's full history (``get_deployment_events``)
  page by page. A retryable failure (a cut connection, a 5xx) halves the page (a path that cuts
  long answers still lets small pages through) and is retried through the caller's backoff, which
  gives up by its own policy; pages already read are kept, and each one counts as progress.
* :func:`poll_terminal_row` re-reads a row until it is terminal (Harper may end a stream before its
  terminal write, contract §6.2).
* :func:`find_deployment_id` finds the deployment a Harper deploy stream dropped before naming.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

from deploytui.client.api import OperationsClient
from deploytui.client.errors import DeploytuiError, NotSupported
from deploytui.client.retry import retryable
from deploytui.protocol.deployment import is_terminal

__all__ = ["EventsFetcher", "find_deployment_id", "poll_terminal_row"]

EVENTS_PAGE = 10_000  # the largest page asked of get_deployment_events
MIN_EVENTS_PAGE = 25  # pages never shrink below this after failures


class EventsFetcher:
    """Our server's full history, read in pages that adapt to what the path lets through.

    ``available`` is None until known, False once the server said it has no such operation.
    """

    def __init__(self, client: OperationsClient) -> None:
        self.client = client
        self.available: bool | None = None
        self.page = EVENTS_PAGE

    async def fetch(self, deployment_id: str, after: int, upto: int, *,
                    retry: Callable[[DeploytuiError], Awaitable[None]],
                    progress: Callable[[], None]) -> list[dict[str, Any]] | None:
        """The stored events with seq in ``(after, upto]``, in order; None when they cannot all be
        read (no such operation, a permanent refusal, or fewer stored). A retryable failure is
        retried after ``await retry(error)``, which raises to give up."""
        found: list[dict[str, Any]] = []
        cursor = after
        while cursor < upto:
            try:
                # Sent once (call, not the retried read): a failed page is retried smaller, here.
                page = await self.client.call("get_deployment_events", deployment_id=deployment_id,
                                              after_seq=cursor, limit=min(self.page, upto - cursor))
            except NotSupported:
                self.available = False
                return None
            except DeploytuiError as exc:
                if not retryable(exc):
                    return None
                self.page = max(MIN_EVENTS_PAGE, self.page // 2)
                await retry(exc)
                continue
            rows = [r for r in page.get("events") or []
                    if isinstance(r, dict) and isinstance(r.get("seq"), int) and cursor < r["seq"] <= upto]
            if not rows:
                break
            found += rows
            cursor = rows[-1]["seq"]
            progress()
        return found if len(found) == upto - after else None


async def poll_terminal_row(client: OperationsClient, deployment_id: str, wait_s: float) -> dict[str, Any] | None:
    """``get_deployment`` until it reports a terminal status or ``wait_s`` pass; the last row read."""
    deadline = time.monotonic() + wait_s
    delay = 0.02
    row: dict[str, Any] | None = None
    while True:
        try:
            row = await client.get_deployment(deployment_id)
        except DeploytuiError as exc:
            if not retryable(exc) or time.monotonic() > deadline:
                return row
        else:
            if is_terminal(row.get("status")) or time.monotonic() > deadline:
                return row
        await asyncio.sleep(delay)
        delay = min(delay * 2, 0.5)


async def find_deployment_id(client: OperationsClient, project: str,
                             started_after_ms: int | None = None) -> str | None:
    """The id of ``project``'s newest deployment started at or after ``started_after_ms`` (epoch
    ms), for a Harper deploy stream that dropped before naming its deployment."""
    listing = await client.list_deployments(project=project, limit=5)
    for row in listing.get("deployments") or []:
        if started_after_ms is None or (row.get("started_at") or 0) >= started_after_ms:
            return row.get("deployment_id")
    return None
