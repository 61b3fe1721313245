"""The list's first rows, asked for at launch (tui/first_rows.py), on a real server.

The answer asked while the dashboard starts is what the list shows first, only for the server it
was asked of; a failure is no answer, so the list's own poll asks (and says what is wrong).
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import pytest

from deploytui.client.api import ConnectionSettings
from deploytui.client.local import LocalServer
from deploytui.client.plain_http import post_operation
from deploytui.tui.first_rows import HEAD_LIMIT, FirstRows
from tests.conftest import start_server
from tests.e2e.local_support import start_deploy
from tests.tui.app_harness import live_app, screen_text, wait_for

QUIET = {"poll_interval": 60.0, "fast_poll_interval": 60.0}  # no second poll within a test


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    srv = start_server(tmp_path_factory.mktemp("first-rows") / "data")
    start_deploy(srv, "early", "true")
    yield srv
    srv.stop()


def settings_of(srv: LocalServer, password: str | None = None) -> ConnectionSettings:
    return ConnectionSettings(srv.url, user=srv.user, password=password or srv.password)


async def test_the_answer_is_the_newest_summary_rows(server: LocalServer) -> None:
    answer = await FirstRows(settings_of(server)).take(10)
    assert answer is not None and 1 <= len(answer["deployments"]) <= HEAD_LIMIT
    assert all("event_log" not in row for row in answer["deployments"])  # summary rows


async def test_the_list_first_shows_the_answer_asked_at_launch(server: LocalServer) -> None:
    first = FirstRows(settings_of(server))
    await asyncio.wrap_future(first._answer)  # answered before the next deploy exists
    later = await asyncio.to_thread(start_deploy, server, "later", "true")
    app = live_app(server, first_rows=first, **QUIET)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "early" in screen_text(app), what="the rows asked at launch")
        assert later[:8] not in screen_text(app) and "later" not in screen_text(app)
        assert app.first_rows is None  # taken once: every later poll asks the server


async def test_an_answer_from_another_server_is_not_shown(server: LocalServer, tmp_path) -> None:
    other = start_server(tmp_path / "other")
    try:
        first = FirstRows(settings_of(other))
        await asyncio.wrap_future(first._answer)
    finally:
        other.stop()
    app = live_app(server, first_rows=first, **QUIET)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "early" in screen_text(app), what="this server's rows")


async def test_failures_are_no_answer_and_the_poll_says_what_is_wrong(server: LocalServer) -> None:
    assert await FirstRows(settings_of(server, password="wrong")).take(10) is None
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        nobody = ConnectionSettings(f"http://127.0.0.1:{sock.getsockname()[1]}", user="a", password="b")
        assert await FirstRows(nobody).take(10) is None
    wrong = settings_of(server, password="wrong")
    app = live_app(server, first_rows=FirstRows(wrong), **QUIET)
    app.settings = wrong
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: "password" in screen_text(app).lower(), what="the refusal, said")


async def test_an_operation_token_is_sent_as_bearer(server: LocalServer) -> None:
    tokens = post_operation(ConnectionSettings(server.url), "create_authentication_tokens",
                            username=server.user, password=server.password)
    answer = await FirstRows(ConnectionSettings(server.url, token=tokens["operation_token"])).take(10)
    assert answer is not None and answer["deployments"]
    assert await FirstRows(ConnectionSettings(server.url, token="not-a-token")).take(10) is None


async def test_a_non_ascii_password_is_sent_as_utf8_and_refused_when_wrong(server: LocalServer) -> None:
    assert await FirstRows(settings_of(server, password="pässwörd")).take(10) is None


async def test_an_answer_that_is_not_json_or_not_2xx_is_no_answer() -> None:
    import http.server
    import threading

    class Garbage(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            status, body = (200, b"<html>a proxy's login page</html>") if self.path == "/" else (500, b"{}")
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None: ...

    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Garbage)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{httpd.server_address[1]}"
        assert await FirstRows(ConnectionSettings(base, user="a", password="b")).take(10) is None
        assert await FirstRows(ConnectionSettings(base + "/api", user="a", password="b")).take(10) is None
    finally:
        httpd.shutdown()
        httpd.server_close()


async def test_the_api_client_is_imported_only_after_a_frame_with_the_rows(server: LocalServer, monkeypatch) -> None:
    """httpx's import (a tenth of a second of CPU, on a thread) must not compete with the first
    frame: it starts once a frame showing the launch's rows has been rendered, not after a render
    Textual skipped inside its start-up batch."""
    import importlib

    from textual.app import App

    from deploytui.tui.screens import deployments

    frames_with_rows = 0
    at_import: list[int] = []
    display = App._display

    def counting_display(self: App, screen, renderable) -> None:
        nonlocal frames_with_rows
        if renderable is not None and screen is self.screen and getattr(screen, "_fetched", False):
            frames_with_rows += 1
        display(self, screen, renderable)

    class RecordingImportlib:
        @staticmethod
        def import_module(name: str):
            at_import.append(frames_with_rows)
            return importlib.import_module(name)

    monkeypatch.setattr(App, "_display", counting_display)
    monkeypatch.setattr(deployments, "importlib", RecordingImportlib)
    first = FirstRows(settings_of(server))
    await asyncio.wrap_future(first._answer)  # ready as the screen mounts, as at a real launch
    app = live_app(server, first_rows=first, **QUIET)
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: bool(at_import), what="the API client's import")
    assert at_import[0] >= 1
