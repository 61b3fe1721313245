"""Shared fixtures: a real embedded server on loopback (a child process on port 0, its own data dir)."""

from __future__ import annotations

import io
import os
import tarfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploytui.client.local import LocalServer, spawn_server

USER, PASSWORD = "admin", "s3cret-test-password"


WORKERS_PER_CORE = 2


def default_workers() -> int:
    """Two xdist workers per core this process may run on. A test spends most of its time waiting
    on a server or an install subprocess, so one worker a core leaves the machine half idle
    (1,097 tests on 2 cores: 4 min 13 s with 2 workers, 2 min 44 s with 4)."""
    return WORKERS_PER_CORE * len(os.sched_getaffinity(0))


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config: pytest.Config) -> None:
    """Run the suite on :func:`default_workers` unless told otherwise. Set here rather than as
    ``-n`` in addopts so that ``-p no:xdist`` still works (an ``-n`` in addopts is an unknown option
    without xdist); ``-n 0`` or ``-n N`` choose."""
    is_worker = hasattr(config, "workerinput")
    if config.pluginmanager.hasplugin("xdist") and not is_worker and config.option.numprocesses is None:
        config.option.numprocesses = default_workers()


def start_server(data_dir: Path, *, wire: str = "deploytui", extra_args: tuple[str, ...] = ()) -> LocalServer:
    return spawn_server(data_dir, wire=wire, user=USER, password=PASSWORD, extra_args=extra_args)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LocalServer]:
    """A fresh server in deploytui wire mode."""
    srv = start_server(tmp_path / "data")
    yield srv
    srv.stop()


@pytest.fixture
def harper_server(tmp_path: Path) -> Iterator[LocalServer]:
    """A fresh server reproducing Harper 5.1's wire (no ids, no keepalives)."""
    srv = start_server(tmp_path / "data", wire="harper")
    yield srv
    srv.stop()


def make_tarball(files: dict[str, str | bytes], *, prefix: str = "") -> bytes:
    """A gzipped tarball of ``files`` (path -> content), as ``npm pack`` or our packer makes them."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(prefix + name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def op(srv: LocalServer, body: dict, **kw) -> httpx.Response:
    """POST one operation as JSON with Basic auth."""
    return httpx.post(srv.url + "/", json=body, auth=(srv.user, srv.password), timeout=60, **kw)
