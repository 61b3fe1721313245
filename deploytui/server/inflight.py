"""A deploy (or revert) in flight: what its pipeline needs to know, shared by the engine and the
two-phase steps (server/two_phase.py) without either importing the other."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from .install_output import InstallOutput
from .recorder import Recorder


@dataclass(eq=False)
class Deployment:
    """One deploy (or revert) in flight: its recorder and the request options the pipeline needs."""

    deployment_id: str
    project: str
    recorder: Recorder
    restart: bool | str = False
    install_command: str | None = None
    install_timeout_ms: int = 0  # kept whole: peers get the very number the client sent
    deployment_timeout_s: float = 0.0
    replicate: bool = False
    package_identifier: str | None = None
    payload_path: Path | None = None
    # None for a revert, which installs nothing (its failure body has no install_output).
    install_output: InstallOutput | None = field(default_factory=InstallOutput)
    # Set once the whole payload is stored: the request may then answer (or start its stream).
    ingested: asyncio.Event = field(default_factory=asyncio.Event)
    two_phase: bool = False  # stage on every node, then activate (server/two_phase.py)
    activate: bool = True  # False: stage only, the row rests ``staged``
    revert_on_failure: bool = False  # swap back the peers that activated when another did not


def restart_mode(restart: bool | str) -> str | None:
    """The row's ``restart_mode`` for a request's ``restart``."""
    if restart == "rolling":
        return "rolling"
    return "immediate" if restart else None
