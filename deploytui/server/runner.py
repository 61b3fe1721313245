"""Running the embedded server: data dir, credentials, store, engine, uvicorn on a bound socket.

The server binds its socket before announcing itself, so the printed URL is connectable at once;
``--port 0`` picks a free port and the announcement names it. A parent process (the dashboard, the
tests) waits for the line starting with :data:`READY_PREFIX`.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import sys
from collections.abc import Callable
from pathlib import Path

import uvicorn

from ..protocol.local import EXIT_DATA_DIR_BUSY, READY_PREFIX
from .app import create_app
from .auth import Authenticator, Credentials, load_or_create_credentials
from .body import remove_stale_spools
from .config import ServerConfig
from .context import ServerContext
from .engine import Engine
from .lifecycle import DataDirBusy, DataDirLock, ServerLife
from .recorder import EventHub
from .releases import migrate_legacy_layout
from .store import Store


def bind_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP, not 0: asyncio sets TCP_NODELAY on accepted sockets only for that proto, and
    # without it every answer after the first on a kept-alive connection waited ~40 ms (Nagle
    # holding the body until the client's delayed ACK of the headers).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(128)  # queue early connections until uvicorn accepts them
    sock.set_inheritable(True)
    return sock


def url_for(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


# Created by the process itself: files 0600, directories 0700, whatever umask it was started with.
PRIVATE_UMASK = 0o077


def make_data_dir_private(config: ServerConfig) -> None:
    """Make everything the server keeps readable by its owner only, from now on and from before.

    The process umask becomes 0o077, so whatever it (and the installs it starts) creates is
    owner-only: the database and SQLite's ``-wal``/``-shm`` files, ``server.json``, payloads and
    releases. A data dir that already existed, and what an earlier version left in it with wider
    modes, is narrowed too: the directory and its known entries (their contents are unreachable
    to others once their directory is 0700).
    """
    os.umask(PRIVATE_UMASK)
    config.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    known_files = [config.db_path, *(config.db_path.with_name(config.db_path.name + s) for s in ("-wal", "-shm")),
                   config.server_file, config.credentials_path]
    for path, mode in [(config.data_dir, 0o700), (config.payloads_dir, 0o700), (config.components_dir, 0o700),
                       *((f, 0o600) for f in known_files)]:
        if path.exists() and not path.is_symlink():  # a link's target is not ours to change
            os.chmod(path, mode)


def server_credentials(config: ServerConfig) -> tuple[Credentials, bool]:
    """Configured credentials, or the stored (generated on first start) ones; True when stored."""
    if config.user and config.password:
        return Credentials(config.user, config.password), False
    return load_or_create_credentials(config.credentials_path), True


async def serve(config: ServerConfig, *, announce: Callable[[str], None] | None = None,
                idle_exit_s: float | None = None) -> None:
    """Serve until interrupted (SIGINT/SIGTERM), stopped (``stop_server``) or, with ``idle_exit_s``,
    idle that long (server/lifecycle.py); then stop cleanly. DataDirBusy: another server has the data dir."""
    say = announce or (lambda line: print(line, flush=True))
    make_data_dir_private(config)
    lock = DataDirLock(config.data_dir)
    lock.acquire()  # before recovery: only the data dir's one server may touch its rows
    credentials, stored = server_credentials(config)
    store = Store(config.db_path)
    await store.open()
    hub = EventHub(store, subscriber_queue_limit=config.subscriber_queue_limit,
                   recorder_finished=config.wire == "harper")
    engine = Engine(config, store, hub)
    migrate_legacy_layout(config.components_dir)  # before anything reads a release
    recovered = await engine.recover_interrupted()
    remove_stale_spools(config.payloads_dir)
    life = ServerLife(idle_exit_s=idle_exit_s)
    ctx = ServerContext(config=config, store=store, hub=hub, engine=engine, auth=Authenticator(credentials), life=life)
    sock = bind_socket(config.host, config.port)
    url = life.url = url_for(sock)
    uv_config = uvicorn.Config(
        create_app(ctx), log_level="warning", access_log=False, lifespan="off", http="h11", timeout_graceful_shutdown=2
    )
    server = uvicorn.Server(uv_config)
    life.request_stop = lambda: setattr(server, "should_exit", True)
    life.open_connections = lambda: len(server.server_state.connections)
    idle_watch = asyncio.get_running_loop().create_task(life.stop_when_idle(lambda: bool(ctx.tasks)))
    _write_server_file(config.server_file, url, config, life)
    if stored:
        say(f"deploytui: credentials for user '{credentials.user}' are in {config.credentials_path}")
    if recovered:
        say(f"deploytui: {recovered} deployment(s) interrupted by the last stop were marked failed")
    say(f"{READY_PREFIX}{url} (data: {config.data_dir}, wire: {config.wire})")
    try:
        await server.serve(sockets=[sock])
    finally:
        idle_watch.cancel()
        for task in list(ctx.tasks):
            task.cancel()
        await asyncio.gather(*ctx.tasks, return_exceptions=True)
        await store.close()
        _remove_server_file(config.server_file)
        sock.close()
        lock.release()


def _write_server_file(path: Path, url: str, config: ServerConfig, life: ServerLife) -> None:
    data = {"url": url, "pid": os.getpid(), "data_dir": str(config.data_dir), "wire": config.wire,
            "started_at": life.started_at, "idle_exit_s": life.idle_exit_s}
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(data), encoding="utf-8")
    os.replace(tmp, path)


def _remove_server_file(path: Path) -> None:
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError):
        pass


def run(config: ServerConfig, *, idle_exit_s: float | None = None) -> int:
    try:
        asyncio.run(serve(config, idle_exit_s=idle_exit_s))
    except KeyboardInterrupt:
        pass
    except DataDirBusy as exc:
        print(f"deploytui: {exc}", file=sys.stderr)
        return EXIT_DATA_DIR_BUSY
    except OSError as exc:
        print(f"deploytui: cannot serve on {config.host}:{config.port}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    return 0
