"""The "+N new lines" badge shown over the install log while follow is paused."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.message import Message
from textual.widgets import Static

from deploytui.tui.widgets.install_log.render import group_thousands

if TYPE_CHECKING:
    from textual import events

__all__ = ["NewLinesBadge"]


class NewLinesBadge(Static):
    """The "+N new lines" overlay shown while follow is paused; clicking it resumes follow."""

    DEFAULT_CSS = """
    NewLinesBadge {
        layer: overlay;
        width: auto;
        height: 1;
        padding: 0 1;
        margin: 0 2 1 0;
        background: $accent;
        color: auto 90%;
        text-style: bold;
        display: none;
    }
    NewLinesBadge.-visible { display: block; }
    NewLinesBadge:hover { background: $accent-lighten-1; }
    """

    class Clicked(Message):
        """The user clicked the badge."""

    def show_count(self, count: int) -> None:
        """Show ``+count`` (or hide the badge when nothing waits)."""
        self.set_class(count > 0, "-visible")
        if count:
            self.update(f"↓ +{group_thousands(count)} new line{'s' if count != 1 else ''} · G")

    def on_click(self, event: events.Click) -> None:
        event.stop()
        self.post_message(self.Clicked())
