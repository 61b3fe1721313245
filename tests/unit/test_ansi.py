"""ansi.sanitize: colours become spans, every other control is dropped, markup stays literal."""

from __future__ import annotations

import random
import re

import pytest
from rich.color import Color
from rich.style import Style

from deploytui.client.ansi import (
    SafeText,
    StyledSpan,
    sanitize,
    sanitize_lines,
    strip_controls,
    to_ansi,
)

ESC = "\x1b"


BIDI = "\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"


def _has_control(text: str) -> bool:
    return any(ord(c) < 0x20 or 0x7F <= ord(c) <= 0x9F or c in BIDI for c in text)


def _spans(raw: str) -> list[tuple[str, str]]:
    """(covered text, style) pairs, the easiest form to assert on."""
    safe = sanitize(raw)
    return [(safe.text[s.start : s.end], s.style) for s in safe.spans]


# -- the fast path -------------------------------------------------------------------------------


@pytest.mark.parametrize("line", ["added 312 packages in 4s", "", "héllo ✓ 日本", "[bold]x[/bold]"])
def test_plain_lines_are_unchanged(line: str) -> None:
    assert sanitize(line) == SafeText(line, ())
    assert strip_controls(line) == line


def test_markup_is_kept_literally_inside_coloured_text() -> None:
    safe = sanitize(f"{ESC}[31m[bold]x[/bold]{ESC}[0m [link=http://e]y[/link]")
    assert safe.text == "[bold]x[/bold] [link=http://e]y[/link]"
    assert _spans(f"{ESC}[31m[b]x[/b]{ESC}[0m") == [("[b]x[/b]", "red")]


# -- SGR -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (f"{ESC}[31mred{ESC}[0m plain", [("red", "red")]),
        (f"{ESC}[1;32mok{ESC}[m", [("ok", "bold green")]),
        (f"{ESC}[91mx{ESC}[39m", [("x", "bright_red")]),
        (f"{ESC}[104mx{ESC}[49m", [("x", "on bright_blue")]),
        (f"{ESC}[38;5;208mx", [("x", "color(208)")]),
        (f"{ESC}[38;2;255;135;0;44mx", [("x", "#ff8700 on blue")]),
        (f"{ESC}[48;5;17mx", [("x", "on color(17)")]),
        (f"{ESC}[38:2::1:2:3mx", [("x", "#010203")]),
        (f"{ESC}[38:5:9mx", [("x", "color(9)")]),
        (f"{ESC}[2;3;4;7;9mx", [("x", "dim italic underline reverse strike")]),
        (f"{ESC}[1mA{ESC}[22mB", [("A", "bold")]),
        (f"{ESC}[3mA{ESC}[23mB{ESC}[4mC{ESC}[24mD{ESC}[7mE{ESC}[27mF", [("A", "italic"), ("C", "underline"), ("E", "reverse")]),
        (f"{ESC}[1;31mA{ESC}[39mB{ESC}[0mC", [("A", "bold red"), ("B", "bold")]),
        (f"{ESC}[41mA{ESC}[49mB", [("A", "on red")]),
        (f"{ESC}[5;8mstill visible", []),  # blink/conceal ignored
        (f"{ESC}[31mA{ESC}[31mB", [("AB", "red")]),  # same style merges
        (f"{ESC}[38;5;999mx", []),  # out of range: ignored
    ],
)
def test_sgr_becomes_spans(raw: str, expected: list[tuple[str, str]]) -> None:
    assert _spans(raw) == expected
    assert not _has_control(sanitize(raw).text)


def test_every_style_parses_as_rich_to_what_the_sgr_said() -> None:
    """The span styles are Rich style strings the renderer can parse, meaning what the codes meant."""
    raw = f"{ESC}[1;2;3;4;7;9;38;5;200;48;2;1;2;3ma{ESC}[0;95;101mb"
    assert [Style.parse(span.style) for span in sanitize(raw).spans] == [
        Style(bold=True, dim=True, italic=True, underline=True, reverse=True, strike=True,
              color=Color.from_ansi(200), bgcolor=Color.from_rgb(1, 2, 3)),
        Style(color="bright_magenta", bgcolor="bright_red"),
    ]


