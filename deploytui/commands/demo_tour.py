"""``deploytui demo --tour``: the demos deployed one after another as a story, for a talk.

A quick success, a chatty install, a failing install, its fix, a revert (``server.demos.tour_steps``),
each started only once the one before has ended, with ``--pace`` seconds between them so an audience
watching the dashboard (``deploytui web --follow``) can follow. Each step prints one line when it
ends: what it told, how it ended, its deployment id, and what the project's page shows at its URL
(read back from the server, which serves deployed components' static files):

    step 3/5  a failing install  hello   failed in prepare  fc14100d  http://127.0.0.1:9925/hello/ shows hello 1.0.0

Exit 0 when every step ended as the story says (the failing install must fail), 1 when one did not,
2 for usage, connection or auth errors. Server text is printed through :mod:`deploytui.client.ansi`.
"""

from __future__ import annotations

import argparse
import asyncio
import re
from typing import Any

import httpx

from deploytui.client.ansi import strip_controls
from deploytui.client.api import OperationsClient
from deploytui.client.errors import DeploytuiError
from deploytui.commands.common import EXIT_FAILED, EXIT_OK, StatusLine, run_client_command
from deploytui.commands.demo_deploy import deploy_directory

__all__ = ["run_tour"]

PAGE_TIMEOUT_S = 5.0
VERSION_MARK = re.compile(r'data-component="([^"<>]{1,64})"\s+data-version="([^"<>]{1,32})"')
"""How a demo page names itself (server/demos/*/web/index.html)."""


def page_url(api_url: str, project: str) -> str:
    """Where a demo's page is served: ``/<project>/`` of the server (its config says ``urlPath: ./``)."""
    return str(httpx.URL(api_url).join(f"/{project}/"))


async def served_version(http: httpx.AsyncClient, url: str) -> str | None:
    """What the page at ``url`` says it is (``hello 1.0.0``), None when nothing answers there."""
    try:
        response = await http.get(url, timeout=PAGE_TIMEOUT_S)
    except httpx.HTTPError:
        return None
    if response.status_code != 200:
        return None
    found = VERSION_MARK.search(response.text[:65_536])
    return strip_controls(f"{found.group(1)} {found.group(2)}") if found else None


async def _run_step(client: OperationsClient, step: Any, *, status: StatusLine, label: str) -> tuple[str, str]:
    """Run one step; (how it ended: success / failed / rolled_back / unknown / the refusal, deployment id)."""
    if step.action == "revert":
        status.update(f"{label}  reverting {step.project} …")
        answer = await client.revert_component(step.project)
        row = await client.get_deployment(str(answer.get("deployment_id")))
        return str(row.get("status")), str(answer.get("deployment_id"))
    ended = await deploy_directory(client, step.path, step.project, step.install_command, wait=True, status=status,
                                   label=f"{label}  ")
    assert ended is not None  # waited for
    code, deployment_id, result = ended
    if code == EXIT_OK:
        return "success", deployment_id
    # "failed in prepare: <message>" -> "failed in prepare": the story's line stays one line.
    return (result.split(":")[0] if code == EXIT_FAILED else "unknown"), deployment_id


class _StepStatus(StatusLine):
    """Progress on one line in place (terminals only): the tour prints one line per step, no more."""

    def note(self, text: str) -> None:
        self.update(text)


async def tour(client: OperationsClient, steps: list[Any], *, pace: float, out: Any = None) -> int:
    """Tell the story: every step in order, one line each; 0 when each ended as told, else 1."""
    status = _StepStatus()
    title_width = max(len(s.title) for s in steps)
    project_width = max(len(s.project) for s in steps)
    off_script: list[str] = []
    async with httpx.AsyncClient(verify=client.settings.verify_tls) as http:
        for number, step in enumerate(steps, 1):
            if number > 1 and pace > 0:
                status.update(f"next: step {number}/{len(steps)}, {step.title}, in {pace:g}s")
                await asyncio.sleep(pace)
            label = f"step {number}/{len(steps)}  {step.title.ljust(title_width)}  {step.project.ljust(project_width)}"
            try:
                how, deployment_id = await _run_step(client, step, status=status, label=label)
            except DeploytuiError as exc:
                how, deployment_id = f"refused: {exc.message}", ""
            url = page_url(client.url, step.project)
            shows = await served_version(http, url)
            served = f"{url} shows {shows}" if shows else f"{url} (nothing served there)"
            status.clear()
            print(f"{label}  {strip_controls(how):<17}  {strip_controls(deployment_id[:8]):<8}  {served}", flush=True)
            if how.split(" ")[0] != step.expect:
                off_script.append(f"step {number} ({step.title}) ended {how.split(' ')[0]}, not {step.expect}")
    if off_script:
        for line in off_script:
            print(f"deploytui demo --tour: {strip_controls(line)}", flush=True)
        return EXIT_FAILED
    print(f"tour: {len(steps)} steps, each as told", flush=True)
    return EXIT_OK


def run_tour(args: argparse.Namespace) -> int:
    """``deploytui demo --tour [--pace SECONDS]``."""
    from deploytui.server.demos import tour_steps

    if args.names:
        print("deploytui demo: --tour tells its own story; name no demos with it", flush=True)
        return 2
    steps = tour_steps()

    async def main(client: OperationsClient) -> int:
        return await tour(client, steps, pace=args.pace)

    return run_client_command(args, main)
