"""``deploytui demo [NAMES...]``: deploy the bundled demo components, to see the dashboard at work.

Each demo directory is packed and uploaded like ``deploytui deploy`` does
(:mod:`deploytui.commands.demo_deploy`). Demos are different projects, so they deploy concurrently. For each one the
command prints ``<name>  <deployment id>`` when the server accepts it, then ``<name>  <id>  <result>``
when it ends. ``--no-wait`` returns once every deploy has been accepted and its payload ingested.

Demos exit like ``deploy``: 0 when every deploy succeeded, 1 when one failed (``broken-install`` and
``bad-config`` fail on purpose, so ``deploytui demo broken-install`` exits 1); 2 for usage,
connection or auth errors, or a deploy whose end could not be seen. With ``--no-wait``, 0 once every
deploy has been accepted. Server text (ids, error messages) is printed through the terminal-safety
rule of :mod:`deploytui.client.ansi`. ``--tour`` tells a story with them instead, one step at a
time (:mod:`deploytui.commands.demo_tour`).
"""

from __future__ import annotations

import argparse
import asyncio
from typing import Any

from deploytui.client.ansi import strip_controls
from deploytui.client.api import OperationsClient
from deploytui.commands.common import EXIT_FAILED, EXIT_OK, CommandError, StatusLine, fail, run_client_command
from deploytui.commands.demo_deploy import deploy_directory

__all__ = ["run"]


def _specs(names: list[str]) -> list[Any]:
    """The demo specs asked for (all by default); CommandError names the ones that exist.

    ``deploytui.server.demos`` imports only the standard library (checked by a test), so reading it
    does not pull the server package in.
    """
    from deploytui.server.demos import demo_specs

    specs = demo_specs()
    if not names:
        return specs
    by_name = {spec.name: spec for spec in specs}
    unknown = [n for n in names if n not in by_name]
    if unknown:
        raise CommandError(f"no demo named {unknown[0]!r}; demos: {', '.join(by_name)}")
    return [by_name[n] for n in dict.fromkeys(names)]


async def _deploy_one(client: OperationsClient, spec: Any, *, wait: bool, width: int, status: StatusLine) -> int | None:
    """Deploy one demo; its outcome code (None when its end was not seen, or not waited for)."""
    label = spec.name.ljust(width)

    def accepted(deployment_id: str | None) -> None:
        if deployment_id is not None or not wait:
            print(f"{label}  {strip_controls(deployment_id or '(id not reported)')}", flush=True)

    ended = await deploy_directory(client, spec.path, spec.name, spec.install_command, wait=wait, status=status,
                                   label=f"{label}  ", accepted=accepted)
    if ended is None:
        return EXIT_OK
    code, deployment_id, result = ended
    print(f"{label}  {strip_controls(deployment_id)}  {result}", flush=True)
    return code


def run(args: argparse.Namespace) -> int:
    """Entry point of ``deploytui demo``."""
    if getattr(args, "tour", False):
        from deploytui.commands.demo_tour import run_tour

        return run_tour(args)
    specs: list[Any] = []

    def prepare() -> None:
        specs.extend(_specs(list(args.names)))

    async def main(client: OperationsClient) -> int:
        status = StatusLine()
        width = max(len(s.name) for s in specs)
        codes = await asyncio.gather(
            *(_deploy_one(client, spec, wait=not args.no_wait, width=width, status=status) for spec in specs)
        )
        if any(code is None for code in codes):
            return fail("some demo deploys ended without a result; see `deploytui list`")
        return EXIT_FAILED if EXIT_FAILED in codes else EXIT_OK

    return run_client_command(args, main, prepare=prepare)
