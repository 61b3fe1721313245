"""``deploytui deploy PATH``: pack a directory, upload it, and follow the deploy live.

The directory is packed reproducibly (:mod:`deploytui.client.pack`: no ``.git``, no
``node_modules``), uploaded as ``multipart/form-data`` with ``Accept: text/event-stream``, and the
deploy's own event stream is handed to ``attach()`` so a dropped connection resumes through
``get_deployment`` (our server names the deployment in ``X-Deployment-Id``). Upload progress goes
to stderr: one updating line on a terminal, a single ``uploaded 1.2 MiB`` line in a pipe.

``--stage-only`` stages instead (``activate: false``): the build and install run on every node, the
running release stays, and the deployment rests ``staged`` until ``deploytui activate <id>``. Only a
server with two-phase deploys can stage; against Harper 5.1.14 (which would ignore the field and go
live) it stops before uploading.

Exit codes as ``watch``: 0 deployed (or staged), 1 the deploy failed, 2 usage/connection/auth (a
PATH that is not a directory included), 130 on Ctrl-C, which stops following but not the deploy:
one line on stderr says so and gives the ``deploytui watch <id>`` that comes back to it.
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from deploytui.client.api import OperationsClient
from deploytui.client.humanize import now_ms
from deploytui.client.humanize import size as human_bytes
from deploytui.client.pack import PackPlan, pack_directory, scan_directory
from deploytui.client.sse import EventStream
from deploytui.commands.activate_cmd import require_two_phase
from deploytui.commands.common import EXIT_USAGE, FollowedDeployment, StatusLine, fail, run_client_command
from deploytui.commands.follow import follow_deployment

__all__ = ["run", "UploadProgress", "open_deploy"]


class UploadProgress:
    """``on_progress`` for an upload: a live ``uploading 40% (…)`` line on a terminal, and one
    ``uploaded <size>`` line when it completes (terminal and pipe alike)."""

    def __init__(self, status: StatusLine, label: str = "") -> None:
        self.status = status
        self.label = label
        self._done = False

    def __call__(self, sent: int, total: int | None) -> None:
        if self._done:
            return
        if total is not None and sent >= total:
            self._done = True
            self.status.note(f"{self.label}uploaded {human_bytes(total)}")
            return
        share = f"{sent * 100 // total}% of {human_bytes(total)}" if total else human_bytes(sent)
        self.status.update(f"{self.label}uploading {share}")


@asynccontextmanager
async def open_deploy(
    client: OperationsClient, plan: PackPlan, fields: dict[str, Any], *, status: StatusLine, label: str = ""
) -> AsyncIterator[tuple[EventStream, str | None]]:
    """Pack ``plan``, upload it with ``fields``, and yield the deploy's event stream and its
    deployment id (None when the server does not name it, as Harper does not)."""
    payload = pack_directory(plan.root, plan=plan)
    fields = {k: v for k, v in fields.items() if v is not None}
    progress = UploadProgress(status, label)
    manager = await client.deploy_component_multipart(fields, payload, on_progress=progress, stream=True)
    async with manager as stream:
        yield stream, stream.response.headers.get("x-deployment-id")


def _project_name(path: Path) -> str:
    """The default project: the directory's name, as Harper's CLI derives it from the working dir."""
    return path.resolve().name


def run(args: argparse.Namespace) -> int:
    """Entry point of ``deploytui deploy``."""
    path = Path(args.path).expanduser()
    plans: list[PackPlan] = []
    followed = FollowedDeployment(unknown_note=(
        "stopped before the server named the deployment; if it accepted the upload, the deploy continues "
        "there: `deploytui list` shows it, `deploytui watch` follows the running one"))

    stage_only = bool(getattr(args, "stage_only", False))
    if stage_only and args.restart:
        return fail("--stage-only and --restart do not go together: nothing goes live when staging; "
                    "use `deploytui activate <id> --restart`")

    def prepare() -> None:
        plans.append(scan_directory(path))  # PackError (exit 2) for a missing dir or a bad symlink

    async def main(client: OperationsClient) -> int:
        if stage_only and not await require_two_phase(client, "stage a deploy (--stage-only)"):
            return EXIT_USAGE
        plan = plans[0]
        status = StatusLine()
        fields = {
            "project": args.project or _project_name(path),
            "install_command": args.install_command,
            "restart": True if args.restart else None,
            "activate": False if stage_only else None,
        }
        status.note(f"packed {plan.file_count} files ({human_bytes(plan.total_bytes)}) from {path}")
        started = now_ms() - 5_000  # some slack for clock skew between here and the server
        async with open_deploy(client, plan, fields, status=status) as (stream, deployment_id):
            if deployment_id is not None:
                followed.deployment_id = deployment_id
                status.note(f"deployment {deployment_id}")
            code = await follow_deployment(
                client, deployment_id, as_json=args.json, initial_stream=stream,
                project=fields["project"], started_after_ms=started, announce_id=deployment_id is None,
                followed=followed,
            )
        if stage_only and code == 0 and followed.deployment_id:
            status.note(f"staged; make it live with: deploytui activate {followed.deployment_id}")
        return code

    return run_client_command(args, main, prepare=prepare, followed=followed)
