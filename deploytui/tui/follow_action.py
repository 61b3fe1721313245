"""Follow the action: the list opens each new deploy as it starts, and comes back when it ends.

For a presenter who deploys from another terminal (or CI) while an audience watches the dashboard:
nobody touches the keyboard. :class:`FollowAction` is a one-line bar on the deployments screen and
the mode's logic. The screen hands it every poll (:meth:`FollowAction.rows_polled`); when a deploy
it has not shown yet is running (or started since following began: a quick one may start and end
between two polls) and the list is on top, it opens it; once that deploy has ended
and its screen has shown the end of the stream, it waits ``follow_pause`` seconds (so the result
can be read) and goes back to the list, where the next poll opens the next new deploy.

It only ever closes a screen it opened itself, and only while that screen is on top: a presenter who
goes back early, or opens something else, keeps control. ``f`` on the list (or ``--follow``) turns
it on and off.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import Static

from deploytui.protocol.deployment import is_terminal

if TYPE_CHECKING:
    from textual.screen import Screen
    from textual.timer import Timer

DEFAULT_PAUSE_S = 4.0
STREAM_WAIT_S = 10.0
"""How long past the row's end to wait for the opened screen's stream to say done, at most."""
CHECK_INTERVAL_S = 0.2
CLOCK_SLACK_S = 2.0
"""A deploy that started this long before following began still counts as new (clocks differ a little)."""


def _number(value: Any) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


class FollowAction(Static):
    """The follow mode's bar and logic (see the module docstring). ``following`` switches it."""

    DEFAULT_CSS = """
    FollowAction { height: 1; padding: 0 1; display: none; background: $accent 25%; color: $text; }
    FollowAction.-on { display: block; }
    """

    following: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.shown: set[str] = set()
        """Deployments this mode opened: never opened again."""
        self.opened: Screen[Any] | None = None
        """The deployment screen this mode opened and has not closed yet."""
        self.opened_id: str | None = None
        self._ended_at: float | None = None
        self._timer: Timer | None = None
        self._started_following_at: float = 0.0

    # ------------------------------------------------------------------ switching

    def on_mount(self) -> None:
        if getattr(self.app, "follow_on_start", False):
            self.following = True

    def toggle(self) -> None:
        self.following = not self.following
        self.notify("New deploys open as they start" if self.following else "Follow mode off",
                    title="Follow", timeout=3)

    def watch_following(self, following: bool) -> None:
        self.set_class(following, "-on")
        if following:
            self._started_following_at = self._now()
            self._timer = self.set_interval(CHECK_INTERVAL_S, self._check_end, name="follow-check")
        else:
            if self._timer is not None:
                self._timer.stop()
                self._timer = None
            self.opened, self.opened_id, self._ended_at = None, None, None
        self._show()

    @property
    def pause(self) -> float:
        return float(getattr(self.app, "follow_pause", DEFAULT_PAUSE_S))

    def _now(self) -> float:
        return float(getattr(self.app, "now", lambda: 0.0)())

    def _show(self, state: str = "") -> None:
        text = Text("◉ following", style="bold")
        text.append(f"  {state}" if state else "  new deploys open as they start")
        text.append("  ·  f stops", style="dim")
        self.update(text)

    # ------------------------------------------------------------------ the polls

    def rows_polled(self, rows: list[dict[str, Any]]) -> None:
        """One poll's rows (newest first): open the oldest running deploy not shown yet."""
        if not self.following or self.opened is not None:
            return
        if self.app.screen is not self.screen:
            return  # the presenter is elsewhere (help, the deploy form, a deployment): wait
        # A quick deploy may start and end between two polls: one started since following began is
        # opened all the same, to show how it ended.
        since_ms = (self._started_following_at - CLOCK_SLACK_S) * 1000
        candidates = [r for r in rows if r.get("deployment_id") and str(r["deployment_id"]) not in self.shown
                      and (not is_terminal(r.get("status")) or _number(r.get("started_at")) >= since_ms)]
        if not candidates:
            return
        row = min(candidates, key=lambda r: _number(r.get("started_at")))
        deployment_id = str(row["deployment_id"])
        self.shown.add(deployment_id)
        self.app.open_deployment(deployment_id, row)  # type: ignore[attr-defined]
        self.opened, self.opened_id, self._ended_at = self.app.screen, deployment_id, None
        self._show(f"showing {row.get('project') or deployment_id[:8]}")

    def _check_end(self) -> None:
        """Back to the list once the opened deploy has ended and the pause has passed."""
        opened = self.opened
        if opened is None:
            return
        if opened not in self.app.screen_stack:  # the presenter went back already
            self.opened, self.opened_id, self._ended_at = None, None, None
            self._show()
            return
        row = getattr(opened, "row", {}) or {}
        state = getattr(getattr(opened, "stream_state", None), "kind", None)
        now = self._now()
        if self._ended_at is None:
            if state != "done" and not is_terminal(row.get("status")):
                return
            self._ended_at = now
        stream_done = state == "done" or now - self._ended_at >= STREAM_WAIT_S
        if not stream_done or now - self._ended_at < self.pause:
            return
        if self.app.screen is opened:
            self.app.pop_screen()
        self.opened, self.opened_id, self._ended_at = None, None, None
        self._show()
