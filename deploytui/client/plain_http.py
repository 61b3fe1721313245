"""Requests made with the standard library's ``http.client``, for what must not import httpx.

httpx costs about a tenth of a second to import (its CLI module pulls in rich and pygments when
they are installed). The dashboard's way to its first frame makes two requests before that is
worth paying: the local server's ``/health`` probe and the list's first rows. Everything else uses
:mod:`deploytui.client.api`.
"""

from __future__ import annotations

import base64
import http.client
import json
from typing import Any
from urllib.parse import SplitResult, urlsplit

from deploytui.client.connection import ConnectionSettings, normalize_url

HttpError = (OSError, http.client.HTTPException)
"""What a request here raises when the network or the peer fails (besides ``ValueError``)."""


def _connect(url: SplitResult, timeout: float, *, verify_tls: bool = True) -> http.client.HTTPConnection:
    if url.scheme != "https":
        return http.client.HTTPConnection(url.hostname or "", url.port, timeout=timeout)
    import ssl

    if verify_tls:
        import certifi  # the CA bundle httpx verifies with

        context = ssl.create_default_context(cafile=certifi.where())
    else:
        context = ssl._create_unverified_context()
    return http.client.HTTPSConnection(url.hostname or "", url.port, timeout=timeout, context=context)


def _exchange(connection: http.client.HTTPConnection, method: str, path: str, **request: Any
              ) -> tuple[http.client.HTTPResponse, bytes]:
    try:
        connection.request(method, path, **request)
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def get(url: str, path: str, timeout: float) -> http.client.HTTPResponse:
    """``GET path`` under ``url`` (no proxy, no authentication); the response, body read."""
    parts = urlsplit(url)
    response, _ = _exchange(_connect(parts, timeout), "GET", parts.path.rstrip("/") + path)
    return response


def post_operation(settings: ConnectionSettings, operation: str, **fields: Any) -> Any:
    """One operation, synchronously; its decoded JSON answer.

    Authenticates and verifies TLS as the httpx client does (Bearer token over Basic; certifi's
    CA bundle unless ``verify_tls`` is off). Raises one of :data:`HttpError`, or ``ValueError`` for
    an answer that is not 2xx JSON.
    """
    url = urlsplit(normalize_url(settings.url))
    headers = {"Content-Type": "application/json", "Accept": "application/json"}
    if settings.token:
        headers["Authorization"] = f"Bearer {settings.token}"
    elif settings.user:
        secret = f"{settings.user}:{settings.password or ''}".encode()
        headers["Authorization"] = "Basic " + base64.b64encode(secret).decode("ascii")
    body = json.dumps({"operation": operation, **{k: v for k, v in fields.items() if v is not None}})
    response, content = _exchange(_connect(url, settings.timeout, verify_tls=settings.verify_tls), "POST",
                                  url.path or "/", body=body.encode(), headers=headers)
    if not 200 <= response.status < 300:
        raise ValueError(f"{operation}: HTTP {response.status}")
    return json.loads(content)
