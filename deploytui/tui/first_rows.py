"""The list's first rows, asked for while the dashboard is still starting.

Starting the dashboard is mostly importing Textual and building the screen (a few hundred ms); the
list would ask for its rows only once its screen is mounted, and paint a round trip later. Asked on
a thread at launch instead, the round trip overlaps the start-up and the list paints its rows in its
first frames. The request is made with the standard library (:mod:`deploytui.client.plain_http`):
httpx (the client of every later request) is imported only after the first frame. Any failure is
simply no answer: the list's own poll then asks, and reports the error as it always does. Imports
neither Textual nor httpx.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from concurrent.futures import Future, InvalidStateError
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deploytui.client.connection import ConnectionSettings

HEAD_LIMIT = 100
"""The newest rows polled live: a tall screen's worth and a window (older ones are paged in as
the cursor nears the end). 100, not 200: adding the 200 newest rows was ~25 ms of the list's
mount before its first frame, and a poll of Harper, which sends whole rows, carries half as much."""


def head_query() -> dict[str, Any]:
    """The fields of the list's poll for the newest rows, before any filter or cursor."""
    return {"limit": HEAD_LIMIT, "summary": True}


class FirstRows:
    """One ``list_deployments`` of the newest rows, asked on a thread as soon as it is created."""

    def __init__(self, settings: ConnectionSettings) -> None:
        self.settings = settings
        """The server asked (a dashboard switched to another one must not show these rows)."""
        self._answer: Future[dict[str, Any] | None] | None = Future()
        threading.Thread(target=self._ask, args=(settings, self._answer), name="deploytui-first-rows",
                         daemon=True).start()

    @staticmethod
    def _ask(settings: ConnectionSettings, answer: Future[dict[str, Any] | None]) -> None:
        try:
            # Imported here, on this thread: http.client is ~10 ms the start-up need not wait for.
            from deploytui.client.plain_http import post_operation

            rows = post_operation(settings, "list_deployments", **head_query())
        except Exception:  # the poll asks again and says what is wrong
            rows = None
        with contextlib.suppress(InvalidStateError):  # given up on (cancelled) meanwhile
            answer.set_result(rows if isinstance(rows, dict) else None)

    def take_ready(self) -> dict[str, Any] | None:
        """The answer if it is already here (then it is taken, as by :meth:`take`), else None."""
        answer = self._answer
        if answer is None or not answer.done():
            return None
        self._answer = None
        return answer.result()

    async def take(self, timeout: float) -> dict[str, Any] | None:
        """The answer if it came (or comes within ``timeout`` seconds); None after the first call."""
        answer, self._answer = self._answer, None
        if answer is None:
            return None
        try:
            return await asyncio.wait_for(asyncio.wrap_future(answer), timeout)
        except asyncio.TimeoutError:
            return None
