"""The deployment row and its vocabulary: statuses, phases, and the mapping between them.

Pure data, no I/O. Shared by the embedded server (which writes rows) and the client (which reads
them). Field names follow Harper's ``system.hdb_deployment`` row (contract §3).
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, TypedDict


class Status(StrEnum):
    """Every status a deployment row can hold (Harper's early and late recorders)."""

    PENDING = "pending"
    EXTRACTING = "extracting"
    INSTALLING = "installing"
    LOADING = "loading"
    REPLICATING = "replicating"
    RESTARTING = "restarting"
    STAGING = "staging"
    STAGED = "staged"
    ACTIVATING = "activating"
    REVERTING = "reverting"
    SUCCESS = "success"
    FAILED = "failed"
    ROLLED_BACK = "rolled_back"


# ``staged`` counts as terminal here: nothing runs for a staged row, and it changes only when
# someone activates it (a new recording of the same row). Harper's contract lists only the first
# three; Harper's newer tests treat a staged row as terminal too (its payload may be deleted).
TERMINAL_STATUSES: frozenset[str] = frozenset({Status.SUCCESS, Status.FAILED, Status.ROLLED_BACK, Status.STAGED})
# Statuses of a deploy that is over for good (a staged one is only resting).
FINAL_STATUSES: frozenset[str] = frozenset({Status.SUCCESS, Status.FAILED, Status.ROLLED_BACK})


def is_terminal(status: str | None) -> bool:
    """True when nothing runs for a row with this status: it is final, or ``staged`` (resting until
    someone activates it)."""
    return status in TERMINAL_STATUSES


def is_staged(status: str | None) -> bool:
    """True for a deployment that is built and waiting for ``deploy_component {deployment_id}``."""
    return status == Status.STAGED


def is_underway(status: str | None, phase: str | None) -> bool:
    """True while a deployment's pipeline is running.

    Harper maps no status to the one-shot ``prepare`` phase, so a row reads ``pending`` all through
    extract and install (contract §3.2); its ``phase`` tells that work has begun.
    """
    if is_terminal(status):
        return False
    return status != Status.PENDING or (phase or "pending") != "pending"


# The one-shot pipeline, in the order Harper emits it (contract §4.4).
ONE_SHOT_PHASES: tuple[str, ...] = ("prepare", "load", "replicate", "restart", "success")
# The two-phase pipeline (late Harper): stage (our server nests the build, ``prepare``, in it, so a
# failed install still reads phase ``prepare`` as Harper's tests expect), then activate across the
# cluster; ``staged`` is emitted only by a stage-only deploy (``activate: false``).
TWO_PHASE_PHASES: tuple[str, ...] = ("stage", "prepare", "load", "staged", "activate", "restart", "success")
# Not an operation but a way to deploy: stage now, activate later (``activate: false``, then
# ``deploy_component {deployment_id}``). Learnt with the optional operations, from what the server
# says in ``registration_info`` (``two_phase: true``); Harper 5.1.14 has no such thing.
TWO_PHASE = "two_phase"
# A revert_component run.
REVERT_PHASES: tuple[str, ...] = ("revert", "restart", "success")

# `phase {X, start}` moves the row to this status; phases not listed leave the status alone.
PHASE_START_STATUS: dict[str, str] = {
    "extract": Status.EXTRACTING,
    "install": Status.INSTALLING,
    "stage": Status.STAGING,
    "load": Status.LOADING,
    "replicate": Status.REPLICATING,
    "activate": Status.ACTIVATING,
    "revert": Status.REVERTING,
    "restart": Status.RESTARTING,
}


def phase_order_for(phases_seen: list[str] | tuple[str, ...]) -> tuple[str, ...]:
    """The canonical phase list that best explains the phases seen so far.

    Phases the canonical list does not know are appended in the order they were seen, so an unknown
    server phase is shown rather than lost.
    """
    seen = list(dict.fromkeys(phases_seen))
    if "revert" in seen:
        base = REVERT_PHASES
    elif any(p in ("stage", "staged", "activate") for p in seen):
        # ``prepare`` inside ``stage`` is our server's; Harper's two-phase stage does not announce it.
        base = tuple(p for p in TWO_PHASE_PHASES if p != "prepare" or "prepare" in seen)
    else:
        base = ONE_SHOT_PHASES
    return tuple(base) + tuple(p for p in seen if p not in base)


class EventLogEntry(TypedDict):
    """One entry of a row's bounded ``event_log``."""

    t: int
    event: str
    data: Any


class PeerResult(TypedDict, total=False):
    """A normalised replication result for one node (contract §3.4)."""

    node: str | None
    status: str
    error: dict[str, Any] | None
    started_at: int | None
    completed_at: int | None


class DeploymentError(TypedDict, total=False):
    """Why a deployment failed: ``{message, code?, phase}``."""

    message: str
    code: int | str | None
    phase: str | None


class DeploymentRow(TypedDict, total=False):
    """A deployment as the API returns it (the "stripped" row: no ``payload_blob``)."""

    deployment_id: str
    project: str | None
    package_identifier: str | None
    payload_hash: str | None
    payload_size: int | None
    payload_blob_present: bool
    status: str
    phase: str
    event_log: list[EventLogEntry]
    peer_results: list[PeerResult]
    origin_node: str | None
    restart_mode: str | None
    started_at: int
    completed_at: int | None
    user: str | None
    rollback_of: str | None
    error: DeploymentError | None
    activation_spec: dict[str, Any] | None  # two-phase: what activation will use (immutable)
    install_fingerprint: dict[str, Any] | None  # {"lockfiles": {name: sha256 hex}}
