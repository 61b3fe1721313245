"""How a local embedded server and its clients find each other, without importing each other.

The server writes ``server.json`` (url, pid) and, when it generated them, ``credentials.json`` into
its data dir, and prints a ready line starting with :data:`READY_PREFIX` once it accepts connections.
"""

READY_PREFIX = "deploytui: serving "
SERVER_FILE = "server.json"
CREDENTIALS_FILE = "credentials.json"


def parse_ready_line(line: str) -> str | None:
    """The URL announced by a ready line, or None for any other line."""
    if not line.startswith(READY_PREFIX):
        return None
    return line[len(READY_PREFIX) :].split()[0]
