"""safe_text: the one rule of what may not reach a terminal, for human and JSON output alike."""

from __future__ import annotations

import json

import pytest

from deploytui.client.ansi import sanitize, strip_controls
from deploytui.client.render import json_line
from deploytui.client.safe_text import UNSAFE, has_unsafe, json_dumps
from deploytui.protocol.events import InstallEvent

C1 = [chr(c) for c in range(0x80, 0xA0)]
BIDI = ["\u061c", "\u200e", "\u200f", *map(chr, range(0x202A, 0x202F)), *map(chr, range(0x2066, 0x206A))]
C0 = [chr(c) for c in range(0x20)]


@pytest.mark.parametrize("char", C0 + ["\x7f"] + C1 + BIDI)
def test_the_rule_covers_every_control(char: str) -> None:
    assert has_unsafe(f"a{char}b")
    assert UNSAFE.fullmatch(char)


@pytest.mark.parametrize("text", ["plain", "héllo ✓ 日本 עברית", "\u200b zero width space is not a control", ""])
def test_ordinary_text_is_not_unsafe(text: str) -> None:
    assert not has_unsafe(text)


@pytest.mark.parametrize("char", C0 + ["\x7f"] + C1 + BIDI + ["\u2028", "\u2029"])
def test_json_dumps_escapes_every_unsafe_character_and_round_trips(char: str) -> None:
    value = {"line": f"x{char}y", f"k{char}": [f"{char}"]}
    text = json_dumps(value)
    assert not UNSAFE.search(text) and "\u2028" not in text and "\u2029" not in text
    assert json.loads(text) == value


def test_json_dumps_keeps_other_text_readable_and_passes_options() -> None:
    assert json_dumps({"p": "日本 ✓"}, separators=(",", ":")) == '{"p":"日本 ✓"}'


def test_json_line_and_human_text_follow_the_same_rule() -> None:
    hostile = "ok\u202e\x9b2J\x9d0;t\x9c\rOVER"
    wire = {"manager": "npm", "line": hostile, "stream": "stdout"}
    line = json_line(InstallEvent(manager="npm", line=hostile, stream="stdout", raw=wire))
    assert not UNSAFE.search(line)
    assert json.loads(line)["data"]["line"] == hostile  # lossless
    assert not UNSAFE.search(sanitize(hostile).text)
    assert strip_controls(hostile) == "ok␍OVER"  # the CR is shown, not obeyed


def test_the_dashboard_uses_the_same_rule() -> None:
    """The dashboard's cells, error panel and install-log safety net apply the rule the headless
    commands do: no bidi control, the CR shown."""
    from deploytui.tui.widgets.formatting import clean
    from deploytui.tui.widgets.install_log.render import safe_plain

    hostile = "exit code 3: printf \"T9\rOVER\" \u202eexe.txt\x9b2J"
    assert clean(hostile) == strip_controls(hostile) == 'exit code 3: printf "T9␍OVER" exe.txt'
    assert not UNSAFE.search(safe_plain("a\u202eb\u2066c\x9bd"))  # even text that skipped the sanitizer
