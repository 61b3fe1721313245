"""One glyph and one colour per deployment status and per phase state.

The deployment list and the detail screen both show statuses; keeping the mapping here keeps them
consistent. Colours are Textual theme variables (``$success``, ``$error`` …), which Textual's
``Content`` resolves against the active theme — ``Content.styled(glyph, colour)`` or
:func:`status_content`. Every glyph has an ASCII fallback for terminals or fonts without them
(``ascii=True``).
"""

from __future__ import annotations

from textual.content import Content

from deploytui.protocol.deployment import Status

__all__ = [
    "ASCII_SPINNER",
    "RUNNING_STATUSES",
    "SPINNER",
    "glyph_for",
    "phase_glyph",
    "spinner_frame",
    "status_content",
]

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
"""Braille spinner frames (one cell each)."""
ASCII_SPINNER = "|/-\\"
"""Spinner frames for ASCII-only terminals."""

RUNNING_STATUSES: frozenset[str] = frozenset(
    {
        Status.EXTRACTING,
        Status.INSTALLING,
        Status.LOADING,
        Status.REPLICATING,
        Status.RESTARTING,
        Status.STAGING,
        Status.ACTIVATING,
        Status.REVERTING,
    }
)
"""Statuses of a deployment that is doing work right now (shown with a spinner)."""

# status -> (glyph, ascii glyph, colour)
_STATIC: dict[str, tuple[str, str, str]] = {
    Status.PENDING: ("○", "o", "$foreground-muted"),
    Status.STAGED: ("◆", "=", "$accent"),
    Status.SUCCESS: ("✓", "+", "$success"),
    Status.FAILED: ("✗", "x", "$error"),
    Status.ROLLED_BACK: ("↺", "<", "$warning"),
}
_RUNNING_COLOUR = {Status.REVERTING: "$warning"}
_UNKNOWN = ("?", "?", "$foreground-muted")

# phase state -> (glyph, ascii glyph, colour); "running" uses the spinner.
_PHASE: dict[str, tuple[str, str, str]] = {
    "pending": ("○", "o", "$foreground-muted"),
    "running": ("●", "*", "$accent"),
    "done": ("✓", "+", "$success"),
    "failed": ("✗", "x", "$error"),
    "skipped": ("–", "-", "$foreground-muted"),
}


def spinner_frame(frame: int | None, *, ascii: bool = False) -> str | None:
    """The spinner glyph for ``frame``, or None when not animating (``frame is None``)."""
    if frame is None:
        return None
    frames = ASCII_SPINNER if ascii else SPINNER
    return frames[frame % len(frames)]


def glyph_for(status: str | None, *, frame: int | None = None, ascii: bool = False) -> tuple[str, str]:
    """``(glyph, colour)`` for a deployment status.

    Running statuses show spinner frame ``frame`` (pass a counter that a timer advances) or a
    static ``●`` when ``frame`` is None. Unknown statuses get ``?`` rather than an error, so a
    newer server's status still shows.
    """
    if status in RUNNING_STATUSES:
        colour = _RUNNING_COLOUR.get(status, "$accent")  # type: ignore[call-overload]
        return spinner_frame(frame, ascii=ascii) or ("*" if ascii else "●"), colour
    glyph, ascii_glyph, colour = _STATIC.get(status or "", _UNKNOWN)
    return (ascii_glyph if ascii else glyph), colour


def phase_glyph(state: str, *, frame: int | None = None, ascii: bool = False) -> tuple[str, str]:
    """``(glyph, colour)`` for a phase state: pending ○, running spinner/●, done ✓, failed ✗, skipped –."""
    glyph, ascii_glyph, colour = _PHASE.get(state, _UNKNOWN)
    if state == "running" and frame is not None:
        return spinner_frame(frame, ascii=ascii) or glyph, colour
    return (ascii_glyph if ascii else glyph), colour


def status_content(status: str | None, *, frame: int | None = None, ascii: bool = False, label: bool = True) -> Content:
    """The glyph in its colour, followed by the status name (``label=False`` for the glyph alone)."""
    glyph, colour = glyph_for(status, frame=frame, ascii=ascii)
    icon = Content.styled(glyph, colour)
    if not label:
        return icon
    return Content.assemble(icon, " ", (str(status or "unknown").replace("_", " "), colour))
