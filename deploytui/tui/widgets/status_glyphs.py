"""One glyph and one colour per deployment status and per phase state.

The glyphs themselves come from :func:`deploytui.client.humanize.status_glyph`, which ``deploytui
list`` uses too, so a status looks the same in the dashboard and in a terminal. Colours are Textual
theme variables (``$success``, ``$error`` …) and this module is their one source: Textual's
``Content`` resolves them against the active theme when drawn (:func:`status_content`); Rich
renderables (DataTable cells, Rich tables), which cannot, take the active theme's value from
:func:`status_text`, and the widgets holding them rebuild them when the theme changes. Every glyph
has an ASCII fallback for terminals or fonts without them (``ascii=True``).

Without colour (``NO_COLOR``: Textual greys every colour, and red, green and blue greys on a dark
background cannot be told apart) the styles say it another way (``mono=True``, pass
``app.no_color``): a failure is bold reverse video, a success or a running deploy bold, the rest plain.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.style import Style
from rich.text import Text
from textual.content import Content
from textual.markup import parse_style

from deploytui.client.humanize import RUNNING_STATUSES, status_glyph
from deploytui.tui.glyphs import ascii_mode

__all__ = [
    "ASCII_SPINNER",
    "RUNNING_STATUSES",
    "SPINNER",
    "glyph_for",
    "mono_colour",
    "phase_glyph",
    "phase_style",
    "spinner_frame",
    "status_content",
    "status_text",
    "theme_style",
    "tone_style",
]

SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
"""Braille spinner frames (one cell each)."""
ASCII_SPINNER = "|/-\\"
"""Spinner frames for ASCII-only terminals."""

# tone (deploytui.client.humanize) -> Textual theme colour
_TONE = {"success": "$success", "error": "$error", "warning": "$warning", "muted": "$foreground-muted", "accent": "$accent"}
_UNKNOWN = ("?", "?", "$foreground-muted")
# Without colour: the error colour becomes reverse video, so a failure still stands out.
_MONO = {"$error": "reverse", "$success": "", "$warning": "", "$accent": "", "$foreground-muted": ""}

# phase state -> (glyph, ascii glyph, colour); "running" uses the spinner.
_PHASE: dict[str, tuple[str, str, str]] = {
    "pending": ("○", "o", "$foreground-muted"),
    "running": ("●", "*", "$accent"),
    "done": ("✓", "+", "$success"),
    "failed": ("✗", "x", "$error"),
    "skipped": ("–", "-", "$foreground-muted"),
}


def _ascii(ascii: bool | None) -> bool:
    """An explicit ``ascii`` argument, else the app's ASCII mode (:mod:`deploytui.tui.glyphs`)."""
    return ascii_mode() if ascii is None else ascii


def spinner_frame(frame: int | None, *, ascii: bool | None = None) -> str | None:
    """The spinner glyph for ``frame``, or None when not animating (``frame is None``)."""
    if frame is None:
        return None
    frames = ASCII_SPINNER if _ascii(ascii) else SPINNER
    return frames[frame % len(frames)]


def glyph_for(status: str | None, *, frame: int | None = None, ascii: bool | None = None) -> tuple[str, str]:
    """``(glyph, colour)`` for a deployment status.

    Running statuses show spinner frame ``frame`` (pass a counter that a timer advances) or a
    static ``●`` when ``frame`` is None. Unknown statuses get ``?`` rather than an error, so a
    newer server's status still shows.
    """
    glyph, ascii_glyph, tone = status_glyph(status)
    spin = spinner_frame(frame, ascii=ascii) if status in RUNNING_STATUSES else None
    return spin or (ascii_glyph if _ascii(ascii) else glyph), _TONE[tone]


def phase_glyph(state: str, *, frame: int | None = None, ascii: bool | None = None) -> tuple[str, str]:
    """``(glyph, colour)`` for a phase state: pending ○, running spinner/●, done ✓, failed ✗, skipped –."""
    glyph, ascii_glyph, colour = _PHASE.get(state, _UNKNOWN)
    if state == "running" and frame is not None:
        return spinner_frame(frame, ascii=ascii) or glyph, colour
    return (ascii_glyph if _ascii(ascii) else glyph), colour


def mono_colour(colour: str, *, mono: bool) -> str:
    """``colour`` (a theme colour of this module), or what replaces it without colour: reverse
    video for an error, nothing for the rest (the default foreground reads best in greys)."""
    return _MONO.get(colour, "") if mono else colour


def tone_style(status: str | None, *, mono: bool = False) -> str:
    """The Textual style of a status's words (the list's phase, the header's badge): bold in the
    status's colour; with ``mono``, bold and, for a failure, reverse video."""
    return f"bold {mono_colour(glyph_for(status)[1], mono=mono)}".strip()


def phase_style(state: str, *, mono: bool = False) -> str:
    """The Textual style of a phase's glyph: its state's colour; with ``mono``, a failed phase is
    bold reverse video and a done or running one bold."""
    colour = _PHASE.get(state, _UNKNOWN)[2]
    if not mono:
        return colour
    return "bold reverse" if state == "failed" else "bold" if state in ("done", "running") else ""


def status_content(
    status: str | None, *, frame: int | None = None, ascii: bool | None = None, label: bool = True, mono: bool = False
) -> Content:
    """The glyph in its colour, followed by the status name (``label=False`` for the glyph alone)."""
    glyph, colour = glyph_for(status, frame=frame, ascii=ascii)
    style = tone_style(status, mono=True) if mono else colour
    icon = Content.styled(glyph, style)
    if not label:
        return icon
    return Content.assemble(icon, " ", (str(status or "unknown").replace("_", " "), style))


def theme_style(style: str, variables: Mapping[str, str] | None) -> Style:
    """A Textual style such as ``"bold $error"`` as a Rich style, its ``$`` variables taken from
    ``variables`` (``App.theme_variables``) the way Textual reads them (ANSI themes included).
    Without a theme yet (a widget not mounted) only the text style is kept."""
    if not variables:
        return Style.parse(" ".join(word for word in style.split() if not word.startswith("$")))
    return parse_style(style, dict(variables)).rich_style


def status_text(
    status: str | None, variables: Mapping[str, str] | None, *, label: str | None = None, mono: bool = False
) -> Text:
    """The bold status glyph (then `` label``, if given) in the status's colour from the active
    theme, as a Rich ``Text`` for renderables that do not resolve theme variables themselves.
    With ``mono`` (no colour) a failure is reverse video instead."""
    glyph, _colour = glyph_for(status)
    return Text(glyph if label is None else f"{glyph} {label}", style=theme_style(tone_style(status, mono=mono), variables))
