"""Who may call the Operations API: HTTP Basic credentials and short-lived bearer tokens.

On first start without configured credentials the server generates an ``admin`` user with a random
password and stores both in ``<data-dir>/credentials.json`` (mode 0600); local clients read that
file, so nobody ever has to see the password. Secrets are compared in constant time.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import json
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_USER = "admin"
OPERATION_TOKEN_TTL_S = 3600
REFRESH_TOKEN_TTL_S = 30 * 24 * 3600


class AuthFailed(Exception):
    """The request carries no valid credentials (HTTP 401)."""

    status_code = 401


@dataclass(frozen=True, slots=True)
class Credentials:
    user: str
    password: str


def load_or_create_credentials(path: Path) -> Credentials:
    """Read the stored credentials, or generate and store new ones with mode 0600."""
    if path.exists():
        data = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(user=str(data["user"]), password=str(data["password"]))
    path.parent.mkdir(parents=True, exist_ok=True)
    creds = Credentials(user=DEFAULT_USER, password=secrets.token_urlsafe(18))
    # Create with 0600 from the start: the password must never be readable by others, even briefly.
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump({"user": creds.user, "password": creds.password}, f)
    return creds


def _same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass
class Authenticator:
    """Checks Basic and Bearer credentials against the one configured user.

    Issued tokens live in memory until they expire; every issue and check first drops the expired
    ones, so the store holds only live tokens however many logins there were. ``clock`` (seconds,
    monotonic) is injectable so expiry can be tested without waiting.
    """

    credentials: Credentials
    clock: Callable[[], float] = time.monotonic
    _operation_tokens: dict[str, float] = field(default_factory=dict)
    _refresh_tokens: dict[str, float] = field(default_factory=dict)

    def check_password(self, user: str, password: str) -> bool:
        # Both comparisons always run, so timing does not reveal which part was wrong.
        user_ok = _same(user, self.credentials.user)
        password_ok = _same(password, self.credentials.password)
        return user_ok and password_ok

    def authenticate(self, authorization: str | None) -> str:
        """Return the user name for an ``Authorization`` header value, or raise :class:`AuthFailed`."""
        if not authorization:
            raise AuthFailed("Must login")
        scheme, _, value = authorization.partition(" ")
        scheme = scheme.lower()
        if scheme == "basic":
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                raise AuthFailed("Malformed Basic credentials") from None
            user, sep, password = decoded.partition(":")
            if sep and self.check_password(user, password):
                return user
            raise AuthFailed("Login failed")
        if scheme == "bearer":
            if self._valid(self._operation_tokens, value.strip()):
                return self.credentials.user
            raise AuthFailed("invalid token")
        raise AuthFailed(f"Unsupported authorization scheme '{scheme}'")

    def create_tokens(self, user: str, password: str) -> dict[str, str]:
        """``create_authentication_tokens``: a new operation token and refresh token."""
        if not self.check_password(user, password):
            raise AuthFailed("Login failed")
        return {
            "operation_token": self._issue(self._operation_tokens, OPERATION_TOKEN_TTL_S),
            "refresh_token": self._issue(self._refresh_tokens, REFRESH_TOKEN_TTL_S),
        }

    def refresh(self, authorization: str | None) -> dict[str, str]:
        """``refresh_operation_token``: a new operation token for ``Bearer <refresh_token>``."""
        scheme, _, value = (authorization or "").partition(" ")
        if scheme.lower() != "bearer" or not self._valid(self._refresh_tokens, value.strip()):
            raise AuthFailed("invalid refresh token")
        return {"operation_token": self._issue(self._operation_tokens, OPERATION_TOKEN_TTL_S)}

    def tokens_held(self) -> int:
        """How many tokens (operation and refresh) are stored right now, expired ones dropped first."""
        self._prune()
        return len(self._operation_tokens) + len(self._refresh_tokens)

    def _prune(self) -> None:
        now = self.clock()
        for store in (self._operation_tokens, self._refresh_tokens):
            for token in [t for t, expires in store.items() if expires <= now]:
                del store[token]

    def _issue(self, store: dict[str, float], ttl_s: float) -> str:
        self._prune()
        token = secrets.token_urlsafe(32)
        store[token] = self.clock() + ttl_s
        return token

    def _valid(self, store: dict[str, float], token: str) -> bool:
        self._prune()
        # Compare against every live token in constant time per token.
        return any(_same(token, known) for known in store) if token else False
