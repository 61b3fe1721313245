"""One glyph and one colour per deployment status and per phase state.

The glyphs themselves come from :func:`deploytui.client.humanize.status_glyph`, which ``deploytui
list`` uses too, so a status looks the same in the dashboard and in a terminal. Colours are Textual
theme variables (``$success``, ``$error`` …) and this module is their one source: Textual's
``Content`` resolves them against the active theme when drawn (:func:`status_content`); Rich
renderables (DataTable cells, Rich tables), which cannot, take the active theme's value from
:func:`status_text`, and the widgets holding them rebuild them when the theme changes. Every glyph
has an ASCII fallback for terminals or fonts without them (``ascii=True``).
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.style import Style
from rich.text import Text
from textual.content import Content
from textual.markup import parse_style

from deploytui.client.humanize import RUNNING_STATUSES, status_glyph

__all__ = [
    "ASCII_SPINNER",
    "RUNNING_STATUSES",
    "SPINNER",
    "glyph_for",
    "phase_glyph",
    "spinner_frame",
    "status_content",
    "status_text",
    "theme_style",
]

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
"""Braille spinner frames (one cell each)."""
ASCII_SPINNER = "|/-\\"
"""Spinner frames for ASCII-only terminals."""

# tone (deploytui.client.humanize) -> Textual theme colour
_TONE = {"success": "$success", "error": "$error", "warning": "$warning", "muted": "$foreground-muted", "accent": "$accent"}
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
    glyph, ascii_glyph, tone = status_glyph(status)
    spin = spinner_frame(frame, ascii=ascii) if status in RUNNING_STATUSES else None
    return spin or (ascii_glyph if ascii else glyph), _TONE[tone]


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


def theme_style(style: str, variables: Mapping[str, str] | None) -> Style:
    """A Textual style such as ``"bold $error"`` as a Rich style, its ``$`` variables taken from
    ``variables`` (``App.theme_variables``) the way Textual reads them (ANSI themes included).
    Without a theme yet (a widget not mounted) only the text style is kept."""
    if not variables:
        return Style.parse(" ".join(word for word in style.split() if not word.startswith("$")))
    return parse_style(style, dict(variables)).rich_style


def status_text(status: str | None, variables: Mapping[str, str] | None, *, label: str | None = None) -> Text:
    """The bold status glyph (then `` label``, if given) in the status's colour from the active
    theme, as a Rich ``Text`` for renderables that do not resolve theme variables themselves."""
    glyph, colour = glyph_for(status)
    return Text(glyph if label is None else f"{glyph} {label}", style=theme_style(f"bold {colour}", variables))
