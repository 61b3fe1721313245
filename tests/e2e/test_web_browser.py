"""``deploytui web`` in a real browser: Debian's Chromium driven by Playwright for Python.

The presenter's flow, all real: ``deploytui web --data-dir D`` starts D's local server and serves the
dashboard; a demo is deployed to it with ``deploytui demo``; a second deploy is left running (its
install waits for a file the test creates). In the browser, the page loads, the deployments list
shows both, Enter opens the running one, its first install lines are on screen while the install
is still waiting, and the rest stream in once it goes on. A screenshot is taken of that page and saved
(with ``DEPLOYTUI_UPDATE_SCREENSHOTS=1``, as ``screenshots/web-dashboard.png``, which the README shows).

The screen is read from the page's own xterm.js terminal, which textual-serve draws on a canvas: the
test serves the page's script with one change, keeping a reference to its terminal on ``window``.

No browser is downloaded (``playwright install`` is never needed): Chromium comes from the system
(``$DEPLOYTUI_CHROMIUM``, else ``chromium`` on the PATH). Without it or Playwright the test is skipped,
saying how to install them; with ``DEPLOYTUI_REQUIRE_BROWSER=1`` (as ``.ci/run`` sets) that is a failure.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from deploytui.client.local import find_running_server
from tests.e2e.cli_support import python_command, run_cli
from tests.e2e.local_support import start_deploy, stop_servers
from tests.e2e.web_support import web_process

ROOT = Path(__file__).resolve().parents[2]
SCREENSHOT = ROOT / "screenshots" / "web-dashboard.png"
INSTALL_HOW = ("needs Chromium and Playwright for Python, with no browser download: "
               "`apt-get install -y chromium` (or DEPLOYTUI_CHROMIUM=/path/to/chromium) and "
               "`pip install playwright` (in the `test` extra: pip install -e '.[test]')")
WAIT_MS = 20_000
"""A safety net for each wait on the page (each waits for what it names, not for time)."""

# The page's script keeps its xterm.js terminal to itself; the test's copy also hands it to window.
TERMINAL_OPENED = "this.terminal.open(e),"
EXPOSE_TERMINAL = TERMINAL_OPENED + "window.deploytuiTerminal=this.terminal,"
READ_SCREEN = """() => {
  const terminal = window.deploytuiTerminal;
  if (!terminal) return "";
  const buffer = terminal.buffer.active, rows = [];
  for (let y = 0; y < terminal.rows; y++) {
    const line = buffer.getLine(buffer.viewportY + y);
    rows.push(line ? line.translateToString(true) : "");
  }
  return rows.join("\\n");
}"""

BEFORE = ["resolving 3 dependencies", "fetched left-pad@1.3.0", "fetched is-odd@3.0.1", "fetched kleur@4.1.5",
          "linking 3 packages"]
AFTER = ["built web/index.html", "added 3 packages in 0.4s"]


def chromium_or_skip() -> tuple[Any, str]:
    """(playwright's sync_playwright, the Chromium executable), or a skip saying how to install them
    (a failure when DEPLOYTUI_REQUIRE_BROWSER=1)."""
    missing = []
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        sync_playwright = None
        missing.append("Playwright for Python")
    executable = os.environ.get("DEPLOYTUI_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not executable:
        missing.append("Chromium")
    if missing:
        reason = f"browser test: no {' and no '.join(missing)}; it {INSTALL_HOW}"
        if os.environ.get("DEPLOYTUI_REQUIRE_BROWSER") == "1":
            pytest.fail(f"DEPLOYTUI_REQUIRE_BROWSER=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    return sync_playwright, executable


def gated_npm_install(gate: Path) -> str:
    """An install printing npm-like lines, waiting for ``gate`` to exist half way."""
    code = (f"import os, time\nfor line in {BEFORE!r}:\n print(line, flush=True)\n"
            f"while not os.path.exists({str(gate)!r}):\n time.sleep(0.05)\n"
            f"for line in {AFTER!r}:\n print(line, flush=True)\n")
    return python_command(code)


@pytest.fixture
def data_dir(tmp_path: Path) -> Iterator[Path]:
    """A data dir whose local server (started by ``deploytui web``) is stopped afterwards."""
    path = tmp_path / "data"
    yield path
    stop_servers(path)


def test_the_dashboard_in_a_browser(data_dir: Path, tmp_path: Path) -> None:
    sync_playwright, chromium = chromium_or_skip()
    gate = tmp_path / "go-on"
    with web_process("--data-dir", str(data_dir)) as (url, lines):
        assert url.startswith("http://127.0.0.1:"), lines
        server = find_running_server(data_dir)
        assert server is not None, "".join(lines)
        demo = run_cli(None, "demo", "hello", "--data-dir", str(data_dir))
        assert demo.returncode == 0, demo.stdout + demo.stderr
        running = start_deploy(server, "live", gated_npm_install(gate))

        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=chromium)
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 720})
                page.set_default_timeout(WAIT_MS)
                page.route("**/*", lambda route: route.continue_() if urlsplit(route.request.url).hostname
                           == "127.0.0.1" else route.abort())  # the page's web font: no network here

                def expose_terminal(route: Any) -> None:
                    served = route.fetch()
                    script = served.text()
                    assert script.count(TERMINAL_OPENED) == 1, "textual-serve's textual.js changed: update EXPOSE_TERMINAL"
                    route.fulfill(response=served, body=script.replace(TERMINAL_OPENED, EXPOSE_TERMINAL))

                page.route("**/static/js/textual.js", expose_terminal)

                def screen() -> str:
                    return str(page.evaluate(READ_SCREEN))

                def wait_for_screen(*texts: str) -> str:
                    try:
                        page.wait_for_function(f"(texts) => {{ const s = ({READ_SCREEN})(); "
                                               "return texts.every((t) => s.includes(t)); }", arg=list(texts))
                    except Exception as exc:
                        raise AssertionError(f"{texts} never all on the page; it shows:\n{screen()}") from exc
                    return screen()

                page.goto(url)
                # The list: both deployments, the running one (the newest) first, under the cursor.
                shown = wait_for_screen("deploytui", running[:8], "live", "hello", "success")
                assert shown.index("live") < shown.index("hello"), shown
                # Keys open it: the page's terminal takes them as a presenter's keyboard would.
                page.locator(".xterm-helper-textarea").focus()
                page.keyboard.press("Enter")
                shown = wait_for_screen(running, *BEFORE)
                assert not any(line in shown for line in AFTER), shown  # the install is still waiting
                page.screenshot(path=str(tmp_path / "web-dashboard-running.png"))
                gate.touch()
                shown = wait_for_screen(*AFTER)
                assert all(line in shown for line in BEFORE), shown
                page.screenshot(path=str(tmp_path / "web-dashboard.png"))
            finally:
                browser.close()
    if os.environ.get("DEPLOYTUI_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(tmp_path / "web-dashboard-running.png", SCREENSHOT)
