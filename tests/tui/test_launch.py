"""The dashboard's launcher (tui/launch.py): what it sets up around the app for its process."""

from __future__ import annotations

import gc
import sys

from deploytui.cli import build_parser
from deploytui.tui.launch import FRAME_SWITCH_INTERVAL_S, run


class RecordingApp:
    """Stands in for the app: records what the process looks like while it runs."""

    def __init__(self, seen: list[float]) -> None:
        self.seen = seen

    def run(self) -> int:
        self.seen.append(sys.getswitchinterval())
        return 0


def test_the_gil_is_handed_over_often_while_the_dashboard_runs_and_as_before_after() -> None:
    before, thresholds = sys.getswitchinterval(), gc.get_threshold()
    seen: list[float] = []
    args = build_parser().parse_args(["--url", "http://127.0.0.1:9", "--user", "a", "--password", "b"])
    try:
        assert run(args, app_factory=lambda _settings, **_options: RecordingApp(seen)) == 0
    finally:
        gc.set_threshold(*thresholds)  # the launcher tunes the GC of its process (this one, here)
    assert seen == [FRAME_SWITCH_INTERVAL_S]  # Textual's writer thread gets frames out
    assert sys.getswitchinterval() == before


def test_the_way_to_the_lists_first_frame_imports_no_http_client_and_no_toml_parser() -> None:
    """What the list's first frame waits for: httpx (~0.1 s) comes after it, http.client on the
    first rows' own thread, tomllib only when a settings or contexts file exists."""
    import subprocess

    modules = ("deploytui.cli", "deploytui.tui.launch", "deploytui.config", "deploytui.tui.first_rows",
               "deploytui.tui.app", "deploytui.tui.screens.deployments")
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + "print(sorted(m for m in ('httpx', 'http.client', 'tomllib') if m in sys.modules))")
    imported = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert imported.strip() == "[]"
