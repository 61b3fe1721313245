"""The list's first rows, asked for while the dashboard is still starting.

Starting the dashboard is mostly importing Textual and building the screen (a few hundred ms); the
list would ask for its rows only once its screen is mounted, and paint a round trip later. Asked on
a thread at launch instead, the round trip overlaps the start-up and the list paints its rows in its
first frames. The request is made with the standard library's ``http.client``: httpx (the client of
every later request) is imported only after the first frame, not in front of it. Any failure is
simply no answer: the list's own poll then asks, and reports the error as it always does. Imports
neither Textual nor httpx.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import http.client
import json
import threading
from concurrent.futures import Future, InvalidStateError
from typing import Any
from urllib.parse import urlsplit

from deploytui.client.connection import ConnectionSettings, normalize_url

HEAD_LIMIT = 200
"""The newest rows polled live: a tall screen's worth and a window (older ones are paged in)."""


def head_query() -> dict[str, Any]:
    """The fields of the list's poll for the newest rows, before any filter or cursor."""
    return {"limit": HEAD_LIMIT, "summary": True}


def post_operation(settings: ConnectionSettings, operation: str, **fields: Any) -> Any:
    """One operation, synchronously, with the standard library; its decoded JSON answer.

    Authenticates and verifies TLS as the httpx client does (Bearer token over Basic; certifi's
    CA bundle unless ``verify_tls`` is off). Raises ``OSError``/``http.client`` errors, or
    ``ValueError`` for an answer that is not 2xx JSON.
    """
    url = urlsplit(normalize_url(settings.url))
    if url.scheme == "https":
        import ssl

        if settings.verify_tls:
            import certifi

            context = ssl.create_default_context(cafile=certifi.where())
        else:
            context = ssl._create_unverified_context()
        connection: http.client.HTTPConnection = http.client.HTTPSConnection(
            url.hostname or "", url.port, timeout=settings.timeout, context=context)
    else:
        connection = http.client.HTTPConnection(url.hostname or "", url.port, timeout=settings.timeout)
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    elif settings.user:
        secret = f"{settings.user}:{settings.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(secret).decode("ascii")
    body = json.dumps({"operation": operation, **{k: v for k, v in fields.items() if v is not None}})
    try:
        connection.request("POST", url.path or "/", body=body.encode(), headers=headers)
        response = connection.getresponse()
        content = response.read()
    finally:
        connection.close()
    if not 200 <= response.status < 300:
        raise ValueError(f"{operation}: HTTP {response.status}")
    return json.loads(content)


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
