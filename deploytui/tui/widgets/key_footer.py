"""The footer: Textual's, rebuilt only when the keys it shows change."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.app import ComposeResult
    from textual.screen import Screen


HELD_WAIT_S = 1.0
"""How long key changes wait while the footer is held (a stream busy for minutes must not leave
the keys stale)."""


class KeyFooter(Footer):
    """Textual's :class:`~textual.widgets.Footer`, recomposed only when what it shows changes.

    Textual's footer rebuilds every key on each bindings refresh (focus moving, a row fetched, a
    stream ending, an operation learned): a dozen widgets mounted and the screen laid out again,
    20–40 ms each, a dozen times while a deployment opens. Here refreshes that arrive together
    rebuild once, and a refresh that leaves the keys, labels and enabled states as shown costs one
    comparison.
    """

    _shown: tuple | None = None
    _pending = False
    _held = False
    _missed = False

    def compose(self) -> ComposeResult:
        # Whatever recomposes the footer (a refresh here, a reactive of Footer's), what it showed.
        self._shown = self._keys_on_show()
        yield from super().compose()

    def hold(self, held: bool) -> None:
        """While held (a busy replay pouring in), key changes wait, at most :data:`HELD_WAIT_S`:
        a rebuild is a layout pass of the whole screen in the middle of it. Released, the footer
        catches up once."""
        self._held = held
        if not held:
            self._catch_up()

    def bindings_changed(self, screen: Screen) -> None:
        self._bindings_ready = True
        if self._held:
            if not self._missed:
                self._missed = True
                self.set_timer(HELD_WAIT_S, self._catch_up, name="footer-held")
            return
        if not screen.app.app_focus or not self.is_attached or screen is not self.screen or self._pending:
            return
        self._pending = True
        self.call_after_refresh(self._recompose_if_changed)

    def _catch_up(self) -> None:
        """Show the changes that waited (released, or held for too long)."""
        if self._missed and self.is_attached:
            self._missed = False
            held, self._held = self._held, False
            self.bindings_changed(self.screen)
            self._held = held

    def _recompose_if_changed(self) -> None:
        self._pending = False
        if self.is_attached and self._keys_on_show() != self._shown:
            # Recomposed by the footer's own message loop: Footer's keys bind data to the widget
            # that composes them, which must then be the footer.
            self.refresh(recompose=True)

    def _keys_on_show(self) -> tuple:
        """What :meth:`Footer.compose` reads from the screen's bindings, as one comparable value."""
        if not self._bindings_ready:
            return ()
        app = self.app
        return tuple(
            (binding.key, binding.action, binding.description, binding.show, enabled, tooltip,
             app.get_key_display(binding), binding.group)
            for (_node, binding, enabled, tooltip) in self.screen.active_bindings.values()
            if binding.show or binding.action == "command_palette"
        )
