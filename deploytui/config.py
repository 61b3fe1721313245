"""Which server to talk to: command-line flags, environment variables, and named *contexts*.

A context is a named server in a TOML file (``contexts.toml`` in the user config dir, or the file
``DEPLOYTUI_CONFIG`` names)::

    default = "local"                       # optional; "local" = the embedded server on this machine
    [contexts.prod]
    url = "https://harper.example.com:9925"
    user = "admin"
    password_env = "PROD_HARPER_PASSWORD"   # or password = "...", or token_env / token
    insecure = true                         # accept a self-signed certificate

Precedence, strongest first: explicit flags (``--url``, ``--user``, …; ``--context NAME`` counts as a
flag), then the environment (``DEPLOYTUI_URL``, ``DEPLOYTUI_USER``, ``DEPLOYTUI_PASSWORD``,
``DEPLOYTUI_TOKEN``, ``DEPLOYTUI_INSECURE``; ``DEPLOYTUI_CONTEXT`` counts as environment), then the
file's ``default`` context. A context's password or token is only ever sent to that context's own
URL: when a stronger source names another server, the context's secrets are not used.

A URL without a scheme (``--url 127.0.0.1:9925``) gets one, and a note on stderr says which
(:func:`with_scheme`): ``http://`` for a loopback host, where the embedded server listens in plain
HTTP, ``https://`` for any other host, as Harper nodes serve TLS.

No URL from any source means the local embedded server, found through its data dir, or started
there on demand when none runs (:func:`local_connection`). Everything that can go wrong here is a :class:`ConfigError` whose message
is one line naming the file (and line) at fault.
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from deploytui.client.connection import ConnectionSettings
from deploytui.client.errors import DeploytuiError
from deploytui.protocol.local import default_data_dir

__all__ = [
    "ConfigError",
    "NoLocalServer",
    "Context",
    "ContextsFile",
    "LOCAL_CONTEXT",
    "config_path",
    "default_data_dir",
    "load_contexts",
    "resolve_connection",
    "local_connection",
    "connection_for",
    "local_connection_for",
    "data_dir_for",
    "is_loopback_host",
    "with_scheme",
]

# The built-in context name for the embedded server on this machine.
LOCAL_CONTEXT = "local"
_CONTEXT_KEYS = frozenset({"url", "user", "password", "password_env", "token", "token_env", "insecure"})
_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


class ConfigError(DeploytuiError):
    """The contexts file or the connection options are unusable; the message says where and why."""


class NoLocalServer(DeploytuiError):
    """No embedded server runs on the data dir the command would use (and none could be started)."""


@dataclass(frozen=True, slots=True)
class Context:
    """One named server of the contexts file; secrets stay as written (``*_env`` names unresolved)."""

    name: str
    url: str
    user: str | None = None
    password: str | None = None
    password_env: str | None = None
    token: str | None = None
    token_env: str | None = None
    insecure: bool | None = None

    def secret(self, environ: os._Environ[str] | dict[str, str]) -> tuple[str | None, str | None]:
        """``(password, token)``, reading ``password_env`` / ``token_env`` from ``environ``."""
        password, token = self.password, self.token
        for key, var in (("password", self.password_env), ("token", self.token_env)):
            if var is None:
                continue
            value = environ.get(var)
            if not value:
                raise ConfigError(f"context {self.name!r} reads its {key} from ${var}, which is not set")
            if key == "password":
                password = value
            else:
                token = value
        return password, token


@dataclass(frozen=True, slots=True)
class ContextsFile:
    """The parsed contexts file: its path, ``default`` context name and contexts by name."""

    path: Path | None
    default: str | None
    contexts: dict[str, Context]

    def get(self, name: str) -> Context | None:
        """The context ``name``; None for the built-in ``local``; ConfigError when unknown."""
        if name in self.contexts:
            return self.contexts[name]
        if name == LOCAL_CONTEXT:
            return None
        known = ", ".join(sorted({*self.contexts, LOCAL_CONTEXT}))
        where = f" in {self.path}" if self.path and self.path.exists() else f" (no contexts file at {self.path})"
        raise ConfigError(f"unknown context {name!r}{where}; known: {known}")


def config_path(environ: os._Environ[str] | dict[str, str] | None = None) -> Path:
    """The contexts file: ``$DEPLOYTUI_CONFIG``, else ``<user config dir>/deploytui/contexts.toml``."""
    environ = os.environ if environ is None else environ
    if environ.get("DEPLOYTUI_CONFIG"):
        return Path(environ["DEPLOYTUI_CONFIG"]).expanduser()
    from platformdirs import user_config_path

    return user_config_path("deploytui", appauthor=False) / "contexts.toml"


# -- the file ------------------------------------------------------------------------------------


def _line_of(text: str, context: str | None, key: str | None) -> int | None:
    """Best-effort line number of ``[contexts.<context>]`` (or of ``key`` inside it) in ``text``."""
    lines = text.splitlines()
    start = 0
    if context is not None:
        header = re.compile(rf"^\s*\[\s*contexts\s*\.\s*(\"{re.escape(context)}\"|{re.escape(context)})\s*\]")
        found = next((i for i, line in enumerate(lines) if header.match(line)), None)
        if found is None:
            return None
        if key is None:
            return found + 1
        start = found + 1
    pattern = re.compile(rf"^\s*{re.escape(key or '')}\s*=")
    for i in range(start, len(lines)):
        if context is not None and lines[i].lstrip().startswith("["):
            break
        if pattern.match(lines[i]):
            return i + 1
    return None


def _fail(path: Path, text: str, message: str, context: str | None = None, key: str | None = None) -> ConfigError:
    line = _line_of(text, context, key)
    return ConfigError(f"{path}{f', line {line}' if line else ''}: {message}")


def parse_contexts(text: str, path: Path) -> ContextsFile:
    """Parse and check the contexts file's text; ConfigError names ``path`` and the line at fault."""
    import tomllib  # only when there is a file: ~2 ms of every start otherwise

    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # tomllib's message ends with "(at line L, column C)"; move the position to the front.
        match = re.match(r"^(.*?)\s*\(at line (\d+), column (\d+)\)$", str(exc))
        if match:
            raise ConfigError(f"{path}, line {match[2]}: invalid TOML: {match[1]} (column {match[3]})") from None
        raise ConfigError(f"{path}: invalid TOML: {exc}") from None
    unknown = sorted(set(data) - {"default", "contexts"})
    if unknown:
        raise _fail(path, text, f"unknown setting {unknown[0]!r} (expected 'default' and [contexts.NAME] tables)", key=unknown[0])
    default = data.get("default")
    if default is not None and not isinstance(default, str):
        raise _fail(path, text, "'default' must be a context name in quotes", key="default")
    raw_contexts = data.get("contexts", {})
    if not isinstance(raw_contexts, dict):
        raise _fail(path, text, "'contexts' must be tables: [contexts.NAME]", key="contexts")
    contexts = {name: _parse_context(name, table, path, text) for name, table in raw_contexts.items()}
    if default is not None and default not in contexts and default != LOCAL_CONTEXT:
        raise _fail(path, text, f"default context {default!r} is not defined", key="default")
    return ContextsFile(path=path, default=default, contexts=contexts)


