"""The one rule for which characters from a server may not reach a terminal raw.

Shared by everything that shows server text — the dashboard, ``list``, ``watch``, ``deploy``,
``demo`` — in every output mode, so a hostile server cannot clear the screen, set the window title,
write the clipboard, overwrite a failure reason with ``\\r``, or reorder what is shown with
bidirectional overrides:

* C0 controls (U+0000–U+001F), DEL (U+007F) and C1 controls (U+0080–U+009F, among them the 8-bit
  CSI U+009B, OSC U+009D and ST U+009C, which some terminals act on like ``ESC [``, ``ESC ]``,
  ``ESC \\``);
* the bidirectional formatting characters (U+202A–U+202E embeddings and overrides, U+2066–U+2069
  isolates, the marks U+200E, U+200F and U+061C): they make a terminal show text in an order other
  than the one it was sent in ("Trojan Source").

Human output turns text through :mod:`deploytui.client.ansi`, which keeps SGR colour, drops the
rest and shows ``\\r`` and backspace visibly (:data:`VISIBLE_CR`, :data:`VISIBLE_BS`) instead of
letting them overwrite text. JSON output goes through :func:`json_dumps`, which escapes exactly
these characters (and U+2028/U+2029, which end a line in JavaScript) as ``\\uXXXX``, so a JSON
line is valid, lossless and safe to print.
"""

from __future__ import annotations

import json
import re
from typing import Any

__all__ = ["BIDI_CONTROLS", "UNSAFE", "VISIBLE_BS", "VISIBLE_CR", "has_unsafe", "json_dumps"]

BIDI_CONTROLS = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
"""A regex character-class body: every bidirectional formatting character."""

UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}]")
"""Every character that must not reach a terminal raw (C0, DEL, C1, bidi controls)."""

VISIBLE_CR = "\u240d"  # ␍ SYMBOL FOR CARRIAGE RETURN
VISIBLE_BS = "\u2408"  # ␈ SYMBOL FOR BACKSPACE

# In JSON, C0 controls are already escaped by the encoder; these are the rest of the rule.
_UNSAFE_IN_JSON = re.compile(f"[\x7f-\x9f{BIDI_CONTROLS}\u2028\u2029]")


def has_unsafe(text: str) -> bool:
    """True when ``text`` holds a character of the rule (a fast check for the common clean case)."""
    return not text.isprintable() and UNSAFE.search(text) is not None


def json_dumps(value: Any, **kwargs: Any) -> str:
    """``json.dumps(value)`` with every unsafe character escaped as ``\\uXXXX``; other non-ASCII
    text (names, messages in any script) stays readable. ``kwargs`` go to :func:`json.dumps`."""
    text = json.dumps(value, ensure_ascii=False, **kwargs)
    return _UNSAFE_IN_JSON.sub(lambda m: f"\\u{ord(m.group()):04x}", text)
