"""``deploytui activate ID``: make a staged deployment go live, and follow it.

A deployment staged with ``deploytui deploy --stage-only`` (``activate: false``) rests ``staged``:
built and installed on every node, running nowhere. Activating it sends ``deploy_component
{deployment_id}`` with ``Accept: text/event-stream`` and follows the activation's own events
(``activate``, the peers, ``restart``, ``success``) as ``deploy`` follows a deploy. ``ID`` may be a
unique prefix, as for ``watch``.

Only a server with two-phase deploys (ours on its own wire, which says so in ``registration_info``)
can do this; against Harper 5.1.14 (or ``serve --wire harper``) it stops before sending anything.

Exit codes as ``deploy``: 0 activated, 1 the activation failed, 2 usage/connection/auth or a
refused activation (not staged, unknown id), 130 on Ctrl-C (the activation goes on).
"""

from __future__ import annotations

import argparse

from deploytui.client.api import OperationsClient
from deploytui.protocol.deployment import TWO_PHASE
from deploytui.commands.common import (
    FollowedDeployment,
    StatusLine,
    fail,
    resolve_deployment_id,
    run_client_command,
)
from deploytui.commands.follow import follow_deployment

__all__ = ["run", "require_two_phase"]

NO_TWO_PHASE = ("this server has no two-phase deploys (Harper 5.1, or a deploytui server on --wire harper), "
                "so it cannot {what}")


async def require_two_phase(client: OperationsClient, what: str) -> bool:
    """True when the server stages and activates; else say why not (stderr) and return False."""
    learnt = await client.learn_operations()
    if learnt.get(TWO_PHASE):
        return True
    fail(NO_TWO_PHASE.format(what=what))
    return False


def run(args: argparse.Namespace) -> int:
    """Entry point of ``deploytui activate``."""
    followed = FollowedDeployment()

    async def main(client: OperationsClient) -> int:
        if not await require_two_phase(client, "activate a staged deployment"):
            return 2
        deployment_id = await resolve_deployment_id(client, args.deployment_id)
        row = await client.get_deployment(deployment_id)  # unknown: NotFoundError, exit 2
        if row.get("status") != "staged":
            return fail(f"deployment {deployment_id} is {row.get('status')}, not staged: only a staged "
                        "deployment can be activated")  # fail() strips control characters
        followed.deployment_id = deployment_id
        body = {"operation": "deploy_component", "deployment_id": deployment_id}
        if args.restart:
            body["restart"] = True
        StatusLine().note(f"activating deployment {deployment_id}")
        async with client.stream_events(body) as stream:
            return await follow_deployment(client, deployment_id, as_json=args.json, initial_stream=stream,
                                           followed=followed)

    return run_client_command(args, main, followed=followed)