def _parse_context(name: str, table: Any, path: Path, text: str) -> Context:
    if not isinstance(table, dict):
        raise _fail(path, text, f"contexts.{name} must be a table: [contexts.{name}]", key=f"contexts.{name}")
    for key in sorted(table):
        if key not in _CONTEXT_KEYS:
            raise _fail(path, text, f"context {name!r}: unknown setting {key!r} (known: {', '.join(sorted(_CONTEXT_KEYS))})", name, key)
        value = table[key]
        expected = bool if key == "insecure" else str
        if not isinstance(value, expected) or (expected is str and not value.strip()):
            kind = "true or false" if expected is bool else "a non-empty string"
            raise _fail(path, text, f"context {name!r}: {key} must be {kind}", name, key)
    if "url" not in table:
        raise _fail(path, text, f"context {name!r} has no url", name)
    for secret in ("password", "token"):
        if secret in table and f"{secret}_env" in table:
            raise _fail(path, text, f"context {name!r}: give {secret} or {secret}_env, not both", name, f"{secret}_env")
    return Context(name=name, **table)


def load_contexts(path: Path | None = None) -> ContextsFile:
    """Read the contexts file (:func:`config_path` by default); a missing file means no contexts."""
    path = config_path() if path is None else path
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return ContextsFile(path=path, default=None, contexts={})
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read the contexts file: {getattr(exc, 'strerror', None) or exc}") from None
    return parse_contexts(text, path)


