"""A scripted HTTP/1.1 server on loopback for SSE client tests.

Real sockets, because ``httpx.ASGITransport`` buffers whole responses (httpx-sse issue #4). Each
request gets the next :class:`Reply` of the script (the last one repeats): a status, headers and a
list of byte chunks, each written and drained separately as one HTTP chunk. A reply can end
normally, ``abort`` (close without the terminating chunk: a dropped connection), or ``hold`` the
connection open after its chunks until the server stops (a silent stream). Every request is
recorded (method, path, lower-cased headers, body) so tests can check ``Last-Event-ID``.

    async with ScriptedServer([Reply(chunks=[b"data: x\\n\\n"])]) as server:
        ... server.url ..., server.requests[0].headers
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

REASONS = {200: "OK", 204: "No Content", 205: "Reset Content", 401: "Unauthorized", 404: "Not Found", 503: "Service Unavailable"}


@dataclass
class Reply:
    """What the server answers to one request."""

    status: int = 200
    headers: dict[str, str] = field(default_factory=lambda: {"Content-Type": "text/event-stream"})
    chunks: list[bytes] = field(default_factory=list)
    abort: bool = False  # close the socket mid-body instead of ending the chunked body
    hold: bool = False  # after the chunks, keep the connection open until the server stops


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


class ScriptedServer:
    """Serve ``replies`` in order on 127.0.0.1 (port chosen by the OS); see the module docstring."""

    def __init__(self, replies: list[Reply]) -> None:
        assert replies, "a script needs at least one reply"
        self.replies = replies
        self.requests: list[RecordedRequest] = []
        self.request_seen = asyncio.Event()
        self._server: asyncio.Server | None = None
        self._stopping = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    async def __aenter__(self) -> ScriptedServer:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._stopping.set()
        assert self._server is not None
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._server.wait_closed()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while not self._stopping.is_set():
                request = await read_request(reader)
                if request is None:
                    return
                reply = self.replies[min(len(self.requests), len(self.replies) - 1)]
                self.requests.append(request)
                self.request_seen.set()
                if not await self._answer(writer, reply):
                    return
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self._writers.discard(writer)
            self._tasks.discard(task)
            writer.close()

    async def _answer(self, writer: asyncio.StreamWriter, reply: Reply) -> bool:
        """Write one reply; False when the connection must be closed afterwards."""
        lines = [f"HTTP/1.1 {reply.status} {REASONS.get(reply.status, 'Status')}"]
        lines += [f"{k}: {v}" for k, v in reply.headers.items()]
        chunked = reply.status not in (204, 304) and bool(reply.chunks)
        if chunked:
            lines.append("Transfer-Encoding: chunked")
        elif reply.status not in (204, 304):
            lines.append("Content-Length: 0")
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        for chunk in reply.chunks:
            if chunk:
                writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                await writer.drain()
        if reply.abort:
            writer.transport.abort()
            return False
        if reply.hold:
            await self._stopping.wait()
            return False
        if chunked:
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        return True


async def read_request(reader: asyncio.StreamReader) -> RecordedRequest | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    # Header values are decoded as UTF-8: that is how a non-ASCII Last-Event-ID travels (contract §4.6).
    request_line, *header_lines = head.decode("utf-8", errors="replace").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = bytearray()
        while size := int((await reader.readuntil(b"\r\n")).split(b";")[0], 16):
            body += await reader.readexactly(size)
            await reader.readexactly(2)
        while await reader.readuntil(b"\r\n") != b"\r\n":  # trailers
            pass
    else:
        body = bytearray(await reader.readexactly(int(headers.get("content-length", "0"))))
    return RecordedRequest(method, path, headers, bytes(body))

