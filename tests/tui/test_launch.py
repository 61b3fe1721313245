"""The dashboard's launcher (tui/launch.py): what it sets up around the app for its process."""

from __future__ import annotations

import gc
import sys

from deploytui.cli import build_parser
from deploytui.tui.launch import FRAME_SWITCH_INTERVAL_S, run


class RecordingApp:
    """Stands in for the app: records what the process looks like while it runs."""

    seen: list[float] = []

    def __init__(self, settings: object, **_options: object) -> None:
        self.settings = settings

    def run(self) -> int:
        RecordingApp.seen.append(sys.getswitchinterval())
        return 0


def test_the_gil_is_handed_over_often_while_the_dashboard_runs_and_as_before_after() -> None:
    before, thresholds = sys.getswitchinterval(), gc.get_threshold()
    args = build_parser().parse_args(["--url", "http://127.0.0.1:9", "--user", "a", "--password", "b"])
    try:
        assert run(args, app_factory=RecordingApp) == 0
    finally:
        gc.set_threshold(*thresholds)  # the launcher tunes the GC of its process (this one, here)
    assert RecordingApp.seen == [FRAME_SWITCH_INTERVAL_S]  # Textual's writer thread gets frames out
    assert sys.getswitchinterval() == before