# -- resolution ----------------------------------------------------------------------------------


def is_loopback_host(host: str) -> bool:
    """True for ``localhost`` and every loopback address (127.0.0.0/8, ``::1``)."""
    host = host.strip("[]").rstrip(".").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def with_scheme(url: str) -> tuple[str, str | None]:
    """``url`` with its scheme, and the note to show when the scheme had to be assumed (else None).

    ``http://`` is assumed for a loopback host (the embedded server listens there in plain HTTP),
    ``https://`` for any other. A scheme other than http/https is a :class:`ConfigError`.
    """
    url = url.strip()
    match = _SCHEME.match(url)
    if match:
        if match.group(1).lower() not in ("http", "https"):
            raise ConfigError(f"server URL {url!r}: unsupported scheme {match.group(1)!r}; use http:// or https://")
        return url, None
    host = _host_of(url)
    if not host:
        raise ConfigError(f"server URL {url!r} names no host; give one like http://127.0.0.1:9925")
    if is_loopback_host(host):
        return f"http://{url}", (f"no scheme in the server URL {url!r}: assuming http://{url} "
                                 "(plain HTTP, as for a server on this machine)")
    return f"https://{url}", (f"no scheme in the server URL {url!r}: assuming https://{url}; "
                              "if that server serves plain HTTP, give http:// explicitly")


def _host_of(url: str) -> str | None:
    from urllib.parse import urlsplit

    try:
        return urlsplit(f"//{url}").hostname
    except ValueError:  # e.g. an unbalanced "[::1"
        return None


def _same_url(a: str, b: str) -> bool:
    """True when ``a`` and ``b`` name the same server once a missing scheme is filled in."""
    try:
        return with_scheme(a)[0] == with_scheme(b)[0]
    except ConfigError:
        return a == b


def _print_note(note: str) -> None:
    print(f"deploytui: {note}", file=sys.stderr, flush=True)


def _env_bool(environ: os._Environ[str] | dict[str, str], name: str) -> bool | None:
    value = environ.get(name)
    if value is None:
        return None
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ConfigError(f"${name} must be 1/true/yes or 0/false/no, not {value!r}")


@dataclass(frozen=True, slots=True)
class _Source:
    """What one level of precedence says (flags, environment, or a context)."""

    url: str | None = None
    user: str | None = None
    password: str | None = None
    token: str | None = None
    insecure: bool | None = None
    context: Context | None = None  # a context's secrets are read only if its URL is the one used


def _context_source(ctx: Context) -> _Source:
    has_secret = any(v is not None for v in (ctx.password, ctx.password_env, ctx.token, ctx.token_env))
    # "" marks "has a secret, not read yet"; _settings reads it through Context.secret.
    return _Source(url=ctx.url, user=ctx.user, password="" if has_secret else None, insecure=ctx.insecure, context=ctx)


def _first(sources: list[_Source], attr: str) -> Any:
    return next((getattr(s, attr) for s in sources if getattr(s, attr) is not None), None)


def resolve_connection(
    args: argparse.Namespace, environ: os._Environ[str] | dict[str, str] | None = None,
    *, note: Callable[[str], None] = _print_note,
) -> ConnectionSettings | None:
    """The server and credentials that ``args`` (the connection flags), the environment and the
    contexts file name, strongest first; None means "the local embedded server". ``note`` is told
    what was assumed, if anything (a missing scheme; by default on stderr).

    Raises :class:`ConfigError` for an unknown context, a malformed contexts file, or a context
    whose ``password_env`` / ``token_env`` variable is not set.
    """
    environ = os.environ if environ is None else environ
    flag_context = getattr(args, "context", None)
    env_context = environ.get("DEPLOYTUI_CONTEXT") or None
    flags = _Source(
        url=getattr(args, "url", None) or None,
        user=getattr(args, "user", None) or None,
        password=getattr(args, "password", None) or None,
        token=getattr(args, "token", None) or None,
        insecure=True if getattr(args, "insecure", False) else None,
    )
    env = _Source(
        url=environ.get("DEPLOYTUI_URL") or None,
        user=environ.get("DEPLOYTUI_USER") or None,
        password=environ.get("DEPLOYTUI_PASSWORD") or None,
        token=environ.get("DEPLOYTUI_TOKEN") or None,
        insecure=_env_bool(environ, "DEPLOYTUI_INSECURE"),
    )
    # The contexts file is read only when a context could matter.
    needs_file = flag_context or env_context or not (flags.url or env.url)
    contexts = load_contexts() if needs_file else ContextsFile(None, None, {})
    levels = [flags]
    if flag_context:
        # --context ranks with the flags, above the environment.
        ctx = contexts.get(flag_context)
        if ctx is None:  # the built-in "local": only an explicit --url can override it
            return _settings(levels, environ, note)
        levels += [_context_source(ctx), env]
    else:
        levels.append(env)
        # DEPLOYTUI_CONTEXT, else the file's default, ranks below DEPLOYTUI_URL and friends.
        name = env_context or contexts.default
        ctx = contexts.get(name) if name else None
        if ctx is not None:
            levels.append(_context_source(ctx))
    return _settings(levels, environ, note)


