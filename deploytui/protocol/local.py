"""How a local embedded server and its clients find each other, without importing each other.

The server writes ``server.json`` (url, pid) and, when it generated them, ``credentials.json`` into
its data dir, and prints a ready line starting with :data:`READY_PREFIX` once it accepts connections.
"""

import os
from collections.abc import Mapping
from pathlib import Path

READY_PREFIX = "deploytui: serving "
SERVER_FILE = "server.json"
CREDENTIALS_FILE = "credentials.json"


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
