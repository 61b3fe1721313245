"""Make text from a server safe to show in a terminal.

No text from a server may control the terminal: colours are rendered, every other escape sequence is
dropped, markup is shown literally. :func:`sanitize` turns a raw line (npm output, an error message)
into a :class:`SafeText`: plain text with no control character at all, plus the SGR colours as
:class:`StyledSpan` s in Rich style syntax. The TUI builds ``rich.text.Text`` objects from it without
markup parsing (so ``[bold]x[/bold]`` stays literal); the headless renderer re-emits only colour with
:func:`to_ansi`.

What happens to each kind of input:

* SGR (``ESC [ … m``): parsed into spans — bold, dim, italic, underline, reverse, strike, the 8/16
  colours, 256 colours (``38;5;n``), true colour (``38;2;r;g;b``), colon sub-parameters, and the
  resets 0/22/23/24/27/29/39/49. Blink and conceal are ignored (the text stays visible).
* Every other CSI (cursor moves, erase, scroll regions, DEC private modes such as ``?1049h``,
  bracketed paste), OSC (window title, OSC 52 clipboard, OSC 8 hyperlinks — the link *text* is kept),
  DCS/SOS/PM/APC strings, two-character escapes (``ESC c``, ``ESC 7``, ``ESC ( B`` …) and a lone ESC
  are dropped. A string sequence with no terminator swallows the rest of the input, as a terminal would.
* 8-bit C1 controls (U+0080–U+009F) are dropped. A C1 introducer drops its whole sequence only when
  the sequence is complete (CSI U+009B with its final byte; OSC/DCS/SOS/PM/APC up to their terminator
  on the same input): these characters mostly come from mis-decoded UTF-8 ("â\x80\x9d" for a right
  quote), and must not swallow the rest of a line. A C1 CSI never applies colour.
* TAB expands to spaces up to the next 8-column stop (a terminal's default tab stops), counted in
  characters of the current line.
* CR never overwrites: a CR followed by more text on its line is shown as ``␍`` and both sides are
  kept ("10%\\r20%" → "10%␍20%"), so a failure reason cannot be hidden or faked behind a CR; a CR
  with nothing after it ("done\\r\\n") changes nothing.
* BS never erases either: it is shown as ``␈``.
* LF: :func:`sanitize` joins lines with one space (a single-line display must not let a server forge extra
  lines); :func:`sanitize_lines` returns one :class:`SafeText` per line, colours carried across.
* Every other C0 control, DEL and the bidirectional formatting characters (U+202A–U+202E,
  U+2066–U+2069, U+200E/U+200F, U+061C) are dropped: text is shown in the order it was sent.

Which characters count as unsafe is :mod:`deploytui.client.safe_text`'s rule, shared with JSON output.

Most lines have no control character at all; they take a fast path that only scans the string once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache

from deploytui.client.safe_text import BIDI_CONTROLS, UNSAFE, VISIBLE_BS, VISIBLE_CR

__all__ = ["SafeText", "StyledSpan", "sanitize", "sanitize_lines", "sanitize_parts", "strip_controls", "to_ansi"]

TAB_STOP = 8


@dataclass(frozen=True, slots=True)
class StyledSpan:
    """``text[start:end]`` is shown in ``style`` (Rich style syntax, e.g. ``"bold red"``)."""

    start: int
    end: int
    style: str


@dataclass(frozen=True, slots=True)
class SafeText:
    """Text with no control characters, and the colour spans that apply to it."""

    text: str
    spans: tuple[StyledSpan, ...] = ()


# Every character a terminal may act on (C0, DEL, C1) or that reorders text (bidi controls).
_CONTROL = UNSAFE

# One token of the slow path. Anything between tokens is literal text.
_TOKEN = re.compile(
    r"""
    (?P<sgr>\x1b\[(?P<params>[0-9;:]*)m)
  | (?P<csi>\x1b\[[0-?]*[\x20-/]*[@-~]?|\x9b[0-?]*[\x20-/]*[@-~])
  | (?P<string>\x1b[\]PX^_].*?(?:\x07|\x1b\\|\x9c|\Z)
               |[\x90\x98\x9d\x9e\x9f][^\x07\x1b\x80-\x9f]*(?:\x07|\x1b\\|\x9c))
  | (?P<esc>\x1b[\x20-/]*[0-~]?)
  | (?P<ctl>[\x00-\x1f\x7f-\x9f""" + BIDI_CONTROLS + r"""])
    """,
    re.VERBOSE | re.DOTALL,
)

# Splits a line at its SGR sequences (the ``sgr`` alternative of _TOKEN), keeping their parameters.
_SGR_SPLIT = re.compile(r"\x1b\[([0-9;:]*)m")
_SGR_AT = re.compile(r"\x1b\[[0-9;:]*m")

_BASIC = ("black", "red", "green", "yellow", "blue", "magenta", "cyan", "white")
# SGR code -> attribute set on / attributes cleared.
_ATTR_ON = {1: "bold", 2: "dim", 3: "italic", 4: "underline", 7: "reverse", 9: "strike", 21: "underline"}
_ATTR_OFF = {22: ("bold", "dim"), 23: ("italic",), 24: ("underline",), 27: ("reverse",), 29: ("strike",)}
_ATTR_ORDER = ("bold", "dim", "italic", "underline", "reverse", "strike")


def sanitize(raw: str) -> SafeText:
    """Render ``raw`` as a single line of safe text with its colour spans (see the module doc)."""
    if raw.isprintable() or not _CONTROL.search(raw):
        return SafeText(raw)
    text, spans = sanitize_parts(raw)
    return SafeText(text, spans)


def sanitize_parts(raw: str) -> tuple[str, tuple[StyledSpan, ...]]:
    """:func:`sanitize` as its text and spans, without the :class:`SafeText` (a reducer folding
    thousands of lines keeps only these)."""
    if raw.isprintable():
        return raw, ()
    esc = raw.rfind("\x1b")  # where the last SGR ends, when the last escape is one
    match = _SGR_AT.match(raw, esc) if esc >= 0 else None
    end = match.end() if match else 0
    if end:  # a coloured line: its shape up to the last SGR is likely one seen before
        shape = _sgr_prefix(raw[:end])
        if shape is not None:
            tail = raw[end:]
            if tail.isprintable() or not _CONTROL.search(tail):
                text, before, closed, start, pos, style, last_style = shape
                last = len(tail)
                if not last:
                    return text, closed
                if last_style == style:  # the last run continues the open span (if any)
                    spans = before + (StyledSpan(start, pos + last, style),) if style else closed
                else:
                    spans = closed + (StyledSpan(pos, pos + last, last_style),) if last_style else closed
                return text + tail, spans
    elif not _CONTROL.search(raw):
        return raw, ()
    # Another control than SGR is in it (no SGR-only line gets here: its last escape is an SGR).
    lines = _parse(raw)
    line = lines[0] if len(lines) == 1 else _join(lines, " ")
    return line.text, line.spans


@lru_cache(maxsize=1024)
def _sgr_prefix(prefix: str) -> tuple[str, tuple[StyledSpan, ...], tuple[StyledSpan, ...], int, int, str, str] | None:
    """A line's text up to and including its last SGR sequence, ready for its tail: the text, and
    :func:`_sgr_spans_before_last`'s answer. None when it holds another control (the slow path's)."""
    pieces = _SGR_SPLIT.split(prefix)
    texts = pieces[::2]
    text = "".join(texts)
    if not text.isprintable() and _CONTROL.search(text):
        return None
    return (text, *_sgr_spans_before_last(tuple(pieces[1::2]), tuple(map(len, texts))))


def sanitize_lines(raw: str) -> list[SafeText]:
    """Like :func:`sanitize`, one :class:`SafeText` per line (for multi-line error messages)."""
    if raw.isprintable() or not _CONTROL.search(raw):
        return [SafeText(raw)]
    coloured = _sgr_only(raw)
    if coloured is not None:
        return [coloured]
    return _parse(raw)


def strip_controls(raw: str) -> str:
    """The text of :func:`sanitize` without the colours."""
    if raw.isprintable() or not _CONTROL.search(raw):
        return raw
    return sanitize(raw).text


def to_ansi(safe: SafeText) -> str:
    """Re-emit ``safe`` for a terminal with its colours as SGR sequences — and no other escape."""
    if not safe.spans:
        return safe.text
    out: list[str] = []
    pos = 0
    for span in safe.spans:
        out.append(safe.text[pos : span.start])
        codes = _style_to_sgr(span.style)
        segment = safe.text[span.start : span.end]
        out.append(f"\x1b[{codes}m{segment}\x1b[0m" if codes else segment)
        pos = span.end
    out.append(safe.text[pos:])
    return "".join(out)


class _Parser:
    """The slow path: a small terminal model for one piece of text (lines, SGR state, TAB), in which
    nothing is ever overwritten: CR and BS are shown, not obeyed."""

    __slots__ = ("_sgr", "_style", "_runs", "_column", "_cr_pending", "_lines")

    def __init__(self) -> None:
        self._sgr: _SgrState = _PLAIN
        self._style = ""
        self._runs: list[tuple[str, str]] = []  # (text, style) chunks of the current line
        self._column = 0  # characters in the current line
        self._cr_pending = False
        self._lines: list[SafeText] = []

    def feed(self, raw: str) -> list[SafeText]:
        pos = 0
        for match in _TOKEN.finditer(raw):
            start = match.start()
            if start > pos:
                self._text(raw[pos:start])
            pos = match.end()
            kind = match.lastgroup
            if kind == "sgr":
                self._sgr, self._style = _apply_sgr(self._sgr, match.group("params"))
            elif kind == "ctl":
                self._control(match.group(0))
            # every other CSI, string sequences and other escapes: dropped
        if pos < len(raw):
            self._text(raw[pos:])
        self._end_line()
        return self._lines

    # -- text ----------------------------------------------------------------------------------
    def _text(self, text: str) -> None:
        if self._cr_pending:  # text after a CR: show the CR rather than overwrite what came before
            self._cr_pending = False
            self._text(VISIBLE_CR)
        self._column += len(text)
        self._runs.append((text, self._style))

    def _control(self, char: str) -> None:
        if char == "\t":
            self._text(" ")  # first, so a pending CR is shown and counted before the tab stop
            self._text(" " * (-self._column % TAB_STOP))
        elif char == "\r":
            self._cr_pending = True  # shown only if text follows on this line ("done\r\n" is clean)
        elif char == "\n":
            self._end_line()
        elif char == "\b":
            self._text(VISIBLE_BS)

    def _end_line(self) -> None:
        runs = self._runs
        self._lines.append(SafeText("".join(text for text, _ in runs), _spans((len(text), style) for text, style in runs)))
        self._runs = []
        self._column = 0
        self._cr_pending = False


def _sgr_only(raw: str) -> SafeText | None:
    """The coloured fast path: ``raw`` whose only controls are SGR sequences (npm's coloured lines,
    nearly every control-bearing line of an install). None when anything else is in it: then the
    slow path decides. Same result as :class:`_Parser` on such a line, without its terminal model."""
    pieces = _SGR_SPLIT.split(raw)  # text, params, text, params, …, text
    texts = pieces[::2]
    text = "".join(texts)
    if not text.isprintable() and _CONTROL.search(text):
        return None  # a TAB, CR, LF, another escape…: the slow path's business
    return SafeText(text, _sgr_spans(tuple(pieces[1::2]), tuple(map(len, texts))))


def _sgr_spans(params: tuple[str, ...], lengths: tuple[int, ...]) -> tuple[StyledSpan, ...]:
    """The spans of a line split at its SGR sequences: ``params`` of each, ``lengths`` of the texts
    around them. Lines of one shape (npm's "GET \x1b[32m200\x1b[0m <url>") share their spans up to
    the last run, cached; only a styled last run builds a span of its own."""
    before, closed, start, pos, style, last_style = _sgr_spans_before_last(params, lengths[:-1])
    last = lengths[-1]
    if not last:
        return closed
    if last_style == style:  # the last run continues the open span (if any)
        return before + (StyledSpan(start, pos + last, style),) if style else closed
    return closed + (StyledSpan(pos, pos + last, last_style),) if last_style else closed


@lru_cache(maxsize=1024)
def _sgr_spans_before_last(params: tuple[str, ...], lengths: tuple[int, ...]
                           ) -> tuple[tuple[StyledSpan, ...], tuple[StyledSpan, ...], int, int, str, str]:
    """:func:`_spans` over every run but the last: the spans closed before the open one, the same
    with the open one closed, the open span's start, end and style, and the last run's style."""
    state, styles = _PLAIN, [""]
    for p in params:
        state, style = _apply_sgr(state, p)
        styles.append(style)
    # the text before the first SGR is unstyled
    spans, span_start, pos, span_style = _merge_runs(zip(lengths[1:], styles[1:], strict=False), lengths[0])
    before = tuple(spans)
    closed = (*before, StyledSpan(span_start, pos, span_style)) if span_style else before
    return before, closed, span_start, pos, span_style, styles[-1]


def _spans(runs: Iterable[tuple[int, str]], pos: int = 0) -> tuple[StyledSpan, ...]:
    """The styled spans of consecutive ``(length, style)`` runs from ``pos``: empty runs skipped,
    neighbours of one style merged, unstyled text left out."""
    spans, span_start, pos, span_style = _merge_runs(runs, pos)
    if span_style:
        spans.append(StyledSpan(span_start, pos, span_style))
    return tuple(spans)


def _merge_runs(runs: Iterable[tuple[int, str]], pos: int) -> tuple[list[StyledSpan], int, int, str]:
    """The spans closed while walking ``(length, style)`` runs from ``pos`` (empty runs skipped,
    neighbours of one style merged), and the open span's start, end and style ("" for none)."""
    spans: list[StyledSpan] = []
    span_start, span_style = pos, ""
    for length, style in runs:
        if not length:
            continue
        if style != span_style:
            if span_style:
                spans.append(StyledSpan(span_start, pos, span_style))
            span_start, span_style = pos, style
        pos += length
    return spans, span_start, pos, span_style


def _parse(raw: str) -> list[SafeText]:
    """The slow path; a trailing line break does not make an empty last line."""
    lines = _Parser().feed(raw)
    if len(lines) > 1 and not lines[-1].text:
        lines.pop()
    return lines


# The SGR state: (attributes, foreground, background); hashable so transitions can be cached.
_SgrState = tuple[frozenset[str], str | None, str | None]
_PLAIN: _SgrState = (frozenset(), None, None)


@lru_cache(maxsize=4096)
def _apply_sgr(state: _SgrState, params: str) -> tuple[_SgrState, str]:
    """The state after ``ESC [ params m`` and its Rich style string (cached: npm repeats a few)."""
    attrs, fg, bg = set(state[0]), state[1], state[2]
    fields = (params or "0").split(";")
    i = 0
    while i < len(fields):
        sub = fields[i].split(":")
        code = _int(sub[0])
        if code in (38, 48):
            if len(sub) > 1:  # colon form: 38:5:n or 38:2[:cs]:r:g:b
                colour = _extended_colour(sub[1:], colon=True)
            else:
                colour, used = _extended_colour_semicolons(fields, i + 1)
                i += used
            if colour is not None and code == 38:
                fg = colour
            elif colour is not None:
                bg = colour
        elif code == 0:
            attrs.clear()
            fg = bg = None
        elif code == 39:
            fg = None
        elif code == 49:
            bg = None
        elif code is not None:
            fg, bg = _basic_colour(code, fg, bg)
            _set_attribute(attrs, code, sub)
        i += 1
    return (frozenset(attrs), fg, bg), _compose(attrs, fg, bg)


def _basic_colour(code: int, fg: str | None, bg: str | None) -> tuple[str | None, str | None]:
    """Apply 30–37, 90–97 (foreground) and 40–47, 100–107 (background)."""
    if 30 <= code <= 37:
        return _BASIC[code - 30], bg
    if 90 <= code <= 97:
        return "bright_" + _BASIC[code - 90], bg
    if 40 <= code <= 47:
        return fg, _BASIC[code - 40]
    if 100 <= code <= 107:
        return fg, "bright_" + _BASIC[code - 100]
    return fg, bg


def _set_attribute(attrs: set[str], code: int, sub: list[str]) -> None:
    """Apply bold/dim/italic/underline/reverse/strike on (1–9, 21) and off (22–29)."""
    if code == 4 and len(sub) > 1 and _int(sub[1]) == 0:
        attrs.discard("underline")  # 4:0 = underline off
    elif code in _ATTR_ON:
        attrs.add(_ATTR_ON[code])
    elif code in _ATTR_OFF:
        attrs.difference_update(_ATTR_OFF[code])


def _compose(attrs: set[str], fg: str | None, bg: str | None) -> str:
    parts = [attr for attr in _ATTR_ORDER if attr in attrs]
    if fg:
        parts.append(fg)
    if bg:
        parts.append("on " + bg)
    return " ".join(parts)


def _int(text: str) -> int | None:
    return int(text) if text.isdigit() and len(text) < 8 else (0 if text == "" else None)


def _extended_colour_semicolons(fields: list[str], start: int) -> tuple[str | None, int]:
    """Read ``5;n`` or ``2;r;g;b`` after a 38/48; return the colour and how many fields it used."""
    kind = _int(fields[start]) if start < len(fields) else None
    if kind == 5:
        return _extended_colour(fields[start : start + 2], colon=False), 2
    if kind == 2:
        return _extended_colour(fields[start : start + 4], colon=False), 4
    return None, 1 if start < len(fields) else 0


def _extended_colour(values: list[str], *, colon: bool) -> str | None:
    """A 256-colour or true-colour value as a Rich colour name, or None when malformed."""
    kind = _int(values[0]) if values else None
    nums = values[1:]
    if kind == 2 and colon and len(nums) >= 4:
        nums = nums[1:]  # 38:2:<colour space>:r:g:b
    numbers = [_int(n) for n in nums]
    if kind == 5 and len(numbers) >= 1 and numbers[0] is not None and numbers[0] <= 255:
        return f"color({numbers[0]})"
    if kind == 2 and len(numbers) >= 3 and all(n is not None and n <= 255 for n in numbers[:3]):
        r, g, b = numbers[:3]
        return f"#{r:02x}{g:02x}{b:02x}"
    return None


def _join(lines: list[SafeText], separator: str) -> SafeText:
    """Concatenate lines with ``separator``, shifting their spans."""
    texts: list[str] = []
    spans: list[StyledSpan] = []
    offset = 0
    for line in lines:
        if texts:
            texts.append(separator)
            offset += len(separator)
        texts.append(line.text)
        spans.extend(StyledSpan(s.start + offset, s.end + offset, s.style) for s in line.spans)
        offset += len(line.text)
    return SafeText("".join(texts), tuple(spans))


_SGR_ATTR = {"bold": "1", "dim": "2", "italic": "3", "underline": "4", "reverse": "7", "strike": "9"}
_COLOUR_FN = re.compile(r"color\((\d{1,3})\)")
_HEX = re.compile(r"#([0-9a-f]{6})")


def _style_to_sgr(style: str) -> str:
    """SGR parameters for a style string this module produced (unknown words are ignored)."""
    codes: list[str] = []
    background = False
    for word in style.split():
        if word == "on":
            background = True
            continue
        if word in _SGR_ATTR:
            codes.append(_SGR_ATTR[word])
            continue
        colour = _colour_to_sgr(word, background)
        if colour:
            codes.append(colour)
        background = False
    return ";".join(codes)


def _colour_to_sgr(word: str, background: bool) -> str | None:
    base = 40 if background else 30
    if word in _BASIC:
        return str(base + _BASIC.index(word))
    if word.startswith("bright_") and word[7:] in _BASIC:
        return str(base + 60 + _BASIC.index(word[7:]))
    prefix = "48" if background else "38"
    if match := _COLOUR_FN.fullmatch(word):
        return f"{prefix};5;{match.group(1)}"
    if match := _HEX.fullmatch(word):
        rgb = match.group(1)
        return f"{prefix};2;{int(rgb[0:2], 16)};{int(rgb[2:4], 16)};{int(rgb[4:6], 16)}"
    return None