def _settings(
    levels: list[_Source], environ: os._Environ[str] | dict[str, str], note: Callable[[str], None]
) -> ConnectionSettings | None:
    """Settings from precedence levels, strongest first; None when none names a URL."""
    url = _first(levels, "url")
    if url is None:
        return None
    # A context's secrets (and user) go only to its own URL: drop levels that name another server.
    trusted = [s for s in levels if s.url is None or _same_url(s.url, url)]
    # Password and token come together from the strongest level giving either, so a weaker token
    # never overrides a stronger password (ConnectionSettings prefers the token).
    secret_level = next((s for s in trusted if s.password is not None or s.token is not None), _Source())
    password, token = secret_level.password, secret_level.token
    if secret_level.context is not None:
        password, token = secret_level.context.secret(environ)
    url, assumed = with_scheme(url)
    if assumed:
        note(assumed)
    return ConnectionSettings(
        url=url,
        user=_first(trusted, "user"),
        password=password,
        token=token,
        verify_tls=not bool(_first(trusted, "insecure")),
    )


def local_connection(data_dir: Path, *, user: str | None = None, password: str | None = None,
                     start: bool = True) -> ConnectionSettings:
    """The local server running on ``data_dir`` (started on demand when ``start`` and none runs),
    with the credentials it stored there (or the given ones, for a server started with
    ``--user/--password``).

    Raises :class:`NoLocalServer` (one line, with what to do) when none runs or none could start.
    """
    from deploytui.client.local import LocalServerError, ensure_server, find_running_server

    try:
        server = ensure_server(data_dir, announce=_print_note) if start else find_running_server(data_dir)
    except LocalServerError as exc:
        raise NoLocalServer(str(exc)) from None
    if server is None:
        raise NoLocalServer(
            f"no deploytui server is running on {data_dir}; start one with `deploytui serve` or open the "
            "dashboard (or point at a server with --url / --context)"
        )
    if user and password:
        return ConnectionSettings(url=server.url, user=user, password=password)
    if not server.password:
        raise NoLocalServer(
            f"the deploytui server on {data_dir} was started with its own --user/--password; give the "
            "same with --user/--password or DEPLOYTUI_USER/DEPLOYTUI_PASSWORD"
        )
    return ConnectionSettings(url=server.url, user=server.user, password=server.password)


def connection_for(args: argparse.Namespace) -> ConnectionSettings:
    """What a headless command connects to: :func:`resolve_connection`, else the local server on
    ``--data-dir`` (or the default data dir), started on demand."""
    settings = resolve_connection(args)
    return settings if settings is not None else local_connection_for(args)


def local_connection_for(args: argparse.Namespace, *, start: bool = True) -> ConnectionSettings:
    """:func:`local_connection` for the data dir and credentials that ``args`` (``--data-dir``,
    ``--user``, ``--password``) or the environment name."""
    return local_connection(
        data_dir_for(args),
        user=getattr(args, "user", None) or os.environ.get("DEPLOYTUI_USER"),
        password=getattr(args, "password", None) or os.environ.get("DEPLOYTUI_PASSWORD"),
        start=start,
    )


def data_dir_for(args: argparse.Namespace) -> Path:
    """The local server's data dir: ``--data-dir``, else ``$DEPLOYTUI_DATA_DIR``, else the per-user one."""
    data_dir = getattr(args, "data_dir", None)
    return Path(data_dir).expanduser() if data_dir else default_data_dir()
