"""How a local embedded server and its clients find each other, without importing each other.

One server per data dir: the server holds an exclusive OS lock on ``server.lock`` for its whole life
(and writes its pid into it), then writes ``server.json`` (url, pid, data dir, start time, idle
timeout) and, when it generated them, ``credentials.json``, and prints a ready line starting with
:data:`READY_PREFIX` once it accepts connections. ``GET /health`` answers with the serving pid in
:data:`PID_HEADER`, so a client can tell a live server from a stale ``server.json``. A server
started on demand writes its output to ``server.log`` and stops after :data:`DEFAULT_IDLE_EXIT_S`
seconds without clients or running deploys.
"""

import json
import os
from collections.abc import Mapping
from pathlib import Path

READY_PREFIX = "deploytui: serving "
SERVER_FILE = "server.json"
CREDENTIALS_FILE = "credentials.json"
LOCK_FILE = "server.lock"
LOG_FILE = "server.log"
PID_HEADER = "x-deploytui-pid"
# A server started on demand stops this long after its last client left and its last deploy ended.
DEFAULT_IDLE_EXIT_S = 30.0
# `deploytui serve` exits with this when another server already holds the data dir.
EXIT_DATA_DIR_BUSY = 2


def parse_ready_line(line: str) -> str | None:
    """The URL announced by a ready line, or None for any other line."""
    if not line.startswith(READY_PREFIX):
        return None
    return line[len(READY_PREFIX) :].split()[0]


def default_data_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The embedded server's data dir: ``$DEPLOYTUI_DATA_DIR``, else the per-user data dir."""
    environ = os.environ if environ is None else environ
    if environ.get("DEPLOYTUI_DATA_DIR"):
        return Path(environ["DEPLOYTUI_DATA_DIR"]).expanduser()
    from platformdirs import user_data_path

    return user_data_path("deploytui", appauthor=False)


def read_server_file(data_dir: Path) -> dict | None:
    """The data dir's ``server.json`` (url, pid, started_at, idle_exit_s…) when it is well formed."""
    try:
        info = json.loads((data_dir / SERVER_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("url"), str) or not isinstance(info.get("pid"), int):
        return None
    return info


def read_lock_pid(data_dir: Path) -> int | None:
    """The pid the server holding (or last holding) the data dir's lock wrote into it."""
    try:
        return int((data_dir / LOCK_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
