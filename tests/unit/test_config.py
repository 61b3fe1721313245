"""Contexts file and connection resolution: precedence, secrets, and one-line errors naming the line."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from deploytui.config import ConfigError, NoLocalServer, config_path, load_contexts, local_connection, resolve_connection

CONTEXTS = """\
default = "prod"

[contexts.prod]
url = "https://harper.example.com:9925"
user = "admin"
password_env = "PROD_HARPER_PASSWORD"
insecure = true

[contexts.staging]
url = "https://staging.example.com:9925"
token = "staging-token"
"""


def args(**kw) -> argparse.Namespace:
    base = dict(url=None, user=None, password=None, token=None, insecure=False, context=None, data_dir=None)
    return argparse.Namespace(**{**base, **kw})


@pytest.fixture
def cfg(tmp_path: Path):
    """Write a contexts file; returns (path, environ pointing at it)."""

    def write(text: str, **env: str) -> tuple[Path, dict[str, str]]:
        path = tmp_path / "contexts.toml"
        path.write_text(text, encoding="utf-8")
        return path, {"DEPLOYTUI_CONFIG": str(path), **env}

    return write


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # load_contexts() reads os.environ's DEPLOYTUI_CONFIG; keep every test off the real config dir.
    for name in ("DEPLOYTUI_URL", "DEPLOYTUI_USER", "DEPLOYTUI_PASSWORD", "DEPLOYTUI_TOKEN", "DEPLOYTUI_CONTEXT",
                 "DEPLOYTUI_INSECURE", "PROD_HARPER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DEPLOYTUI_CONFIG", str(tmp_path / "none.toml"))


def use(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> dict[str, str]:
    for key, value in environ.items():
        monkeypatch.setenv(key, value)
    return environ


def test_config_path_env_override(tmp_path: Path) -> None:
    assert config_path({"DEPLOYTUI_CONFIG": str(tmp_path / "x.toml")}) == tmp_path / "x.toml"
    assert config_path({}).name == "contexts.toml"


def test_default_context_with_password_env(cfg, monkeypatch) -> None:
    env = use(monkeypatch, cfg(CONTEXTS, PROD_HARPER_PASSWORD="pw")[1])
    settings = resolve_connection(args(), env)
    assert settings is not None
    assert (settings.url, settings.user, settings.password, settings.token) == (
        "https://harper.example.com:9925", "admin", "pw", None)
    assert settings.verify_tls is False


def test_explicit_context_flag_and_token(cfg, monkeypatch) -> None:
    env = use(monkeypatch, cfg(CONTEXTS)[1])
    settings = resolve_connection(args(context="staging"), env)
    assert settings.url == "https://staging.example.com:9925" and settings.token == "staging-token"
    assert settings.verify_tls is True


def test_flags_beat_env_beat_context(cfg, monkeypatch) -> None:
    env = use(monkeypatch, cfg(CONTEXTS, PROD_HARPER_PASSWORD="pw", DEPLOYTUI_USER="ci")[1])
    # env user beats the default context's user (same server: the context's URL)
    assert resolve_connection(args(), env).user == "ci"
    # an explicit flag beats both
    assert resolve_connection(args(user="me"), env).user == "me"
    # an env URL beats the default context, and the context's secret is not sent to another server
    env2 = use(monkeypatch, {**env, "DEPLOYTUI_URL": "http://127.0.0.1:1"})
    settings = resolve_connection(args(), env2)
    assert settings.url == "http://127.0.0.1:1" and settings.password is None and settings.user == "ci"
    assert settings.verify_tls is True  # the context's insecure=true belongs to its own server
    # an explicit --context (a flag) beats the env URL
    assert resolve_connection(args(context="staging"), env2).url == "https://staging.example.com:9925"
    # and --url beats everything
    assert resolve_connection(args(url="http://h:2", context="staging"), env2).url == "http://h:2"


def test_context_secret_not_read_when_another_url_wins(cfg, monkeypatch) -> None:
    env = use(monkeypatch, cfg(CONTEXTS)[1])  # PROD_HARPER_PASSWORD unset, but prod is not used
    settings = resolve_connection(args(url="http://127.0.0.1:9"), env)
    assert settings.url == "http://127.0.0.1:9"


def test_missing_password_env_is_a_clear_error(cfg, monkeypatch) -> None:
    env = use(monkeypatch, cfg(CONTEXTS)[1])
    with pytest.raises(ConfigError, match=r"\$PROD_HARPER_PASSWORD, which is not set"):
        resolve_connection(args(), env)


def test_no_url_anywhere_means_local(monkeypatch) -> None:
    assert resolve_connection(args(), {}) is None


def test_builtin_local_context(cfg, monkeypatch) -> None:
    env = use(monkeypatch, cfg('default = "local"\n')[1])
    assert resolve_connection(args(), env) is None
    env = use(monkeypatch, cfg(CONTEXTS, DEPLOYTUI_URL="http://e:1")[1])
    assert resolve_connection(args(context="local"), env) is None  # explicit --context local wins over env


def test_env_context_and_insecure(cfg, monkeypatch) -> None:
    env = use(monkeypatch, cfg(CONTEXTS, DEPLOYTUI_CONTEXT="staging", DEPLOYTUI_INSECURE="1")[1])
    settings = resolve_connection(args(), env)
    assert settings.url.startswith("https://staging") and settings.verify_tls is False
    with pytest.raises(ConfigError, match="DEPLOYTUI_INSECURE"):
        resolve_connection(args(), {**env, "DEPLOYTUI_INSECURE": "maybe"})


def test_unknown_context(cfg, monkeypatch) -> None:
    path, env = cfg(CONTEXTS)
    use(monkeypatch, env)
    with pytest.raises(ConfigError) as info:
        resolve_connection(args(context="nope"), env)
    message = str(info.value)
    assert "unknown context 'nope'" in message and str(path) in message and "prod" in message
    assert "\n" not in message


def test_unknown_context_without_a_file(monkeypatch) -> None:
    with pytest.raises(ConfigError, match="no contexts file at"):
        resolve_connection(args(context="prod"), {})


@pytest.mark.parametrize(
    ("text", "line", "fragment"),
    [
        ('default = "prod"\n[contexts.prod]\nurl = "x"\nuser = \n', 4, "invalid TOML"),
        ('[contexts.prod]\nurl = "https://x"\npasword = "typo"\n', 3, "unknown setting 'pasword'"),
        ('[contexts.prod]\nuser = "admin"\n', 1, "has no url"),
        ('[contexts.prod]\nurl = "https://x"\ninsecure = "yes"\n', 3, "insecure must be true or false"),
        ('[contexts.a]\nurl = "https://x"\npassword = "p"\npassword_env = "P"\n', 4, "not both"),
        ('default = "missing"\n[contexts.a]\nurl = "https://x"\n', 1, "'missing' is not defined"),
        ('colour = "red"\n', 1, "unknown setting 'colour'"),
    ],
)
def test_malformed_file_names_file_and_line(cfg, text: str, line: int, fragment: str) -> None:
    path, _ = cfg(text)
    with pytest.raises(ConfigError) as info:
        load_contexts(path)
    message = str(info.value)
    assert message.startswith(f"{path}, line {line}: "), message
    assert fragment in message and "\n" not in message


def test_missing_file_means_no_contexts(tmp_path: Path) -> None:
    contexts = load_contexts(tmp_path / "absent.toml")
    assert contexts.contexts == {} and contexts.default is None


def test_local_connection_without_a_server(tmp_path: Path) -> None:
    with pytest.raises(NoLocalServer) as info:
        local_connection(tmp_path, start=False)
    assert f"no deploytui server is running on {tmp_path}" in str(info.value)
    assert "deploytui serve" in str(info.value)


# -- a URL without a scheme ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "url"),
    [
        ("127.0.0.1:38113", "http://127.0.0.1:38113"),
        ("127.9.8.7:1", "http://127.9.8.7:1"),
        ("localhost:9925", "http://localhost:9925"),
        ("[::1]:9925", "http://[::1]:9925"),
        ("harper.example.com:9925", "https://harper.example.com:9925"),
        ("10.0.0.1:9925", "https://10.0.0.1:9925"),
    ],
)
def test_missing_scheme_is_assumed_and_said(given: str, url: str) -> None:
    notes: list[str] = []
    settings = resolve_connection(args(url=given), {}, note=notes.append)
    assert settings is not None and settings.url == url
    assert len(notes) == 1 and f"assuming {url}" in notes[0]
    assert "verification" not in notes[0]  # a scheme problem is never a reason to turn TLS checks off


def test_a_url_with_its_scheme_is_kept_without_a_note() -> None:
    notes: list[str] = []
    assert resolve_connection(args(url="https://h:1"), {}, note=notes.append).url == "https://h:1"
    assert notes == []


@pytest.mark.parametrize(("given", "fragment"), [("ftp://h:1", "unsupported scheme 'ftp'"), (":9925", "names no host")])
def test_unusable_urls_are_config_errors(given: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        resolve_connection(args(url=given), {}, note=lambda _: None)


def test_credentials_follow_the_same_server_with_or_without_scheme() -> None:
    environ = {"DEPLOYTUI_URL": "http://127.0.0.1:9", "DEPLOYTUI_USER": "ci", "DEPLOYTUI_PASSWORD": "pw"}
    settings = resolve_connection(args(url="127.0.0.1:9"), environ, note=lambda _: None)
    assert (settings.url, settings.user, settings.password) == ("http://127.0.0.1:9", "ci", "pw")
