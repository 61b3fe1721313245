"""Open the dashboard: resolve which server to talk to, find or start the local one if needed, run the app.

``deploytui`` with no connection option uses the local server of the data dir: the one already
running there, shared with every other console, or, when none runs, one started on demand
(detached from this terminal, see :mod:`deploytui.client.local`). The dashboard never stops it:
quitting, a closed terminal or a dropped SSH session leave its deploys running, and it stops by
itself once no client and no deploy needs it. ``--url``/``--context`` connect elsewhere and start
nothing.

The TUI never imports server code: the data dir rule lives in :mod:`deploytui.protocol.local`.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from deploytui.client.api import ConnectionSettings

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


def resolve_connection(args: argparse.Namespace) -> ConnectionSettings | None:
    """The server the flags, environment or ``--context`` name; None means "use the local server"."""
    from deploytui.config import resolve_connection as from_config

    return from_config(args)


def tune_gc() -> None:
    """Collect the young generation less often in the dashboard's process.

    A chatty install holds a hundred thousand small line objects; with CPython's default
    thresholds, full collections walking them stalled the UI for 150+ ms at a time while lines
    poured in (bench/bench_dashboard_install.py). The line objects hold no reference cycles, so
    collecting less often frees nothing later than it should.
    """
    gc.set_threshold(50_000, 20, 100)


FRAME_SWITCH_INTERVAL_S = 0.0005
"""CPython's switch interval while the dashboard runs (its default is 5 ms): see :func:`frame_switching`."""


@contextlib.contextmanager
def frame_switching() -> Iterator[None]:
    """Have the interpreter hand the GIL over every :data:`FRAME_SWITCH_INTERVAL_S` while the
    dashboard runs.

    Textual writes each frame from its own thread, which needs the GIL for every step of the write.
    While the loop was busy (laying the screen out again after the first frame, a replay's
    batches), each step waited up to the switch interval: the list's first frame reached the
    terminal a median 11 ms after it was rendered (1.6 ms for a one-label app); 1.6 ms with this.
    """
    interval = sys.getswitchinterval()
    sys.setswitchinterval(min(interval, FRAME_SWITCH_INTERVAL_S))
    try:
        yield
    finally:
        sys.setswitchinterval(interval)


def check_theme(name: str | None) -> str | None:
    """What is wrong with ``--theme name`` (None when nothing): it must be one of Textual's themes."""
    if not name:
        return None
    from textual.theme import BUILTIN_THEMES

    if name in BUILTIN_THEMES:
        return None
    light = ", ".join(n for n, theme in BUILTIN_THEMES.items() if not theme.dark)
    return f"no theme named {name!r}; light ones (for projectors): {light}; dark ones: " + ", ".join(
        n for n, theme in BUILTIN_THEMES.items() if theme.dark)


def user_settings(args: argparse.Namespace) -> dict[str, object]:
    """settings.toml and keymap.toml of the user config dir, and whether to draw ASCII (``--ascii``,
    the setting, else ``TERM=linux``): the app's ``user_settings`` and ``ascii`` arguments."""
    from deploytui.tui.glyphs import ascii_wanted
    from deploytui.tui.settings import load_settings, settings_dir

    prefs = load_settings(settings_dir())
    return {"user_settings": prefs, "ascii": ascii_wanted(getattr(args, "ascii", False), prefs.ascii)}


def run(args: argparse.Namespace, *, app_factory: Callable[..., object] | None = None) -> int:
    """Entry point of ``deploytui`` without a subcommand; returns the process exit code."""
    tune_gc()
    problem = check_theme(getattr(args, "theme", None))
    if problem:
        print(f"deploytui: {problem}", file=sys.stderr)
        return EXIT_USAGE
    try:
        settings = resolve_connection(args)
    except Exception as exc:  # config errors (a bad contexts file) must read as a message, not a traceback
        print(f"deploytui: {exc}", file=sys.stderr)
        return EXIT_USAGE

    embedded = settings is None
    if settings is None:
        from deploytui.client.errors import DeploytuiError
        from deploytui.config import local_connection_for

        try:
            settings = local_connection_for(args)
        except DeploytuiError as exc:
            print(f"deploytui: {exc}", file=sys.stderr)
            print("deploytui: try `deploytui serve` to see the server's output, or connect elsewhere with --url",
                  file=sys.stderr)
            return EXIT_FAILED
    presenting: dict[str, object] = {"theme": getattr(args, "theme", None), "follow": bool(getattr(args, "follow", False))}
    if app_factory is None:
        from deploytui.tui.first_rows import FirstRows

        presenting["first_rows"] = FirstRows(settings)  # asked now: the answer overlaps Textual's start
        from deploytui.tui.app import DeploytuiApp

        app_factory = DeploytuiApp
    if getattr(args, "follow_pause", None) is not None:
        presenting["follow_pause"] = args.follow_pause
    presenting.update(user_settings(args))
    app = app_factory(settings, embedded=embedded, context=getattr(args, "context", None), **presenting)
    with frame_switching():
        result = app.run()  # type: ignore[attr-defined]
    note = getattr(app, "quit_note", None)
    if note:  # after the app has given the terminal back, so it stays on screen
        print(note, file=sys.stderr)
    return int(getattr(app, "return_code", None) or (result if isinstance(result, int) else 0) or 0)
