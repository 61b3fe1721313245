"""One settings object for the embedded server, built by ``deploytui serve`` or by tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from ..protocol.local import CREDENTIALS_FILE, SERVER_FILE

Wire = Literal["deploytui", "harper"]

DEFAULT_PORT = 9925
MiB = 1024 * 1024


@dataclass(slots=True)
class ServerConfig:
    """Everything the embedded server needs to know; defaults match Harper's where it has one."""

    data_dir: Path
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    user: str | None = None
    password: str | None = None
    peers: list[str] = field(default_factory=list)
    wire: Wire = "deploytui"
    # A request body larger than this is refused with 413 (payload uploads included). A ``file:``
    # package's packed tarball is held to it too.
    max_body_bytes: int = 512 * MiB
    # A JSON body, apart from its base64 ``payload`` string (spooled to disk), and a multipart
    # body's text fields together: an operation without a payload is small.
    max_json_bytes: int = 1 * MiB
    # Payloads above this size are dropped after a successful deploy (Harper's default: 10 MiB).
    payload_retention_max_size: int = 10 * MiB
    # Tarball limits: total unpacked bytes (file data plus extended headers) and member count.
    # Also applied while packing a ``file:`` package.
    max_unpacked_bytes: int = 512 * MiB
    max_members: int = 50_000
    # Install timeout when the request names none (ms, as Harper's install_timeout).
    default_install_timeout_ms: int = 300_000
    # Peer wait (ms), Harper's deployment_timeout default.
    default_deployment_timeout_ms: int = 120_000
    # Seconds of silence before an SSE keepalive comment (deploytui wire only).
    keepalive_seconds: float = 15.0
    # Live events a slow SSE subscriber may have queued before it falls back to reading the store.
    subscriber_queue_limit: int = 1000

    @property
    def db_path(self) -> Path:
        return self.data_dir / "deploytui.sqlite3"

    @property
    def payloads_dir(self) -> Path:
        return self.data_dir / "payloads"

    @property
    def components_dir(self) -> Path:
        return self.data_dir / "components"

    @property
    def credentials_path(self) -> Path:
        return self.data_dir / CREDENTIALS_FILE

    @property
    def server_file(self) -> Path:
        """Where a running server records its URL and pid, so local clients can find it."""
        return self.data_dir / SERVER_FILE
