"""Why an install failed, read from its output: the first error lines, not the last ones.

A failed ``npm install`` ends with "A complete log of this run can be found in: …", a crashed build
with a stack trace; what a person needs is near the start of the trouble: npm's ``ERR! code E404``
and the lines right after it, an exception's first line (``Error: boom``, ``ValueError: …``), the
exit status. :func:`cause_lines` picks those. The dashboard's error panel and ``deploytui watch``
both use it, so they name the same cause. UI-free: plain strings in, indices out.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from deploytui.client.ansi import strip_controls
from deploytui.client.classify import classify_line

__all__ = ["MAX_CAUSE_LINES", "cause_lines", "error_lines", "output_lines"]

MAX_CAUSE_LINES = 3

# npm 6-10 write "npm ERR! …", npm 10+ "npm error …".
_NPM_PREFIX = re.compile(r"^\s*npm\s+(?:ERR!|error)(?:\s|$)", re.IGNORECASE)
_NPM_CODE = re.compile(r"^code\s+\S+", re.IGNORECASE)
# An exception's first line: "Error: boom", "TypeError: x", "FetchError: …", "ValueError: …".
_STACK_HEAD = re.compile(r"^(?:[A-Za-z_][\w$]*\.)*[A-Za-z_$]*(?:Error|Exception)(?::\s|$)")
_EXIT = re.compile(r"\bexit(?:ed with)?\s+(?:code|status)\s*:?\s*[1-9]\d*|\bcommand failed\b", re.IGNORECASE)
# Lines that are about the failure but say nothing of its cause.
_NOISE = re.compile(
    r"A complete log of this run can be found in"
    r"|^\S*[/\\]_logs[/\\]\S*debug\S*\.log$"  # the log's path, on the line after
    r"|^>\s"  # npm echoing the script it runs
    r"|^\s*at\s"  # a stack frame
    r"|^\s*\^+\s*$"  # the caret under a source line
    r"|^\s*[{}]\s*$|^\s*\w+:\s+['\d].*,?$"  # an error object dumped key by key
    r"|^\d{3}\s*$",  # "npm ERR! 404" alone
    re.IGNORECASE,
)
# npm's detail lines: real, but less telling than the others (kept for when nothing else is there).
_DETAIL = re.compile(r"^(?:errno|syscall|path|cwd|signal|command\s+(?!failed)|A complete log)\b", re.IGNORECASE)
_KEYWORDS = ("err", "fail", "exit", "exception")


def _body(text: str) -> tuple[str, bool]:
    """The line without npm's error prefix, and whether it had one."""
    match = _NPM_PREFIX.match(text)
    return (text[match.end():].strip(), True) if match else (text.strip(), False)


def cause_lines(lines: Sequence[str], limit: int = MAX_CAUSE_LINES) -> list[int]:
    """Indices, in output order, of at most ``limit`` lines that best say why the install failed;
    empty when no line reads as an error (then the cause is elsewhere, e.g. a config the server
    refused after a clean install).

    First npm's ``code`` line and an exception's first line, then the other error lines in order
    (npm's ``errno``/``syscall``/``path`` details last); a log path, stack frames, an echoed source
    line and an object dump are never chosen.
    """
    chosen: list[int] = []
    ordinary: list[int] = []
    details: list[int] = []
    have_code = have_head = False
    for index, text in enumerate(lines):
        lowered = text.lower()
        if not any(keyword in lowered for keyword in _KEYWORDS):
            continue  # most lines: one cheap scan
        body, npm = _body(text)
        if not body or _NOISE.search(body):
            continue
        if index + 1 < len(lines) and re.fullmatch(r"\s*\^+\s*", lines[index + 1]):
            continue  # a source line echoed above its caret: the exception line below says it
        head = _STACK_HEAD.match(body) is not None
        code = npm and _NPM_CODE.match(body) is not None
        if (code and not have_code) or (head and not have_head):
            have_code, have_head = have_code or code, have_head or head
            chosen.append(index)
        elif npm and _DETAIL.match(body):
            details.append(index)
        elif npm or head or _EXIT.search(body) or classify_line(text)[0]:
            ordinary.append(index)
    picked = chosen[:limit]
    for index in ordinary + details:
        if len(picked) >= limit:
            break
        picked.append(index)
    return sorted(picked)


def output_lines(install_output: Any) -> list[tuple[str, str]]:
    """``(stream, text)`` of an ``error`` event's ``install_output`` (Harper sends its last lines)."""
    entries = install_output.get("lines") if isinstance(install_output, dict) else None
    return [
        ("stderr" if entry.get("stream") == "stderr" else "stdout", entry["line"])
        for entry in entries if isinstance(entries, list) and isinstance(entry, dict) and isinstance(entry.get("line"), str)
    ] if isinstance(entries, list) else []


def error_lines(lines: Sequence[tuple[str, str]], *, tail: int = 3) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """``(first error lines, last non-blank lines)`` of an install's ``(stream, text)`` lines."""
    texts = [text for _, text in lines]
    cause = [lines[i] for i in cause_lines(texts)]
    last = [line for line in lines[-(tail + 8):] if strip_controls(line[1]).strip()][-tail:]
    return cause, last
