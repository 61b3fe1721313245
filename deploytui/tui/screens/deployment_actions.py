"""The deployment screen's operations on the server: full history, revert, delete payload.

Each runs in a worker of the screen and reports back with a message (``HistoryLoaded``,
``OperationDone``, ``OperationFailed``); the destructive ones ask first in a :class:`ConfirmScreen`.
They take the screen (a plain Textual :class:`~textual.screen.Screen`: messages, workers), the app's
services and the row they act on as arguments, so this module never imports the screen that
imports it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from deploytui.protocol.events import parse_event
from deploytui.tui.messages import HistoryLoaded, OperationDone, OperationFailed
from deploytui.tui.widgets import formatting as fmt

if TYPE_CHECKING:
    from textual.screen import Screen

    from deploytui.tui.services import Dashboard

HISTORY_PAGE = 5000


async def load_history(screen: Screen, api: Any, deployment_id: str | None) -> None:
    """Page through ``get_deployment_events`` and post every event (Harper has no such operation)."""
    from deploytui.client.errors import DeploytuiError, NotSupported

    if not deployment_id:
        return
    events: list[Any] = []
    after: int | None = None
    try:
        while True:
            page = await api.get_deployment_events(deployment_id, after_seq=after, limit=HISTORY_PAGE)
            for item in page.get("events") or []:
                if isinstance(item, dict) and isinstance(item.get("event"), str):
                    events.append(parse_event(item["event"], item.get("data"), seq=item.get("seq"), t=item.get("t")))
            if not page.get("has_more"):
                break
            after = page.get("next_after_seq")
    except NotSupported:
        screen.post_message(OperationFailed("Full history", "this server keeps no full history (Harper keeps only the bounded event_log)"))
        return
    except DeploytuiError as exc:
        screen.post_message(OperationFailed("Full history", exc.message))
        return
    screen.post_message(HistoryLoaded(events))


async def has_previous_release(api: Any, row: dict[str, Any], deployment_id: str | None) -> bool:
    """True when another successful deploy of the same project started before this one."""
    project = row.get("project")
    if not project:
        return False
    try:
        data = await api.list_deployments(project=project, status="success", limit=50)
    except Exception:
        return False
    started = row.get("started_at") or 0
    return any(
        r.get("deployment_id") != deployment_id and (r.get("started_at") or 0) <= started
        for r in data.get("deployments") or []
    )


def confirm_revert(screen: Screen, dash: Dashboard, row: dict[str, Any]) -> None:
    """Ask, then ``revert_component`` the project of ``row``; opens the revert's own deployment."""
    from deploytui.tui.screens.confirm import ConfirmScreen

    project = fmt.clean(row.get("project"))
    body = Text("Swap ")
    body.append(project, style="bold")
    body.append(" back to its previous release? This records a new deployment (rolled_back).")

    def answered(yes: bool | None) -> None:
        if yes:
            screen.run_worker(_revert(screen, dash, row.get("project")), group="revert", exclusive=True, exit_on_error=False)

    screen.app.push_screen(ConfirmScreen("Revert", body, "Revert"), answered)


async def _revert(screen: Screen, dash: Dashboard, project: Any) -> None:
    from deploytui.client.errors import DeploytuiError

    try:
        result = await dash.api.revert_component(project)
    except DeploytuiError as exc:
        screen.post_message(OperationFailed("Revert", exc.message))
        return
    new_id = result.get("deployment_id") if isinstance(result, dict) else None
    message = fmt.clean(result.get("message") if isinstance(result, dict) else None, "Reverted")
    screen.post_message(OperationDone("Revert", message, {"open": new_id} if new_id else None))


def confirm_delete_payload(screen: Screen, dash: Dashboard, row: dict[str, Any], deployment_id: str | None) -> None:
    """Ask, then ``delete_deployment_payload``; the row's payload goes, the history stays."""
    from deploytui.tui.screens.confirm import ConfirmScreen

    size = fmt.size(row.get("payload_size"))
    body = Text(f"Delete the stored payload ({size}) of deployment {fmt.short_id(deployment_id)} of ")
    body.append(fmt.clean(row.get("project")), style="bold")
    body.append("? It cannot be downloaded or redeployed afterwards.")

    def answered(yes: bool | None) -> None:
        if yes:
            screen.run_worker(_delete_payload(screen, dash, deployment_id), group="delete-payload", exclusive=True, exit_on_error=False)

    screen.app.push_screen(ConfirmScreen("Delete payload", body, "Delete"), answered)


async def _delete_payload(screen: Screen, dash: Dashboard, deployment_id: str | None) -> None:
    from deploytui.client.errors import DeploytuiError
    from deploytui.tui.messages import RowFetched

    api = dash.api
    try:
        result = await api.delete_deployment_payload(deployment_id)
        row = await api.get_deployment(deployment_id)
    except DeploytuiError as exc:
        screen.post_message(OperationFailed("Delete payload", exc.message))
        return
    freed = result.get("freed_bytes") if isinstance(result, dict) else None
    screen.post_message(RowFetched(row))
    screen.post_message(OperationDone("Delete payload", f"Deleted the payload, freed {fmt.size(freed)}"))
