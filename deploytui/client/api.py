"""The Operations API client: one async method per deployment operation of Harper's contract.

Every operation is a ``POST`` of ``{"operation": …, …}`` to the API root (contract §1). Methods
return the decoded JSON; every failure is a typed :mod:`~deploytui.client.errors` exception and
httpx exceptions never leak out. Event streams (``get_deployment`` and a streamed deploy) come back
as :func:`~deploytui.client.sse.open_event_stream` context managers::

    async with OperationsClient(ConnectionSettings("http://127.0.0.1:9925", user="admin", password="pw")) as api:
        async with api.stream_events({"operation": "get_deployment", "deployment_id": d}) as events:
            async for message in events: ...

Reads (``registration_info``, ``list_deployments``, ``get_deployment``, ``get_deployment_events``)
are retried under the client's :class:`~deploytui.client.retry.RetryPolicy` — the one the event
stream reconnects with — when the network fails or the server answers 5xx; a server never reached
at all is reported at once (a wrong URL should not wait minutes). Writes are never repeated.

What the server lacks is learnt once (Harper 5.1.14 has no payload operations, no revert and no
events API): :meth:`OperationsClient.supports` answers from what the server said so far, and
:meth:`OperationsClient.learn_operations` asks it without changing anything.
"""

from __future__ import annotations

import json
import os
import re
import uuid
from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import IO, Any, NamedTuple

import httpx

from deploytui.client.connection import ConnectionSettings, normalize_url
from deploytui.client.errors import (
    DeploytuiError,
    NotSupported,
    ProtocolError,
    error_from_response,
)
from deploytui.client.retry import Backoff, RetryPolicy, attempts_are_single, retryable, single_attempts
from deploytui.client.sse import STREAM_TIMEOUT, EventStream, connection_failed, open_event_stream
from deploytui.protocol.deployment import TWO_PHASE

__all__ = [
    "ConnectionSettings",
    "OperationsClient",
    "Payload",
    "DEPLOY_TIMEOUT",
    "normalize_url",
    "OPTIONAL_OPERATIONS",
    "single_attempts",
]

# Operations a Harper-compatible server may lack (Harper 5.1.14 answers each "Operation … not found").
OPTIONAL_OPERATIONS = ("get_deployment_events", "get_deployment_payload", "delete_deployment_payload",
                       "revert_component", "cancel_deployment", "redeploy_deployment")
RetryCallback = Callable[[str, int, float, DeploytuiError], None]
# A non-streamed deploy answers only when it is over: install (5 min by default) plus replication.
DEPLOY_TIMEOUT = httpx.Timeout(connect=10.0, read=900.0, write=300.0, pool=10.0)
_UPLOAD_CHUNK = 64 * 1024
_FIELD_NAME = re.compile(r"^[A-Za-z0-9_.\-]+$")

ProgressCallback = Callable[[int, "int | None"], None]
PayloadSource = bytes | bytearray | memoryview | IO[bytes] | Iterable[bytes] | AsyncIterable[bytes]


def http_options(settings: ConnectionSettings) -> dict[str, Any]:
    """An httpx client's authentication, TLS and timeout for ``settings`` (async or not)."""
    headers = {"Authorization": f"Bearer {settings.token}"} if settings.token else None
    auth = httpx.BasicAuth(settings.user, settings.password or "") if settings.user and not settings.token else None
    # Plain HTTP (the local server) never does TLS: no CA bundle to load (30-60 ms before a
    # dashboard's first request). Redirects are not followed, so none can lead
    # to an https URL verified without it.
    verify = settings.verify_tls and not normalize_url(settings.url).startswith("http://")
    return {"auth": auth, "headers": headers, "verify": verify, "timeout": settings.timeout}


class Payload(NamedTuple):
    """A downloaded deployment tarball: its bytes and the server's file name."""

    data: bytes
    filename: str | None


