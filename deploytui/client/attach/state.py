"""What an attachment is doing, for the UI: :class:`AttachState` (see :mod:`.attachment`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

__all__ = ["AttachState", "StateKind"]

StateKind = Literal["connecting", "replaying", "live", "reconnecting", "verifying", "done", "failed"]


@dataclass(frozen=True)
class AttachState:
    """What the attachment is doing, for the UI."""

    kind: StateKind
    attempt: int = 0  # reconnect attempt number (reconnecting)
    next_retry_s: float | None = None
    backfilled: int = 0  # events recovered out of band (final event_log, events API)
    message: str | None = None  # human detail (the error for "failed")
    ids: bool = True  # False when the server sends no event ids (Harper)
