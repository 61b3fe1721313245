"""The top bar of the deployments screen and the "server unreachable" banner.

:class:`ServerStatus` shows which server this is (URL, embedded or remote, version from
``registration_info``) and whether it answers. :class:`ConnectionBanner` appears when the server
stops answering and goes away by itself when it is back.
"""

from __future__ import annotations

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

import deploytui.tui.widgets.formatting as fmt


class ServerStatus(Static):
    """``● http://127.0.0.1:41234/ · embedded · Harper 5.1.0 · 12 deployments``."""

    DEFAULT_CSS = """
    ServerStatus {
        height: 1;
        padding: 0 1;
        background: $panel;
        color: $foreground;
    }
    """

    url: reactive[str] = reactive("")
    label: reactive[str] = reactive("")
    version: reactive[str | None] = reactive(None)
    healthy: reactive[bool | None] = reactive(None)
    refused: reactive[bool] = reactive(False)
    summary: reactive[str] = reactive("")

    def render(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        if self.healthy is None:
            text.append("◌ ", style="yellow")
        elif self.healthy:
            text.append("● ", style="bold green")
        else:
            text.append("● ", style="bold red")
        text.append("deploytui ", style="bold")
        text.append(fmt.clean(self.url), style="underline")
        if self.label:
            text.append(f" · {self.label}", style="dim")
        if self.version:
            text.append(f" · Harper {fmt.clean(self.version)}", style="dim")
        if self.healthy is False:
            text.append(" · access refused" if self.refused else " · unreachable", style="bold red")
        if self.summary:
            text.append(f" · {self.summary}")
        return text


class ConnectionBanner(Static):
    """A red bar saying the server is gone and that we keep retrying; hidden while all is well."""

    DEFAULT_CSS = """
    ConnectionBanner {
        height: 1;
        text-wrap: nowrap;
        text-overflow: ellipsis;
        padding: 0 1;
        background: $error;
        color: $text;
        text-style: bold;
        display: none;
    }
    ConnectionBanner.-visible { display: block; }
    """

    def show_problem(self, message: str | None, *, refused: bool = False) -> None:
        """Show the banner with the reason (shown literally)."""
        self.add_class("-visible")
        lead = "⚠ access refused — check the user and password (or token). " if refused else "⚠ server unreachable — retrying. "
        # One line that says it is cut (…) rather than a reason that stops mid-sentence.
        text = Text(lead, style="bold", no_wrap=True, overflow="ellipsis", end="")
        reason = fmt.clean(message or "no answer")
        text.append(reason, style="")
        self.tooltip = reason
        self.update(text)

    def clear_problem(self) -> None:
        self.remove_class("-visible")
