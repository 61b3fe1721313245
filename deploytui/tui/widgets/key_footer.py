"""The footer: the screen's keys on one line, repainted (never rebuilt) when they change."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widget import Widget

from deploytui.tui.glyphs import pick

if TYPE_CHECKING:
    from textual.screen import Screen

DIM = Style(dim=True)


@dataclass(frozen=True, slots=True)
class ShownKey:
    """One key as the footer shows it."""

    key: str
    display: str
    description: str
    enabled: bool


@dataclass(frozen=True, slots=True)
class _Span:
    """The columns ``[start, end)`` a key occupies, as last rendered (clicks find keys by these)."""

    start: int
    end: int
    key: ShownKey


class KeyFooter(Widget, can_focus=False):
    """The keys the screen's bindings show, with their descriptions, on one line; the command
    palette's key on the right. A click on a key presses it.

    Textual's :class:`~textual.widgets.Footer` mounts a widget per key and lays the whole screen out
    again whenever the bindings change (focus moving, a row fetched, a stream ending, an operation
    learned): 30–80 ms each, and its first rebuild sits between a screen's mount and its first
    frame. Here a change that shows differently is a repaint of one line, and the first frame
    already has the keys: they are read from the screen's bindings as the line renders.
    """

    ALLOW_SELECT = False
    COMPONENT_CLASSES = {
        "key-footer--key",
        "key-footer--description",
        "key-footer--hover",
        "key-footer--separator",
    }
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        width: 1fr;
        color: $footer-foreground;
        background: $footer-background;
        .key-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        .key-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        .key-footer--hover {
            background: $block-hover-background;
        }
        .key-footer--separator {
            color: $foreground 20%;
        }
    }
    """

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._shown: tuple[tuple[ShownKey, ...], ShownKey | None] | None = None
        self._spans: list[_Span] = []
        self._hover: str | None = None  # the key under the mouse

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen) -> None:
        if self.is_attached and screen is self.screen and self.keys() != self._shown:
            self.refresh()

    def keys(self) -> tuple[tuple[ShownKey, ...], ShownKey | None]:
        """What the screen's bindings show now: the keys (one per action, as bound first), and the
        command palette's key (None without one)."""
        app = self.app
        active = self.screen.active_bindings
        keys: dict[str, ShownKey] = {}
        for _node, binding, enabled, _tooltip in active.values():
            if binding.show and binding.action not in keys:
                keys[binding.action] = ShownKey(binding.key, app.get_key_display(binding), binding.description,
                                                 enabled)
        palette = None
        if app.ENABLE_COMMAND_PALETTE and (found := active.get(app.COMMAND_PALETTE_BINDING)) is not None:
            _node, binding, enabled, _tooltip = found
            palette = ShownKey(binding.key, app.get_key_display(binding), binding.description, enabled)
        return tuple(keys.values()), palette

    def render(self) -> Text:
        self._shown = keys, palette = self.keys()
        width = self.size.width
        right = Text() if palette is None else Text.assemble(
            (pick("▏", "|"), self.get_component_rich_style("key-footer--separator")), self._item(palette, pad=False))
        line = Text(no_wrap=True, overflow="crop", end="")
        spans: list[_Span] = []
        room = max(0, width - right.cell_len)
        for key in keys:
            item = self._item(key)
            if line.cell_len + item.cell_len > room:
                break
            spans.append(_Span(line.cell_len, line.cell_len + item.cell_len, key))
            line.append_text(item)
        if palette is not None:
            line.append(" " * max(0, width - line.cell_len - right.cell_len))
            start = line.cell_len + 1  # after the separator
            spans.append(_Span(start, start + right.cell_len - 1, palette))
            line.append_text(right)
        self._spans = spans
        return line

    def _item(self, key: ShownKey, *, pad: bool = True) -> Text:
        """`` key description `` with the key's and the description's styles (dim when disabled);
        without ``pad``, ``key description`` (the palette's, as Textual's footer shows it)."""
        key_style = self.get_component_rich_style("key-footer--key")
        description_style = self.get_component_rich_style("key-footer--description")
        shown = f" {key.display} " if pad else key.display
        description = (f"{key.description} " if pad else f" {key.description}") if key.description else ""
        item = Text.assemble((shown, key_style), (description, description_style))
        if key.key == self._hover and key.enabled:
            item.stylize(self.get_component_rich_style("key-footer--hover", partial=True))
        if not key.enabled:
            item.stylize(DIM)
        return item

    def key_at(self, x: int) -> ShownKey | None:
        """The key shown at column ``x``, if any."""
        return next((span.key for span in self._spans if span.start <= x < span.end), None)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        key = self.key_at(event.x)
        if key is None:
            return
        if key.enabled:
            self.app.simulate_key(key.key)
        else:
            self.app.bell()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        key = self.key_at(event.x)
        self._set_hover(key.key if key is not None else None)

    def on_leave(self, event: events.Leave) -> None:
        self._set_hover(None)

    def _set_hover(self, key: str | None) -> None:
        if key != self._hover:
            self._hover = key
            self.refresh()
