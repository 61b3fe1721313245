"""``deploytui web``'s guard, over real HTTP: whoever opens the page drives the console, so what may
open it is checked (loopback names only, no foreign websocket origin; with --allow-remote, the token).
No browser needed: these speak HTTP to the real server process."""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx

from tests.e2e.cli_support import run_cli
from tests.e2e.web_support import web_process

WS_HEADERS = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
              "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}


def test_loopback_page_and_what_is_refused(server) -> None:
    with web_process("--url", server.url, "--user", server.user, "--password", server.password) as (url, lines):
        assert url.startswith("http://127.0.0.1:")
        said = "".join(lines)
        assert f"on {server.url}" in said and server.password not in said
        page = httpx.get(url, timeout=10)
        assert page.status_code == 200
        port = urlsplit(url).port
        assert f'ws://127.0.0.1:{port}/ws' in page.text  # the websocket of the address the browser used
        # A page of another site resolving to this machine (DNS rebinding) names its own host.
        rebound = httpx.get(url, headers={"Host": f"evil.example:{port}"}, timeout=10)
        assert rebound.status_code == 403 and "not a loopback name" in rebound.text
        # Another site's page open in the same browser may not open a session.
        foreign = httpx.get(url + "ws", headers={**WS_HEADERS, "Origin": "https://evil.example"}, timeout=10)
        assert foreign.status_code == 403 and "another site" in foreign.text


def test_allow_remote_needs_the_token(server) -> None:
    with web_process("--url", server.url, "--allow-remote") as (url, lines):
        assert "?token=" in url and "shown only now" in "".join(lines)
        bare = url.split("?")[0]
        for path in ("", "ws", "static/js/textual.js"):
            refused = httpx.get(bare + path, timeout=10)
            assert refused.status_code == 403 and "token" in refused.text, path
        wrong = httpx.get(bare + "?token=not-it", timeout=10)
        assert wrong.status_code == 403
        with httpx.Client(timeout=10) as browser:  # keeps cookies, as a browser does
            page = browser.get(url)
            assert page.status_code == 200
            assert "HttpOnly" in page.headers["set-cookie"] and "SameSite=Strict" in page.headers["set-cookie"]
            # The page's script carries no token in its URL: the cookie lets it through.
            assert browser.get(bare + "static/js/textual.js").status_code == 200


def test_usage_errors() -> None:
    remote = run_cli(None, "web", "--host", "0.0.0.0", "--port", "0")
    assert remote.returncode == 2 and "without --allow-remote" in remote.stderr
    theme = run_cli(None, "web", "--theme", "no-such-theme", "--port", "0")
    assert theme.returncode == 2 and "no theme named 'no-such-theme'" in theme.stderr
    assert "textual-light" in theme.stderr  # the light ones are named, for a projector
    # The local server of a data dir that cannot exist: said in one line, nothing served.
    nowhere = run_cli(None, "web", "--port", "0")
    assert nowhere.returncode == 1 and nowhere.stderr.startswith("deploytui web: ")
