"""Small modal dialogs: a yes/no confirmation for destructive actions, and a one-line prompt.

Texts that come from a server (project names, ids) are passed as ``rich.text.Text`` or plain strings
and shown literally.
"""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from deploytui.tui.widgets.formatting import clean

_DIALOG_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 70; max-width: 95%; height: auto;
    border: thick $accent; background: $surface; padding: 1 2;
}}
{name} .dialog--title {{ text-style: bold; margin-bottom: 1; }}
{name} .dialog--body {{ margin-bottom: 1; }}
{name} .dialog--buttons {{ height: auto; align-horizontal: right; }}
{name} .dialog--buttons Button {{ margin-left: 2; }}
"""


class ConfirmScreen(ModalScreen[bool]):
    """Ask before doing something that cannot be undone; ``y``/enter confirms, ``n``/escape cancels."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="ConfirmScreen") + """
    ConfirmScreen > Vertical { border: thick $warning; }
    """
    BINDINGS = [
        Binding("y", "confirm", "Yes", id="confirm.yes"),
        Binding("n,escape", "cancel", "No", id="confirm.no"),
    ]

    def __init__(self, title: str, body: str | Text, confirm_label: str = "Yes", *, danger: bool = True) -> None:
        super().__init__()
        self.title_text = title
        self.body = body if isinstance(body, Text) else Text(clean(body))
        self.confirm_label = confirm_label
        self.danger = danger

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), classes="dialog--title")
            yield Static(self.body, classes="dialog--body")
            with Horizontal(classes="dialog--buttons"):
                yield Button("Cancel (n)", id="cancel")
                yield Button(f"{self.confirm_label} (y)", id="confirm", variant="error" if self.danger else "primary")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class PromptScreen(ModalScreen["str | None"]):
    """Ask for one line of text (a path, an id); enter accepts, escape cancels (None)."""

    DEFAULT_CSS = _DIALOG_CSS.format(name="PromptScreen")
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="prompt.cancel")]

    def __init__(self, title: str, label: str, value: str = "") -> None:
        super().__init__()
        self.title_text = title
        self.label = label
        self.value = value

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), classes="dialog--title")
            yield Static(Text(self.label), classes="dialog--body")
            yield Input(self.value, id="prompt-input")

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)
