"""What the screens and the command palette use of the dashboard app: :class:`Dashboard`.

Screens reach the app through this protocol, not by importing ``tui/app.py``: the app imports the
screens to show them, so the screens importing the app back would close a circle. ``DeploytuiApp``
implements it; tests and snapshots inject the client, the attach function, the clock and the demos
through the app's constructor.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from deploytui.client.api import OperationsClient
    from deploytui.tui.first_rows import FirstRows


@runtime_checkable
class Dashboard(Protocol):
    """The dashboard's services: the server's client, the stream, the clock, the demos, navigation."""

    now: Callable[[], float]
    """The clock (epoch seconds); frozen in snapshots."""
    demos: Callable[[], list[Any]]
    """The bundled demo components (``server.demos.DemoSpec``), [] when none are installed."""
    animate: bool
    poll_interval: float
    fast_poll_interval: float
    first_rows: FirstRows | None
    """The list's first answer, asked for at launch; None when nobody asked."""

    @property
    def api(self) -> OperationsClient:
        """The Operations API client of the current server."""
        ...

    @property
    def existing_api(self) -> OperationsClient | None:
        """The client if one was made (what only asks what is known uses this, not :attr:`api`)."""
        ...

    @property
    def server_url(self) -> str: ...

    @property
    def server_label(self) -> str: ...

    def attach(self, deployment_id: str | None, **kwargs: Any) -> Any:
        """The stitched replay-then-live stream of a deployment (``client.attach.attach``)."""
        ...

    def open_deployment(self, deployment_id: str | None, row: dict[str, Any] | None = None, *,
                        opener: Any = None) -> None: ...

    def action_help(self) -> None: ...

    def action_deploy_form(self) -> Any: ...  # an awaitable: done once the form is mounted

    def action_open_by_id(self) -> None: ...

    def action_deploy_demos(self, name: str = "") -> None: ...

    def switch_server(self, name: str) -> None: ...
