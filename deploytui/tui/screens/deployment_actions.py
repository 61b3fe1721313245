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

from deploytui.client.releases import release_links, revert_target
from deploytui.protocol.events import parse_event
from deploytui.tui.messages import HistoryLoaded, OperationDone, OperationFailed
from deploytui.tui.widgets import formatting as fmt

if TYPE_CHECKING:
    from textual.screen import Screen

    from deploytui.tui.services import Dashboard

HISTORY_PAGE = 5000
RELEASE_ROWS = 200
"""How many of a project's newest deployments the release links are replayed from."""


async def load_history(screen: Screen, api: Any, deployment_id: str | None, max_lines: int | None = None) -> None:
    """Page through ``get_deployment_events`` and fold each page into a view holding at most
    ``max_lines`` lines (a million-event history never sits in memory at once); post the view
    (Harper has no such operation)."""
    from deploytui.client.errors import DeploytuiError, NotSupported
    from deploytui.client.view import DeploymentView

    if not deployment_id:
        return
    view = DeploymentView(deployment_id, max_lines=max_lines) if max_lines else DeploymentView(deployment_id)
    events = 0
    after: int | None = None
    try:
        while True:
            page = await api.get_deployment_events(deployment_id, after_seq=after, limit=HISTORY_PAGE)
            items = [item for item in page.get("events") or [] if isinstance(item, dict) and isinstance(item.get("event"), str)]
            view.apply_all(parse_event(item["event"], item.get("data"), seq=item.get("seq"), t=item.get("t")) for item in items)
            events += len(items)
            if not page.get("has_more"):
                break
            after = page.get("next_after_seq")
    except NotSupported:
        screen.post_message(OperationFailed("Full history", "this server keeps no full history (Harper keeps only the bounded event_log)"))
        return
    except DeploytuiError as exc:
        screen.post_message(OperationFailed("Full history", exc.message))
        return
    screen.post_message(HistoryLoaded(view, events))


async def project_rows(api: Any, project: Any) -> list[dict[str, Any]] | None:
    """The project's newest deployments (what the release links are replayed from); None when
    the server cannot say."""
    if not project:
        return None
    try:
        data = await api.list_deployments(project=project, limit=RELEASE_ROWS, summary=True)
    except Exception:
        return None
    return [r for r in data.get("deployments") or [] if isinstance(r, dict) and r.get("project") == project]


async def has_previous_release(api: Any, row: dict[str, Any], deployment_id: str | None) -> bool:
    """True when the project has a previous release for a revert to go back to."""
    rows = await project_rows(api, row.get("project"))
    return bool(rows) and revert_target(rows) is not None


def describe_release(deployment_id: str | None, rows: list[dict[str, Any]] | None) -> str:
    """``1a2b3c4d (deployed 2026-12-02 21:40:12 by admin)``, or as much of it as is known."""
    if not deployment_id:
        return "its previous release (the server's list does not say which)"
    found = next((r for r in rows or [] if r.get("deployment_id") == deployment_id), None)
    if found is None:
        return f"release {fmt.short_id(deployment_id)}"
    when = fmt.clock(found.get("completed_at") or found.get("started_at"), with_date=True)
    by = f" by {fmt.clean(found.get('user'))}" if found.get("user") else ""
    return f"release {fmt.short_id(deployment_id)} (deployed {when}{by})"


def confirm_revert(screen: Screen, dash: Dashboard, row: dict[str, Any]) -> None:
    """Find the release a revert goes back to, ask naming it, then ``revert_component`` the
    project of ``row``; opens the revert's own deployment."""
    screen.run_worker(_ask_revert(screen, dash, row), group="revert-ask", exclusive=True, exit_on_error=False)


async def _ask_revert(screen: Screen, dash: Dashboard, row: dict[str, Any]) -> None:
    from deploytui.tui.screens.confirm import ConfirmScreen

    rows = await project_rows(dash.api, row.get("project"))
    links = release_links(rows or [])
    project = fmt.clean(row.get("project"))
    body = Text("Swap ")
    body.append(project, style="bold")
    body.append(" back to ")
    body.append(describe_release(links.previous, rows), style="bold")
    if links.current and links.current != row.get("deployment_id"):
        body.append(f". The release running now is {fmt.short_id(links.current)}, not this deployment")
    body.append("? This records a new deployment (rolled_back).")

    def answered(yes: bool | None) -> None:
        if yes:
            screen.run_worker(_revert(screen, dash, row.get("project")), group="revert", exclusive=True, exit_on_error=False)

    screen.app.push_screen(ConfirmScreen("Revert", body, "Revert"), answered)


async def revert_target_text(api: Any, row: dict[str, Any]) -> str:
    """For a revert's own row: ``revert to release 1a2b3c4d (deployed …)``."""
    rows = await project_rows(api, row.get("project"))
    return "revert to " + describe_release(revert_target(rows or [], revert_row=row), rows)


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
