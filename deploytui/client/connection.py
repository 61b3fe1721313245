"""Where a server is and how to authenticate: :class:`ConnectionSettings` and the URL rule.

Kept apart from :mod:`deploytui.client.api` so that deciding where to connect (flags, contexts, the
local server) and the dashboard's first request do not import httpx, which costs about a tenth of
a second before the first frame.
"""

from __future__ import annotations

from dataclasses import dataclass


def normalize_url(url: str) -> str:
    """The API root URL with a trailing slash; a bare ``host`` or ``host:port`` becomes
    ``https://host:9925/`` / ``https://host:port/`` as Harper's CLI does."""
    url = url.strip()
    if "://" not in url:
        host = url.rstrip("/")
        url = f"https://{host}" if ":" in host.rsplit("]", 1)[-1] else f"https://{host}:9925"
    return url if url.endswith("/") else url + "/"


@dataclass(frozen=True, slots=True)
class ConnectionSettings:
    """Where the server is and how to authenticate.

    ``token`` (an operation token, sent as ``Authorization: Bearer``) wins over ``user``/``password``
    (HTTP Basic). ``verify_tls=False`` accepts self-signed certificates, common on Harper nodes.
    ``timeout`` (seconds) bounds ordinary requests; event streams never time out on silence.
    """

    url: str
    user: str | None = None
    password: str | None = None
    token: str | None = None
    verify_tls: bool = True
    timeout: float = 30.0

    @property
    def identity(self) -> str | None:
        """Who we authenticate as, for messages (never the secret)."""
        if self.token:
            return f"the operation token{f' of {self.user}' if self.user else ''}"
        return self.user


