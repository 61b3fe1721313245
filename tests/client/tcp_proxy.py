"""A loopback TCP proxy for resilience tests: a fixed port in front of a server that may change,
which can cut connections (every N bytes, every N seconds, or on demand) or freeze them.

It runs on the test's own event loop. The client talks to :attr:`TcpProxy.url`; the proxy forwards
to :attr:`upstream`, which a test repoints after restarting a server on another port.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Self
from urllib.parse import urlsplit

_CHUNK = 16 * 1024


@dataclass(eq=False)
class _Link:
    """One proxied client connection and its upstream."""

    client: asyncio.StreamWriter
    server: asyncio.StreamWriter | None = None
    number: int = 0  # 1 for the proxy's first connection
    forwarded: int = 0  # server -> client bytes
    frozen: asyncio.Event = field(default_factory=asyncio.Event)  # set = frozen
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    def abort(self) -> None:
        for writer in (self.client, self.server):
            if writer is not None:
                writer.transport.abort()


class TcpProxy:
    """``async with TcpProxy(upstream_url) as proxy``; ``proxy.url`` is where clients connect.

    ``cut_after_bytes``: abort a connection once it has forwarded that many server bytes (only the
    first ``cut_connections`` connections, when given). ``cut_after_s``: abort a connection that
    long after it opened. ``freeze()`` stops forwarding on
    the connections open now (kept open, silent); new connections are not affected.
    """

    def __init__(self, upstream: str, *, cut_after_bytes: int | None = None,
                 cut_after_s: float | None = None, cut_connections: int | None = None) -> None:
        self.upstream = upstream
        self.cut_after_bytes = cut_after_bytes
        self.cut_connections = cut_connections
        self.cut_after_s = cut_after_s
        self.connections = 0
        self.cuts = 0
        self._cut_happened = asyncio.Event()  # set (and cleared) on each cut, for wait_for_cuts
        self._links: set[_Link] = set()
        self._handlers: set[asyncio.Task[None]] = set()
        self._server: asyncio.base_events.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __aenter__(self) -> Self:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        self.cut_all()
        for link in list(self._links):
            for task in link.tasks:
                task.cancel()
        if self._handlers:
            await asyncio.gather(*self._handlers, return_exceptions=True)
        with contextlib.suppress(Exception):
            await self._server.wait_closed()

    def cut_all(self) -> None:
        """Abort every open connection now."""
        for link in list(self._links):
            self._cut(link)

    def freeze(self) -> None:
        """Stop forwarding on every open connection, leaving them open."""
        for link in self._links:
            link.frozen.set()

    def stop_cutting(self) -> None:
        self.cut_after_bytes = self.cut_after_s = None

    async def wait_for_cuts(self, count: int) -> None:
        """Return once the proxy has cut ``count`` connections in all (a test's sync point)."""
        while self.cuts < count:
            self._cut_happened.clear()
            await self._cut_happened.wait()

    def _cut(self, link: _Link) -> None:
        if link in self._links:
            self._links.discard(link)
            self.cuts += 1
            self._cut_happened.set()
        link.abort()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._handlers.add(task)
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:
            writer.transport.abort()
        finally:
            self._handlers.discard(task)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        link = _Link(writer, number=self.connections)
        self._links.add(link)
        target = urlsplit(self.upstream)
        try:
            up_reader, up_writer = await asyncio.open_connection(target.hostname, target.port)
        except OSError:
            self._links.discard(link)
            writer.transport.abort()  # the server is down: the client sees a dropped connection
            return
        link.server = up_writer
        link.tasks = [asyncio.create_task(self._pipe(link, reader, up_writer, count=False)),
                      asyncio.create_task(self._pipe(link, up_reader, writer, count=True))]
        if self.cut_after_s is not None:
            link.tasks.append(asyncio.create_task(self._cut_later(link, self.cut_after_s)))
        await asyncio.gather(*link.tasks, return_exceptions=True)
        self._links.discard(link)
        for end in (writer, up_writer):
            end.close()  # graceful (flushes) unless a cut already aborted it

    async def _cut_later(self, link: _Link, delay: float) -> None:
        await asyncio.sleep(delay)
        self._cut(link)

    async def _pipe(self, link: _Link, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                    *, count: bool) -> None:
        try:
            while data := await reader.read(_CHUNK):
                if link.frozen.is_set():
                    await asyncio.Event().wait()  # frozen: hold the connection open, forward nothing
                spared = self.cut_connections is not None and link.number > self.cut_connections
                if count and self.cut_after_bytes is not None and not spared:
                    room = self.cut_after_bytes - link.forwarded
                    if room <= len(data):
                        writer.write(data[:room])
                        link.forwarded += room
                        self._cut(link)
                        return
                writer.write(data)
                await writer.drain()
                if count:
                    link.forwarded += len(data)
            writer.close()  # EOF from this side: pass it on once flushed
        except (ConnectionError, OSError):
            pass
        finally:
            if link in self._links:
                for other in link.tasks:
                    if other is not asyncio.current_task():
                        other.cancel()
