"""cause_lines: the first lines that say why an install failed, never the log path or the tail."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from deploytui.client.cause import cause_lines, error_lines

RECORDED = json.loads((Path(__file__).parent.parent / "data" / "npm-failures" / "npm11.json").read_text())


def chosen(lines: list[str]) -> list[str]:
    return [lines[i] for i in cause_lines(lines)]


def test_npm_connection_refused_names_the_code_and_the_fetch_error() -> None:
    found = chosen([text for _stream, text in RECORDED["econnrefused"]])
    assert found[0] == "npm error code ECONNREFUSED"
    assert any("FetchError" in line for line in found)
    assert not any(" at " in line or "debug" in line or "complete log" in line for line in found)


def test_a_throwing_postinstall_names_the_exception_first() -> None:
    found = chosen([text for _stream, text in RECORDED["postinstall-throws"]])
    assert found[0].startswith("Error: boom")
    assert "npm error command failed" in found


@pytest.mark.parametrize("lines, first", [
    (["npm ERR! code E404", "npm ERR! 404 Not Found - GET https://registry.npmjs.org/nope",
      "npm ERR! A complete log of this run can be found in:", "npm ERR!     /root/.npm/_logs/x-debug-0.log"],
     "npm ERR! code E404"),
    (["building", "Traceback (most recent call last):", '  File "x.py", line 1', "ValueError: bad wheel"],
     "ValueError: bad wheel"),
    (["compiling", "make: *** [all] Error 2", "process exited with code 2"], "make: *** [all] Error 2"),
])
def test_other_failures(lines: list[str], first: str) -> None:
    assert chosen(lines)[0] == first
    assert not any("complete log" in line or line.endswith(".log") for line in chosen(lines))


def test_a_clean_install_has_no_cause_but_keeps_its_tail() -> None:
    lines = [("stdout", "added 1 package, and audited 2 packages in 298ms"), ("stdout", ""),
             ("stdout", "found 0 vulnerabilities")]
    cause, tail = error_lines(lines)
    assert cause == [] and tail[-1] == ("stdout", "found 0 vulnerabilities") and ("stdout", "") not in tail