class OperationsClient:
    """An async client of one server's Operations API; owns one :class:`httpx.AsyncClient`.

    Use ``async with OperationsClient(settings) as api`` or call :meth:`aclose`. ``retry`` is the
    policy of reads and of attach()'s reconnects; ``on_retry(operation, attempt, delay_s, error)``
    is told before each retried read waits (a command shows it on stderr).
    """

    def __init__(self, settings: ConnectionSettings, *, retry: RetryPolicy | None = None) -> None:
        self.settings = settings
        self.url = normalize_url(settings.url)
        self._http = httpx.AsyncClient(**http_options(settings))
        self._version: str | None = None
        self.retry = retry or RetryPolicy()
        self.on_retry: RetryCallback | None = None
        self.operations: dict[str, bool] = {}  # what the server is known to offer (True) or lack
        self._reached = False  # has the server ever answered? (before that, a refused connect is final)

    async def __aenter__(self) -> OperationsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    # -- transport ------------------------------------------------------------------------

    async def _send(
        self, operation: str, *, json_body: Any = None, content: Any = None,
        headers: dict[str, str] | None = None, timeout: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        try:
            response = await self._http.post(self.url, json=json_body, content=content, headers=headers, timeout=timeout)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise connection_failed(exc, self.url) from exc
        except httpx.TransportError as exc:
            # Connected, then cut off or timed out mid-answer: say so, not "could not connect".
            raise connection_failed(exc, self.url, doing=f"get the answer to {operation} from") from exc
        except httpx.HTTPError as exc:
            raise ProtocolError(f"could not send {operation} to {self.url}: {exc}") from exc
        self._reached = True
        if not 200 <= response.status_code < 300:
            error = error_from_response(
                response.status_code, response.content, response.headers.get("content-type"),
                user=self.settings.identity, operation=operation,
            )
            self.operations[operation] = not isinstance(error, NotSupported)
            raise error
        self.operations[operation] = True
        return response

    @staticmethod
    def _json(response: httpx.Response, operation: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise ProtocolError(f"{operation}: the server's answer is not JSON", status_code=response.status_code) from exc

    async def call(self, operation: str, **fields: Any) -> Any:
        """Run any operation with JSON ``fields`` (``None`` values are left out); return its JSON.
        Sent once: a write must never be repeated blindly (reads use :meth:`read`)."""
        body = {"operation": operation, **{k: v for k, v in fields.items() if v is not None}}
        return self._json(await self._send(operation, json_body=body), operation)

    async def read(self, operation: str, **fields: Any) -> Any:
        """:meth:`call` for an operation that changes nothing, retried under :attr:`retry` while
        the failure is retryable (network, 5xx); gives up by the policy and raises the last error.
        A server never reached is not waited for: the first refused connection is final."""
        backoff = Backoff(self.retry)
        while True:
            try:
                return await self.call(operation, **fields)
            except DeploytuiError as exc:
                never_reached = not self._reached and isinstance(exc.__cause__, (httpx.ConnectError, httpx.ConnectTimeout))
                once = never_reached or attempts_are_single()
                if once or not retryable(exc):
                    raise
                if not await backoff.wait(self._retry_reporter(operation, exc)):
                    raise

    def _retry_reporter(self, operation: str, error: DeploytuiError) -> Callable[[int, float], None] | None:
        """:attr:`on_retry` for one failed read, as :meth:`Backoff.wait` reports: (attempt, delay)."""
        on_retry = self.on_retry
        if on_retry is None:
            return None
        return lambda attempt, delay: on_retry(operation, attempt, delay, error)

    def supports(self, operation: str) -> bool | None:
        """True/False once the server is known to offer ``operation`` or to lack it; None before."""
        return self.operations.get(operation)

    async def learn_operations(self) -> dict[str, bool]:
        """Find out once which :data:`OPTIONAL_OPERATIONS` the server offers; ``{operation: bool}``.

        Our server says who it is in ``registration_info`` and has them all. Any other is asked each
        operation with no arguments: a server without it answers "Operation … not found" before
        reading any field, one with it refuses the missing field — nothing is read or changed."""
        unknown = [op for op in OPTIONAL_OPERATIONS if op not in self.operations]
        if unknown or TWO_PHASE not in self.operations:
            info = await self.registration_info()
            self.operations[TWO_PHASE] = isinstance(info, dict) and info.get("two_phase") is True
            ours = isinstance(info, dict) and info.get("product") == "deploytui"
            for operation in unknown:
                if ours:
                    self.operations[operation] = True
                    continue
                try:
                    await self.call(operation)
                except NotSupported:
                    pass  # recorded by _send
                except DeploytuiError as exc:
                    if retryable(exc):
                        raise
                    self.operations[operation] = True
        return {op: self.operations[op] for op in (*OPTIONAL_OPERATIONS, TWO_PHASE)}

    # -- server ---------------------------------------------------------------------------

    async def health(self) -> bool:
        """``GET /health``: True when the server answers 200. Raises ConnectionFailed if unreachable."""
        url = httpx.URL(self.url).join("health")
        try:
            response = await self._http.get(url, auth=None)
        except httpx.TransportError as exc:
            raise connection_failed(exc, url) from exc
        except httpx.HTTPError as exc:
            raise ProtocolError(f"could not check {url}: {exc}") from exc
        return response.status_code == 200

    async def registration_info(self) -> dict[str, Any]:
        """``registration_info``: includes the server's ``version``."""
        return await self.read("registration_info")

    async def server_version(self) -> str:
        """The server's Harper version string (from ``registration_info``; cached)."""
        if self._version is None:
            info = await self.registration_info()
            version = info.get("version") if isinstance(info, dict) else None
            if not isinstance(version, str) or not version:
                raise ProtocolError("the server did not report its version in registration_info", details=info)
            self._version = version
        return self._version

    # -- deployments ----------------------------------------------------------------------

    async def list_deployments(
        self, project: str | None = None, status: str | None = None, since: int | None = None,
        until: int | None = None, limit: int | None = None, offset: int | None = None,
        search: str | None = None, summary: bool | None = None, changed_since: int | None = None,
    ) -> dict[str, Any]:
        """``{"deployments": [row…], "total": n}``, newest first (contract §2.2).

        ``search`` (rows whose project, id, status, phase, user, origin or package contain it) and
        ``summary`` (rows without ``event_log``) are our server's additions, as is ``changed_since``
        (only rows that may have changed since an earlier answer's ``cursor``; ``total`` still
        counts all): Harper ignores them and sends no ``cursor``, so a caller filters again itself,
        must not rely on the log being absent, and polls everything while no cursor comes back."""
        return await self.read(
            "list_deployments", project=project, status=status, since=since, until=until, limit=limit, offset=offset,
            search=search or None, summary=summary, changed_since=changed_since,
        )

    async def get_deployment(self, deployment_id: str) -> dict[str, Any]:
        """The deployment row (``NotFoundError`` for an unknown id, which Harper answers with 400)."""
        return await self.read("get_deployment", deployment_id=deployment_id)

    async def get_deployment_events(
        self, deployment_id: str, after_seq: int | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        """Our server's full event history, a page at a time:
        ``{deployment_id, events: [{seq, t, event, data}], next_after_seq, has_more}``.
        Harper has no such operation: it raises :class:`~deploytui.client.errors.NotSupported`."""
        return await self.read("get_deployment_events", deployment_id=deployment_id, after_seq=after_seq, limit=limit)

    async def get_deployment_payload(self, deployment_id: str) -> Payload:
        """The stored tarball, byte for byte, and its file name (``deployment-<id>.tar.gz``)."""
        operation = "get_deployment_payload"
        response = await self._send(operation, json_body={"operation": operation, "deployment_id": deployment_id})
        disposition = response.headers.get("content-disposition", "")
        match = re.search(r'filename="?([^";]+)"?', disposition)
        return Payload(response.content, match.group(1) if match else None)

    async def delete_deployment_payload(self, deployment_id: str) -> dict[str, Any]:
        """``{message, deployment_id, freed_bytes}``; idempotent; 409 while the deploy still runs."""
        return await self.call("delete_deployment_payload", deployment_id=deployment_id)

    async def revert_component(self, project: str, restart: bool = False, **fields: Any) -> dict[str, Any]:
        """Swap ``project`` back to its retained previous version (a new ``rolled_back`` row)."""
        return await self.call("revert_component", project=project, restart=restart, **fields)

    async def cancel_deployment(self, deployment_id: str) -> dict[str, Any]:
        """Our server's addition: stop a running deploy (it ends ``failed`` "cancelled by <user>");
        409 once it has ended. Harper lacks it (:class:`~deploytui.client.errors.NotSupported`)."""
        return await self.call("cancel_deployment", deployment_id=deployment_id)

    async def redeploy_deployment(self, deployment_id: str) -> dict[str, Any]:
        """Our server's addition: deploy an earlier deployment's stored payload again (a new
        deployment of its project); ``{message, deployment_id, redeploy_of}``."""
        return await self.call("redeploy_deployment", deployment_id=deployment_id)

    async def activate_deployment(self, deployment_id: str, *, restart: bool = False) -> dict[str, Any]:
        """Activate a staged deployment (``deploy_component {deployment_id}``, two-phase servers only);
        ``{message: "Activated component: …", activated, deployment_id, …}``."""
        body: dict[str, Any] = {"operation": "deploy_component", "deployment_id": deployment_id}
        if restart:
            body["restart"] = True
        response = await self._send("deploy_component", json_body=body, timeout=DEPLOY_TIMEOUT)
        return self._json(response, "deploy_component")

    async def deploy_component_multipart(
        self, fields: dict[str, Any], payload: PayloadSource, *,
        on_progress: ProgressCallback | None = None, stream: bool = False,
    ) -> Any:
        """``deploy_component`` as ``multipart/form-data``: one text part per field (non-strings
        JSON-encoded), then the tarball as the file part ``payload`` — last, as Harper requires.

        The payload (bytes, a binary file, or a sync/async iterator of bytes) is streamed;
        ``on_progress(bytes_sent, total)`` follows the upload (``total`` is None when unknown).
        With ``stream=False`` returns the JSON result. With ``stream=True`` returns an
        event-stream context manager instead: ``async with await api.deploy_component_multipart(
        …, stream=True) as events`` (or use :meth:`deploy_stream`).
        """
        if stream:
            return self.deploy_stream(fields, payload, on_progress=on_progress)
        await self._before_upload()
        content, content_type = _multipart(fields, payload, on_progress)
        response = await self._send(
            "deploy_component", content=content, headers={"Content-Type": content_type}, timeout=DEPLOY_TIMEOUT
        )
        return self._json(response, "deploy_component")

    @asynccontextmanager
    async def deploy_stream(
        self, fields: dict[str, Any], payload: PayloadSource, *, on_progress: ProgressCallback | None = None
    ) -> AsyncIterator[EventStream]:
        """A multipart deploy with ``Accept: text/event-stream``: its progress events, live."""
        await self._before_upload()
        content, content_type = _multipart(fields, payload, on_progress)
        async with open_event_stream(
            self._http, self.url, json=None, content=content, headers={"Content-Type": content_type},
            timeout=STREAM_TIMEOUT, user=self.settings.identity, operation="deploy_component",
        ) as stream:
            yield stream

    async def _before_upload(self) -> None:
        """A server that refuses the credentials answers before reading an upload and closes the
        connection, so its refusal would be lost mid-send: ask first, with a small read (cached)."""
        await self.server_version()

    def stream_events(
        self, json_body: dict[str, Any], last_event_id: str | None = None
    ) -> AbstractAsyncContextManager[EventStream]:
        """Open an operation's event stream, e.g. ``{"operation": "get_deployment", "deployment_id": …}``
        (replay then live). ``last_event_id`` resumes where a previous stream stopped."""
        return open_event_stream(
            self._http, self.url, json=json_body, last_event_id=last_event_id, timeout=STREAM_TIMEOUT,
            user=self.settings.identity, operation=str(json_body.get("operation") or "") or None,
        )


def _multipart(
    fields: dict[str, Any], payload: PayloadSource, on_progress: ProgressCallback | None
) -> tuple[AsyncIterator[bytes], str]:
    """The streamed multipart body and its content type; validates field names up front."""
    fields = {"operation": "deploy_component", **fields}
    for name in fields:
        if name == "payload" or not _FIELD_NAME.match(name):
            raise DeploytuiError(f"invalid multipart field name {name!r}")
    boundary = f"deploytui-{uuid.uuid4().hex}"
    return _multipart_body(boundary, fields, payload, on_progress), f"multipart/form-data; boundary={boundary}"


def _payload_size(payload: PayloadSource) -> int | None:
    if isinstance(payload, (bytes, bytearray, memoryview)):
        return len(payload)
    try:
        if payload.seekable():  # type: ignore[union-attr]
            position = payload.tell()  # type: ignore[union-attr]
            end = payload.seek(0, os.SEEK_END)  # type: ignore[union-attr]
            payload.seek(position)  # type: ignore[union-attr]
            return end - position
    except (AttributeError, OSError, ValueError):
        pass
    return None


async def _payload_chunks(payload: PayloadSource) -> AsyncIterator[bytes]:
    if isinstance(payload, (bytes, bytearray, memoryview)):
        data = memoryview(payload)
        for start in range(0, len(data), _UPLOAD_CHUNK):
            yield bytes(data[start : start + _UPLOAD_CHUNK])
    elif hasattr(payload, "read"):
        while chunk := payload.read(_UPLOAD_CHUNK):  # type: ignore[union-attr]
            yield chunk
    elif isinstance(payload, AsyncIterable):
        async for chunk in payload:
            yield bytes(chunk)
    else:
        for chunk in payload:
            yield bytes(chunk)


async def _multipart_body(
    boundary: str, fields: dict[str, Any], payload: PayloadSource, on_progress: ProgressCallback | None
) -> AsyncIterator[bytes]:
    dash = f"--{boundary}\r\n".encode()
    for name, value in fields.items():
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        yield dash + f'Content-Disposition: form-data; name="{name}"\r\n\r\n'.encode() + text.encode() + b"\r\n"
    yield dash + (
        b'Content-Disposition: form-data; name="payload"; filename="package.tar.gz"\r\n'
        b"Content-Type: application/gzip\r\n\r\n"
    )
    total = _payload_size(payload)
    sent = 0
    if on_progress:
        on_progress(0, total)
    async for chunk in _payload_chunks(payload):
        if not chunk:
            continue
        yield chunk
        sent += len(chunk)
        if on_progress:
            on_progress(sent, total)
    yield f"\r\n--{boundary}--\r\n".encode()
