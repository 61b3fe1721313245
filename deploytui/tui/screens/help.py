"""The ``?`` help screen: every key binding of the screen underneath, with what it does and its id.

Bindings are read from the live DOM — the app, the screen, and every widget on it — so the list is
always what the keys really do (a user keymap included). The id column is what a keymap remaps: the
footer says where that file is (``keymap.toml`` next to ``contexts.toml``). Columns are sized to
what they hold, the ids never cut; on a narrow terminal the dialog takes the whole width.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

if TYPE_CHECKING:
    from textual.dom import DOMNode
    from textual.screen import Screen

_WHERE = {
    "DeploytuiApp": "everywhere",
    "DeploymentsScreen": "deployments",
    "DeploymentScreen": "deployment",
    "DeploymentsTable": "list",
    "LineList": "output",
    "InstallLog": "output",
    "SearchBar": "search bar",
    "EventsLog": "events",
    "PeersTable": "peers",
}
KEYMAP_FILE = "keymap.toml"
"""The user keymap, in the folder of ``contexts.toml`` (deploytui.tui.settings reads it)."""
_SKIP_CLASSES = {"Input", "TabbedContent", "Tabs", "ContentTabs", "Footer", "KeyFooter", "HelpScreen", "ScrollableContainer"}


def collect_bindings(screen: Screen) -> list[tuple[str, str, str, str]]:
    """``(keys, description, where, id)`` for every described binding reachable on ``screen``."""
    nodes: list[DOMNode] = [screen.app, screen]
    seen_classes: set[str] = set()
    for widget in screen.query("*"):
        name = type(widget).__name__
        if name in seen_classes or name in _SKIP_CLASSES or not widget._bindings.key_to_bindings:
            continue
        seen_classes.add(name)
        nodes.append(widget)
    rows: list[tuple[str, str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    app = screen.app
    reasons = screen.unavailable_reasons() if hasattr(screen, "unavailable_reasons") else {}
    for node in nodes:
        where = _WHERE.get(type(node).__name__, type(node).__name__)
        by_action: dict[tuple[str, str], list[str]] = {}
        order: list[tuple[str, str]] = []
        for key, bindings in node._bindings.key_to_bindings.items():
            for binding in bindings:
                if not binding.description:
                    continue
                ident = (binding.action, binding.description)
                if ident not in by_action:
                    by_action[ident] = []
                    order.append(ident)
                by_action[ident].append(app.get_key_display(binding.with_key(key)) if hasattr(binding, "with_key") else key)
        for ident in order:
            keys = " ".join(dict.fromkeys(by_action[ident]))
            binding = next(b for bs in node._bindings.key_to_bindings.values() for b in bs if (b.action, b.description) == ident)
            marker = (where, ident[0])
            if marker in seen:
                continue
            seen.add(marker)
            why = reasons.get(ident[0])  # e.g. a server without the operation
            rows.append((keys, f"{ident[1]} ({why})" if why else ident[1], where, binding.id or ""))
    return rows


def remap_hint() -> Text:
    """Where a user remaps keys: ``keymap.toml`` in the config folder, by the ids of the table."""
    from deploytui.config import config_path

    folder = str(config_path().parent)
    home = str(Path.home())
    if folder.startswith(home + "/"):
        folder = "~" + folder[len(home):]
    hint = Text("Remap a key: ")
    hint.append(f"{KEYMAP_FILE} in {folder}", style="bold")
    hint.append(', one line per id, e.g. deployment.zoom = "Z" · ctrl+p: palette · esc: close')
    return hint


class HelpScreen(ModalScreen[None]):
    """Every binding of the screen below, as a table; ``escape``, ``q`` or ``?`` close it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > Vertical {
        width: 90%; max-width: 110; height: 90%;
        border: round $accent; background: $surface; padding: 0 1;
    }
    HelpScreen #help-title { height: 1; text-style: bold; color: $accent; }
    HelpScreen #help-hint { height: 1; color: $foreground-muted; }
    HelpScreen #help-hint { height: auto; }
    HelpScreen DataTable { height: 1fr; }
    HelpScreen.-narrow > Vertical { width: 100%; height: 100%; border: none; }
    """
    BINDINGS = [
        Binding("escape,q", "close", "Close", id="help.close"),
    ]

    def __init__(self, target: Screen) -> None:
        super().__init__()
        self.target = target

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Keys of the {_WHERE.get(type(self.target).__name__, 'current')} screen"), id="help-title")
            yield DataTable(id="help-table", cursor_type="row", zebra_stripes=True)
            yield Static(remap_hint(), id="help-hint")

    def on_mount(self) -> None:
        rows = collect_bindings(self.target)
        self.set_class(self.app.size.width < 100, "-narrow")
        # Room: the dialog's width (90%, at most 110; all of a narrow terminal) less its frame and the
        # scrollbar; each column takes two cells of padding besides its own width.
        room = (self.app.size.width if self.app.size.width < 100 else min(110, self.app.size.width * 9 // 10) - 4) - 2
        widths = {name: max([len(name)] + [len(row[i]) for row in rows]) for i, name in enumerate(("Key", "Action", "Where", "Id"))}
        widths["Key"] = min(widths["Key"], 14)
        widths["Where"] = min(widths["Where"], 12)
        # Too narrow for every column whole (60 columns): "Where" goes before an id is cut.
        names = ["Key", "Action", "Where", "Id"]
        if room - sum(widths[name] + 2 for name in ("Key", "Where", "Id")) < 12 + 2:
            names.remove("Where")
        widths["Action"] = max(12, min(widths["Action"], room - sum(widths[name] + 2 for name in names if name != "Action") - 2))
        table = self.query_one(DataTable)
        for name in names:
            table.add_column(name, key=name.lower(), width=widths[name])
        for keys, description, where, ident in rows:
            cells = {"Key": Text(keys, style="bold"), "Action": Text(description), "Where": Text(where, style="dim"),
                     "Id": Text(ident, style="dim")}
            table.add_row(*(cells[name] for name in names))
        table.focus()

    def action_close(self) -> None:
        self.dismiss()
