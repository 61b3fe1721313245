"""Messages posted by :class:`~deploytui.tui.widgets.install_log.InstallLog`.

They are also reachable as ``InstallLog.FollowChanged`` etc.; the ``install_log`` namespace gives
them the handler names ``on_install_log_follow_changed``, ``on_install_log_load_history_requested``
and ``on_install_log_search_changed``.
"""

from __future__ import annotations

from typing import Any

from textual.message import Message

__all__ = ["FollowChanged", "LoadHistoryRequested", "SearchChanged"]


class FollowChanged(Message, namespace="install_log"):
    """Follow was paused (the user scrolled up) or resumed."""

    def __init__(self, install_log: Any, follow: bool) -> None:
        super().__init__()
        self.install_log = install_log
        self.follow = follow

    @property
    def control(self) -> Any:
        return self.install_log


class LoadHistoryRequested(Message, namespace="install_log"):
    """The user asked (``L``) for the events the server's bounded log dropped."""

    def __init__(self, install_log: Any) -> None:
        super().__init__()
        self.install_log = install_log

    @property
    def control(self) -> Any:
        return self.install_log


class SearchChanged(Message, namespace="install_log"):
    """The query, the match count or the current match changed (``label`` is "match 3/41")."""

    def __init__(self, install_log: Any, query: str, total: int, label: str) -> None:
        super().__init__()
        self.install_log = install_log
        self.query = query
        self.total = total
        self.label = label

    @property
    def control(self) -> Any:
        return self.install_log