def test_span_offsets_are_in_output_coordinates() -> None:
    safe = sanitize(f"ab{ESC}[?25l{ESC}[32mcd{ESC}[0mef")
    assert safe == SafeText("abcdef", (StyledSpan(2, 4, "green"),))


# -- everything else is dropped ------------------------------------------------------------------


@pytest.mark.parametrize(
    "sequence",
    [
        f"{ESC}[2J", f"{ESC}[H", f"{ESC}[10;20H", f"{ESC}[3A", f"{ESC}[K", f"{ESC}[1;24r",  # CSI
        f"{ESC}[?1049h", f"{ESC}[?25l", f"{ESC}[?2004h", f"{ESC}[200~", f"{ESC}[>4;2m", f"{ESC}[0 q",
        f"{ESC}]0;evil title\x07", f"{ESC}]2;title{ESC}\\",  # OSC title
        f"{ESC}]52;c;ZWNobyBwd25lZA==\x07",  # OSC 52 clipboard
        f"{ESC}P1$tq{ESC}\\", f"{ESC}Xsos{ESC}\\", f"{ESC}^pm{ESC}\\", f"{ESC}_apc{ESC}\\",  # strings
        f"{ESC}c", f"{ESC}7", f"{ESC}8", f"{ESC}(B", f"{ESC}=", f"{ESC}M", f"{ESC}#8",  # two-char escapes
        "\x9b2J", "\x9b31m", "\x9d0;title\x9c", "\x90q\x9c", "\x85", "\x8d", "\x9c",  # 8-bit C1
        "\x00", "\x07", "\x0b", "\x0c", "\x0e", "\x1a", "\x7f",  # C0 and DEL
    ],
)
def test_non_colour_sequences_are_dropped(sequence: str) -> None:
    safe = sanitize(f"a{sequence}b")
    assert safe == SafeText("ab", ())


def test_osc8_hyperlink_keeps_its_text() -> None:
    raw = f"see {ESC}]8;;https://evil.example/{ESC}\\the docs{ESC}]8;;{ESC}\\ now"
    assert sanitize(raw) == SafeText("see the docs now", ())
    bel = f"{ESC}]8;id=1;https://x\x07link{ESC}]8;;\x07"
    assert strip_controls(bel) == "link"


def test_mojibake_c1_does_not_swallow_the_line() -> None:
    # U+201D decoded as Latin-1 gives "â\x80\x9d": \x9d is an OSC introducer with no terminator.
    assert sanitize("say \u00e2\x80\x9dhi\u00e2\x80\x9d, bye").text == "say \u00e2hi\u00e2, bye"
    assert sanitize("a\x9b\u00e9b").text == "a\u00e9b"  # not a complete CSI: only \x9b goes


def test_c1_csi_never_applies_colour() -> None:
    assert sanitize("\x9b31mred") == SafeText("red", ())


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        (f"abc{ESC}", "abc"),  # lone ESC at the end
        (f"a{ESC}", "a"),
        (f"abc{ESC}[31", "abc"),  # unterminated CSI
        (f"abc{ESC}]0;title never ends", "abc"),  # unterminated OSC swallows the rest, as a terminal
        (f"a{ESC}{ESC}[31mb", "ab"),
    ],
)
def test_truncated_sequences(raw: str, text: str) -> None:
    assert sanitize(raw).text == text


# -- CR, BS, TAB, LF -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("10%\r20%\r30%", "10%␍20%␍30%"),  # nothing is overwritten: every frame stays
        ('exit code 3: printf "T9\rOVER"', 'exit code 3: printf "T9␍OVER"'),
        ("a\r\rb", "a␍b"),
        ("done\r", "done"),
        ("done\r\n", "done"),
        ("abc\b", "abc␈"),
        ("abc\b\bX", "abc␈␈X"),
        ("\b\bx", "␈␈x"),
        ("a\tb", "a" + " " * 7 + "b"),
        ("\tb", " " * 8 + "b"),
        ("12345678\tb", "12345678" + " " * 8 + "b"),
        ("x\r\ty", "x␍" + " " * 6 + "y"),
        ("one\ntwo", "one two"),
        ("one\r\ntwo\n", "one two"),
    ],
)
def test_cr_bs_tab_lf(raw: str, text: str) -> None:
    assert sanitize(raw).text == text


