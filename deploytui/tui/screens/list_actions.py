"""What the deployments list does to the selected row, and what it tells about the others.

- ``ctrl+k`` cancels a running deploy (``cancel_deployment``, our server's addition);
- ``ctrl+r`` deploys an older release again (``redeploy_deployment``: its stored payload, as a new
  deployment of its project);
- ``v`` shows the row as JSON (:class:`~deploytui.tui.screens.raw_json.RawJsonScreen`);
- ``ctrl+a`` activates a staged deployment (``deploy_component {deployment_id}``, two-phase servers).

The first two change what runs, so they are ctrl-chords behind a :class:`ConfirmScreen` that names
the deployment, and they are offered only where the server has the operation (learnt once, see
``OperationsClient.learn_operations``). Like :mod:`deployment_actions`, this module takes the screen
and the app's services as arguments and reports with messages; it never imports the screen.

:class:`DeployNotices` decides when the list rings: a deploy that fails (any deploy), and a
deploy you are watching (open on the deployment screen) that ends.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rich.text import Text

from deploytui.protocol.deployment import TWO_PHASE, is_terminal
from deploytui.tui.messages import OperationDone, OperationFailed
from deploytui.tui.widgets import formatting as fmt

if TYPE_CHECKING:
    from textual.screen import Screen

    from deploytui.tui.services import Dashboard


def offers(api: Any, operation: str) -> bool:
    """True once the server is known to have ``operation`` (False before it is learnt, or when it lacks it)."""
    supports = getattr(api, "supports", None)
    return supports is not None and supports(operation) is True


async def learn_operations(api: Any) -> bool:
    """Ask the server once which optional operations it has; False when it could not be asked."""
    learn = getattr(api, "learn_operations", None)
    if learn is None:
        return False
    try:
        await learn()
    except Exception:  # unreachable now: the poll says so, and the next connection asks again
        return False
    return True


def can_cancel(api: Any, row: dict[str, Any] | None) -> bool:
    """The server has ``cancel_deployment`` and ``row`` still runs."""
    return bool(row) and offers(api, "cancel_deployment") and not is_terminal(row.get("status"))  # type: ignore[union-attr]


def can_redeploy(api: Any, row: dict[str, Any] | None, current: str | None) -> bool:
    """The server has ``redeploy_deployment`` and ``row`` is an ended deploy with its payload kept
    that is not what runs now (``current``: the project's current release, when known)."""
    if not row or not offers(api, "redeploy_deployment"):
        return False
    if row.get("status") != "success" or row.get("payload_blob_present") is False:
        return False
    return row.get("deployment_id") != current


def can_activate(api: Any, row: dict[str, Any] | None) -> bool:
    """The server stages and activates (two-phase) and ``row`` is a staged deployment."""
    return bool(row) and offers(api, TWO_PHASE) and row.get("status") == "staged"  # type: ignore[union-attr]


def confirm_activate(screen: Screen, dash: Dashboard, row: dict[str, Any]) -> None:
    """Ask, then activate the staged deployment ``row``: its build goes live on every node."""
    from deploytui.tui.screens.confirm import ConfirmScreen

    deployment_id = str(row.get("deployment_id"))
    body = Text("Activate the staged deployment ")
    body.append(fmt.short_id(deployment_id), style="bold")
    body.append(" of ")
    body.append(fmt.clean(row.get("project"), "?"), style="bold")
    body.append(f" on {fmt.clean(dash.server_url)}? Its build (staged {fmt.relative_time(row.get('completed_at') or row.get('started_at'), dash.now())})"
                " replaces the running release on every node, without installing again.")

    def answered(yes: bool | None) -> None:
        if yes:
            screen.run_worker(_activate(screen, dash, deployment_id), group="activate", exit_on_error=False)

    screen.app.push_screen(ConfirmScreen("Activate staged deployment", body, "Activate", danger=False), answered)


async def _activate(screen: Screen, dash: Dashboard, deployment_id: str) -> None:
    from deploytui.client.errors import DeploytuiError

    try:
        result = await dash.api.activate_deployment(deployment_id)
    except DeploytuiError as exc:
        screen.post_message(OperationFailed("Activate", exc.message))
        return
    screen.post_message(OperationDone("Activate", fmt.clean(result.get("message"), "Activated")))


def confirm_cancel(screen: Screen, dash: Dashboard, row: dict[str, Any]) -> None:
    """Ask, then ``cancel_deployment``: the install stops and the deploy ends failed."""
    from deploytui.tui.screens.confirm import ConfirmScreen

    deployment_id = str(row.get("deployment_id"))
    body = Text("Cancel the deploy of ")
    body.append(fmt.clean(row.get("project"), "?"), style="bold")
    body.append(f" ({fmt.short_id(deployment_id)}, {fmt.clean(row.get('phase') or row.get('status'))})? "
                "Its install is stopped and it ends failed; what runs now stays as it is.")

    def answered(yes: bool | None) -> None:
        if yes:
            screen.run_worker(_cancel(screen, dash, row), group="cancel", exit_on_error=False)

    screen.app.push_screen(ConfirmScreen("Cancel deploy", body, "Cancel deploy"), answered)


async def _cancel(screen: Screen, dash: Dashboard, row: dict[str, Any]) -> None:
    from deploytui.client.errors import DeploytuiError

    deployment_id = str(row.get("deployment_id"))
    try:
        await dash.api.cancel_deployment(deployment_id)
    except DeploytuiError as exc:
        screen.post_message(OperationFailed("Cancel deploy", exc.message))
        return
    screen.post_message(OperationDone("Cancel deploy", f"Cancelled {_named(row)}"))


def _named(row: dict[str, Any]) -> str:
    """``project (12345678)``: how a toast names a deployment."""
    return f"{fmt.clean(row.get('project'), '?')} ({fmt.short_id(str(row.get('deployment_id')))})"


def confirm_redeploy(screen: Screen, dash: Dashboard, row: dict[str, Any], current: str | None) -> None:
    """Ask, then ``redeploy_deployment``: the release of ``row`` is deployed again."""
    from deploytui.tui.screens.confirm import ConfirmScreen

    deployment_id = str(row.get("deployment_id"))
    project = fmt.clean(row.get("project"), "?")
    body = Text("Deploy ")
    body.append(project, style="bold")
    body.append(f" again from release {fmt.short_id(deployment_id)}")
    started = row.get("started_at")
    if started:
        body.append(f" (deployed {fmt.relative_time(started, dash.now())})")
    body.append("? ")
    if current:
        body.append(f"It replaces the current release {fmt.short_id(current)}. ")
    body.append("Its stored payload is installed again, as a new deployment.")

    def answered(yes: bool | None) -> None:
        if yes:
            screen.run_worker(_redeploy(screen, dash, row), group="redeploy", exit_on_error=False)

    screen.app.push_screen(ConfirmScreen("Redeploy release", body, "Redeploy", danger=False), answered)


async def _redeploy(screen: Screen, dash: Dashboard, row: dict[str, Any]) -> None:
    from deploytui.client.errors import DeploytuiError

    try:
        result = await dash.api.redeploy_deployment(str(row.get("deployment_id")))
    except DeploytuiError as exc:
        screen.post_message(OperationFailed("Redeploy", exc.message))
        return
    new_id = fmt.short_id(result.get("deployment_id") if isinstance(result, dict) else None)
    screen.post_message(OperationDone("Redeploy", f"Deploying {_named(row)} again as {new_id}"))


async def show_raw(screen: Screen, dash: Dashboard, row: dict[str, Any]) -> None:
    """The whole row (``get_deployment``: the list holds summaries) as JSON; the list's copy if the
    server does not answer."""
    from deploytui.client.errors import DeploytuiError
    from deploytui.tui.screens.raw_json import RawJsonScreen

    deployment_id = str(row.get("deployment_id"))
    title = f"{fmt.clean(row.get('project'), '?')} · {deployment_id}"
    try:
        full = await dash.api.get_deployment(deployment_id)
    except DeploytuiError as exc:
        full, title = row, f"{title} (as listed: {exc.message})"
    screen.app.push_screen(RawJsonScreen(full if isinstance(full, dict) else row, title))


class DeployNotices:
    """Which polled rows deserve a bell and a toast: a deploy seen running that fails, and a
    watched deploy (open on the deployment screen) that ends. Rows already ended when first seen
    (the history) ring nothing."""

    def __init__(self) -> None:
        self._status: dict[str, str] = {}
        self._primed = False

    def ended(self, rows: list[dict[str, Any]], watched: set[str]) -> list[tuple[dict[str, Any], bool]]:
        """``(row, failed)`` for each row that ended since the last poll and should be announced."""
        found: list[tuple[dict[str, Any], bool]] = []
        for row in rows:
            key = str(row.get("deployment_id"))
            status = str(row.get("status") or "")
            before = self._status.get(key)
            self._status[key] = status
            if not is_terminal(status) or (before is not None and is_terminal(before)):
                continue
            if before is None and not self._primed:
                continue  # the first poll: history, not news
            failed = status in ("failed",)
            if failed or key in watched:
                found.append((row, failed))
        self._primed = True
        return found


def notice_text(row: dict[str, Any], failed: bool) -> tuple[str, str]:
    """(title, message) of the toast for a deploy that ended."""
    project = fmt.clean(row.get("project"), "?")
    short = fmt.short_id(str(row.get("deployment_id")))
    if failed:
        error = row.get("error") if isinstance(row.get("error"), dict) else {}
        reason = fmt.clean(error.get("message"), "") if error else ""
        return f"Deploy failed: {project}", f"{short}{': ' + reason if reason else ''}"
    return f"Deploy ended: {project}", f"{short} {fmt.clean(row.get('status')).replace('_', ' ')}"
