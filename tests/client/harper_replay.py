"""A loopback HTTP server that answers like the real Harper 5.1.14 node the captures came from.

Each operation is answered with a capture of ``tests/data/harper-5.1.14-wire`` — its status, its
headers and its body bytes, chunk by chunk with the capture's timing (scaled down: ``time_scale``
multiplies every wait and ``max_gap_s`` caps one, so the 150 s silence of ``deploy-pquiet-sse``
stays a silence without costing 150 s). The client under test talks real HTTP to it, so its whole
code path runs: httpx, the SSE decoder, attach, the renderers, the dashboard.

It runs its own event loop in a thread, so a CLI subprocess and an async test can both use it::

    with HarperReplay({("get_deployment", True): ["get-plive-live-sse"]}) as harper:
        run_cli(harper, "watch", PLIVE_ID) ...

Routes are ``(operation, sse)`` or ``(operation, sse, deployment_id)`` keys mapped to a list of
captures (names or :class:`Capture` objects) served in turn, the last one repeating. What no route
answers gets what Harper 5.1.14 says: registration_info its version, the four operations it lacks
``400 Operation '…' not found``, and ``get_deployment`` of an unknown id ``400 No deployment found``
(JSON) or ``get-missing-sse`` (SSE). The JSON ``get_deployment`` of the captured deployments is
routed by default to their captured rows.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.client.sse_server import read_request as read_http_request

WIRE = Path(__file__).resolve().parent.parent / "data" / "harper-5.1.14-wire"

# The captured deployments (ids as Harper assigned them).
P1_ID = "caa87319-ce38-4bfa-8a03-7b35f13187ca"
PFAIL_ID = "17bd2f97-eaea-4480-9066-c87f290cbcfb"
PSCRIPT_ID = "99cf340a-40ed-4ce8-b594-c1a2c21f968c"
PLIVE_ID = "1cf99a06-4919-4f07-b428-3c88b828fc1e"
PCHATTY_ID = "f5fe3fc7-4ec1-4629-b2a9-38c2b262af38"
MISSING_ID = "00000000-0000-0000-0000-000000000000"

_TOOL_STATUS = re.compile(rb" ?http=(\d{3})\s*$")  # the capturing tool's line after a body
_FRAMING = {"transfer-encoding", "content-length", "connection", "keep-alive", "date"}


@dataclass
class Capture:
    """One captured answer: status, headers (framing left out), and ``(at_s, bytes)`` chunks."""

    status: int
    headers: list[tuple[str, str]]
    chunks: list[tuple[float, bytes]]

    @property
    def body(self) -> bytes:
        return b"".join(chunk for _, chunk in self.chunks)


def _json_answer(status: int, body: bytes) -> Capture:
    return Capture(status, [("content-type", "application/json")], [(0.0, body)])


def load_capture(name: str) -> Capture:
    """A capture by its base name (``get-plive-live-sse``, ``list``, ``revert_component`` …)."""
    out = WIRE / f"{name}.out"
    if out.exists():  # a JSON body then the tool's ``http=NNN`` line
        raw = out.read_bytes()
        match = _TOOL_STATUS.search(raw)
        assert match, f"{out} names no status"
        return _json_answer(int(match.group(1)), raw[: match.start()])
    body_file = WIRE / f"{name}.raw" if (WIRE / f"{name}.raw").exists() else WIRE / f"{name}.json"
    raw = body_file.read_bytes()
    header_file = WIRE / f"{name}.headers"
    if not header_file.exists():  # a JSON row captured without its headers (same as get-p1.headers)
        header_file = WIRE / "get-p1.headers"
    status_line, *lines = [line for line in header_file.read_text().splitlines() if line.strip()]
    status = int(status_line.split()[1])
    headers = [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines)
               if k.strip().lower() not in _FRAMING]
    timeline = WIRE / f"{name}.timeline"
    if not timeline.exists():
        match = _TOOL_STATUS.search(raw)
        return Capture(status, headers, [(0.0, raw[: match.start()] if match else raw)])
    chunks: list[tuple[float, bytes]] = []
    offset = 0
    for line in timeline.read_text().splitlines():
        parts = line.split(None, 2)
        if len(parts) < 3:  # the EOF line
            continue
        size = int(parts[1])
        chunks.append((float(parts[0]), raw[offset:offset + size]))
        offset += size
    assert offset == len(raw), f"{timeline} does not cover {body_file}"
    return Capture(status, headers, chunks)


def replace_in(capture: Capture, old: bytes, new: bytes) -> Capture:
    """The capture with ``old`` replaced by ``new`` in every chunk (a test's variation of it)."""
    return Capture(capture.status, capture.headers, [(at, chunk.replace(old, new)) for at, chunk in capture.chunks])


def row_from_done(name: str) -> Capture:
    """The JSON ``get_deployment`` answer holding the row a captured stream's ``done`` carried
    (for a deployment whose JSON row was not captured on its own)."""
    body = load_capture(name).body.decode()
    data = body[body.rindex("event: done\ndata: ") + len("event: done\ndata: "):].strip()
    return _json_answer(200, json.dumps(json.loads(data)["result"], separators=(",", ":")).encode())


def json_capture(value: Any, status: int = 200) -> Capture:
    """A made-up JSON answer (e.g. a row in a state no capture holds)."""
    return _json_answer(status, json.dumps(value).encode())


def sse_capture(text: str, status: int = 200) -> Capture:
    """A made-up SSE answer with Harper's headers (for a test that needs a variation)."""
    return Capture(status, [("content-type", "text/event-stream"), ("cache-control", "no-cache")],
                   [(0.0, text.encode())])


DEFAULT_ROUTES: dict[tuple[Any, ...], list[str | Capture]] = {
    ("get_deployment", False, P1_ID): ["get-p1"],
    ("get_deployment", True, P1_ID): ["get-p1-sse"],
    ("get_deployment", False, PSCRIPT_ID): ["get-pscript"],
    ("get_deployment", True, PSCRIPT_ID): ["get-pscript-sse"],
    ("get_deployment", False, PLIVE_ID): ["get-plive"],
    ("get_deployment", True, PLIVE_ID): ["get-plive-live-sse"],
    ("get_deployment", True, PCHATTY_ID): ["get-pchatty-sse"],
    ("get_deployment", False, PCHATTY_ID): [row_from_done("get-pchatty-sse")],
    ("get_deployment", True, MISSING_ID): ["get-missing-sse"],
    ("list_deployments", False): ["list"],
    ("registration_info", False): ["registration_info"],
}
UNSUPPORTED = ("get_deployment_payload", "delete_deployment_payload", "revert_component", "get_deployment_events")


@dataclass
class ReplayRequest:
    operation: str | None
    sse: bool
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class _Route:
    captures: list[Capture]
    served: int = 0

    def next(self) -> Capture:
        capture = self.captures[min(self.served, len(self.captures) - 1)]
        self.served += 1
        return capture


class HarperReplay:
    """The replay server (see the module docstring). ``url``, ``user`` and ``password`` make it
    usable wherever a test takes a server; ``requests`` records what was asked."""

    user, password = "admin", "replay-password"

    def __init__(self, routes: dict[tuple[Any, ...], list[str | Capture]] | None = None, *,
                 time_scale: float = 0.05, max_gap_s: float = 1.0) -> None:
        merged = {**DEFAULT_ROUTES, **(routes or {})}
        self.routes = {key: _Route([c if isinstance(c, Capture) else load_capture(c) for c in captures])
                       for key, captures in merged.items()}
        self.time_scale, self.max_gap_s = time_scale, max_gap_s
        self.requests: list[ReplayRequest] = []
        self.port = 0
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def operations(self) -> list[tuple[str | None, bool]]:
        """``(operation, sse)`` of every request so far, in order."""
        return [(r.operation, r.sse) for r in self.requests]

    # -- lifecycle ------------------------------------------------------------------------

    def __enter__(self) -> HarperReplay:
        self._thread = threading.Thread(target=self._run, name="harper-replay", daemon=True)
        self._thread.start()
        assert self._ready.wait(10), "the replay server did not start"
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._loop is not None and self._stop is not None
        self._loop.call_soon_threadsafe(self._stop.set)
        assert self._thread is not None
        self._thread.join(10)

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        tasks: set[asyncio.Task[None]] = set()

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            task = asyncio.current_task()
            assert task is not None
            tasks.add(task)
            try:
                await self._connection(reader, writer)
            except (ConnectionError, asyncio.IncompleteReadError, asyncio.CancelledError):
                pass
            finally:
                tasks.discard(task)
                writer.transport.abort()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        await self._stop.wait()
        server.close()
        for task in list(tasks):
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # -- one connection -------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while True:
            request = await _read_request(reader)
            if request is None:
                return
            self.requests.append(request)
            await self._answer(writer, self._choose(request))

    def _choose(self, request: ReplayRequest) -> Capture:
        op, sse = request.operation, request.sse
        deployment_id = request.body.get("deployment_id")
        for key in ((op, sse, deployment_id), (op, sse)):
            if key in self.routes:
                return self.routes[key].next()
        if op in UNSUPPORTED or op is None or op not in ("get_deployment", "deploy_component", "list_deployments"):
            return _json_answer(400, json.dumps({"error": f"Operation '{op}' not found"}).encode())
        if op == "get_deployment" and sse:
            return load_capture("get-missing-sse")
        # Harper's JSON answer to an unknown id (contract §2.3), not captured: made from its text.
        return _json_answer(400, json.dumps({"error": f"No deployment found with id '{deployment_id}'"}).encode())

    async def _answer(self, writer: asyncio.StreamWriter, capture: Capture) -> None:
        reason = {200: "OK", 400: "Bad Request", 500: "Internal Server Error"}.get(capture.status, "Status")
        head = [f"HTTP/1.1 {capture.status} {reason}", *(f"{k}: {v}" for k, v in capture.headers),
                "Transfer-Encoding: chunked"]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        previous = 0.0
        for at, chunk in capture.chunks:
            wait = min(self.max_gap_s, max(0.0, at - previous) * self.time_scale)
            previous = at
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def _read_request(reader: asyncio.StreamReader) -> ReplayRequest | None:
    request = await read_http_request(reader)
    if request is None:
        return None
    fields = _fields(request.body, request.headers.get("content-type", ""))
    operation = fields.get("operation") if isinstance(fields.get("operation"), str) else None
    return ReplayRequest(operation, "text/event-stream" in request.headers.get("accept", ""), fields, request.headers)


def _fields(body: bytes, content_type: str) -> dict[str, Any]:
    """The operation fields of a JSON body, or the text fields of a multipart deploy."""
    if content_type.startswith("multipart/form-data"):
        found = re.findall(rb'name="([^"]+)"\r\n\r\n(.*?)\r\n--', body, flags=re.S)
        return {name.decode(): value.decode("utf-8", "replace") for name, value in found if name != b"payload"}
    try:
        decoded = json.loads(body or b"{}")
    except ValueError:
        return {}
    return decoded if isinstance(decoded, dict) else {}