def test_cr_progress_bar_keeps_every_frame_with_its_colours() -> None:
    raw = f"{ESC}[32m[##  ] 10%\r{ESC}[33m[####] 100%{ESC}[0m"
    assert _spans(raw) == [("[##  ] 10%", "green"), ("␍[####] 100%", "yellow")]


def test_backspace_is_shown_not_obeyed() -> None:
    assert sanitize(f"{ESC}[31mab\b{ESC}[0mc") == SafeText("ab␈c", (StyledSpan(0, 3, "red"),))


@pytest.mark.parametrize("char", list(BIDI))
def test_bidi_controls_are_dropped(char: str) -> None:
    raw = f"file{char}gpj.exe"
    assert sanitize(raw) == SafeText("filegpj.exe")
    assert strip_controls(raw) == "filegpj.exe"
    assert [line.text for line in sanitize_lines(f"a{char}\nb")] == ["a", "b"]


def test_c1_controls_never_survive() -> None:
    raw = "".join(chr(c) for c in range(0x80, 0xA0)) + "x"
    assert not _has_control(sanitize(raw).text)
    assert sanitize("\x9b2J\x9d0;title\x9cok").text == "ok"


def test_sanitize_lines_carries_colour_across_lines() -> None:
    lines = sanitize_lines(f"Error: boom\n{ESC}[2m    at f (x.js:1)\n    at g{ESC}[0m\n")
    assert [line.text for line in lines] == ["Error: boom", "    at f (x.js:1)", "    at g"]
    assert lines[2].spans == (StyledSpan(0, 8, "dim"),)
    assert sanitize_lines("one line") == [SafeText("one line")]


# -- to_ansi: colour out, nothing else -----------------------------------------------------------


def test_to_ansi_reemits_only_colour() -> None:
    raw = f"{ESC}]0;t\x07{ESC}[2J{ESC}[1;38;2;255;0;0mA{ESC}[0m{ESC}[?1049h B {ESC}[92;48;5;17mC"
    out = to_ansi(sanitize(raw))
    assert out == f"{ESC}[1;38;2;255;0;0mA{ESC}[0m B {ESC}[92;48;5;17mC{ESC}[0m"
    assert sanitize(out) == sanitize(raw)  # round trip


def test_random_input_never_leaks_a_control_character() -> None:
    alphabet = [ESC, "[", "]", "\x07", "\\", "\x9b", "\x9d", "\x90", "\r", "\b", "\t", "\n", "m", ";", "1", "3", "8", "?", "a", "P", "_", "\x00", "\x7f", "\u202e", "\u2066"]
    rng = random.Random(7)
    for _ in range(3000):
        raw = "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 30)))
        safe = sanitize(raw)
        assert not _has_control(safe.text), repr(raw)
        assert all(0 <= s.start < s.end <= len(safe.text) for s in safe.spans), repr(raw)
        out = to_ansi(safe)
        assert re.sub(r"\x1b\[[0-9;]*m", "", out) == safe.text, repr(raw)  # only SGR added
        for line in sanitize_lines(raw):
            assert not _has_control(line.text), repr(raw)


def test_coloured_lines_of_one_shape_share_the_terminal_models_answer() -> None:
    """The SGR fast path (a line's shape up to its last SGR cached, the tail added) gives what the
    terminal model gives, for lines seen once and again, whatever the last run's style."""
    from deploytui.client.ansi import _join, _parse, sanitize_parts

    sgrs = [f"{ESC}[{p}m" for p in ("31", "0", "", "1;32", "39", "1", "22", "38;5;208", "4:0", "31")]
    rng = random.Random(11)
    for _ in range(2000):
        parts = [rng.choice(["", "a", "bc", "def"]) if rng.random() < 0.6 else rng.choice(sgrs)
                 for _ in range(rng.randint(1, 7))]
        if rng.random() < 0.1:
            parts.insert(rng.randrange(len(parts) + 1), rng.choice(["\t", "\r", "\x9b", f"{ESC}[2J", "\u202e"]))
        raw = "".join(parts)
        lines = _parse(raw)
        model = lines[0] if len(lines) == 1 else _join(lines, " ")
        for _ in range(2):  # the second time from the cache
            assert sanitize_parts(raw) == (model.text, model.spans), repr(raw)
            assert sanitize(raw) == model, repr(raw)
