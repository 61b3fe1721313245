"""Replicating a deploy to peer servers over the Operations API, as any other client would.

A peer is another deploytui (or Harper) server named by URL in ``ServerConfig.peers``; credentials
may ride in the URL's userinfo (``http://user:pass@host:9925``) and are sent as Basic auth, never
echoed in a node name or message. The peer gets a normal ``deploy_component`` with the payload as
base64 and ``replicated: false`` so it does not fan out again.

httpx is imported only when a deploy has peers: a server without any (every local one) starts
about a tenth of a second sooner.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit, urlunsplit

from deploytui.protocol.clock import now_ms

if TYPE_CHECKING:
    import httpx


@dataclass(frozen=True, slots=True)
class Peer:
    """A peer's URL without credentials, its display name, and its Basic auth (if any)."""

    url: str
    node: str
    auth: tuple[str, str] | None = field(default=None, repr=False)

    @classmethod
    def parse(cls, raw: str) -> Peer:
        parts = urlsplit(raw if "://" in raw else f"http://{raw}")
        host = parts.hostname or ""
        netloc = f"[{host}]" if ":" in host else host
        if parts.port:
            netloc += f":{parts.port}"
        auth = (unquote(parts.username), unquote(parts.password or "")) if parts.username else None
        url = urlunsplit((parts.scheme, netloc, parts.path or "/", "", ""))
        return cls(url=url, node=netloc, auth=auth)


def peer_result(node: str, started_at: int, *, error: dict[str, Any] | None = None,
                deployment_id: str | None = None) -> dict[str, Any]:
    """A result in the normalised ``peer_results`` shape (contract §3.4)."""
    result: dict[str, Any] = {
        "node": node,
        "status": "failed" if error else "success",
        "error": error,
        "started_at": started_at,
        "completed_at": now_ms(),
    }
    if deployment_id:
        result["deployment_id"] = deployment_id
    return result


async def replicate_deploy(
    peers: list[str],
    body: dict[str, Any],
    payload: bytes,
    *,
    timeout_s: float,
    on_result: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Send ``body`` plus the base64 payload to every peer at once; ``on_result`` as each settles.

    Never raises for a peer's failure: it becomes a ``failed`` result with ``error {message, code}``.
    """
    request = {**body, "payload": base64.b64encode(payload).decode("ascii"), "replicated": False}
    return await call_peers([(raw, request) for raw in peers], timeout_s=timeout_s, on_result=on_result)


async def _send(client: httpx.AsyncClient, peer: Peer, request: dict[str, Any], timeout_s: float) -> dict[str, Any]:
    import httpx

    started = now_ms()
    try:
        async with asyncio.timeout(timeout_s):
            response = await client.post(peer.url, json=request, auth=peer.auth)
    except TimeoutError:
        return peer_result(peer.node, started, error={"message": f"no answer within {timeout_s:g}s", "code": 504})
    except httpx.HTTPError as exc:
        return peer_result(peer.node, started, error={"message": f"{type(exc).__name__}: {exc}", "code": None})
    body = _json(response)
    if response.status_code != 200:
        message = body.get("error") if isinstance(body.get("error"), str) else response.reason_phrase
        return peer_result(peer.node, started, error={"message": message, "code": response.status_code})
    return peer_result(peer.node, started, deployment_id=body.get("deployment_id"))


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        value = response.json()
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def failure_message(project: str, deployment_id: str, results: list[dict[str, Any]]) -> str | None:
    """Harper's replication failure message, or None when every peer succeeded."""
    failed = [r for r in results if r["status"] == "failed"]
    if not failed:
        return None
    details = ", ".join(f"{r['node']} ({(r.get('error') or {}).get('message', 'failed')})" for r in failed)
    return (
        f"Component '{project}' failed to replicate to {len(failed)} of {len(results)} peer node(s): "
        f"{details}. The origin node kept its running release. "
        f"See deployment {deployment_id} (get_deployment) for details."
    )


async def call_peers(
    targets: list[tuple[str, dict[str, Any]]],
    *,
    timeout_s: float,
    on_result: Callable[[dict[str, Any]], None],
) -> list[dict[str, Any]]:
    """Send each peer (a raw URL from the config) its own request at once; ``on_result`` as each
    settles. A two-phase deploy's stage, activate and revert steps (server/two_phase.py).

    Never raises for a peer's failure: it becomes a ``failed`` result with ``error {message, code}``.
    """
    import httpx

    async with httpx.AsyncClient(timeout=timeout_s) as client:

        async def one(raw: str, request: dict[str, Any]) -> dict[str, Any]:
            result = await _send(client, Peer.parse(raw), request, timeout_s)
            on_result(result)
            return result

        return list(await asyncio.gather(*(one(raw, request) for raw, request in targets)))
