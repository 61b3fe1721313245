"""classify_line's keyword pre-check: the fast ASCII path finds exactly what the regex finds."""

from __future__ import annotations

import pytest

from deploytui.client.classify import _ANY_KEYWORD, _has_keyword, classify_line

LINES = [
    "  12345 reify:@babel/core: timing reifyNode:node_modules/@babel/core Completed in 345ms",
    "npm ERR! code ELIFECYCLE", "npm Warn deprecated glob@7", "EXITED with code 2", "Deprecation",
    "FAILED", "eRr", "added 3 packages", "", "error-ex@1.3.2", "\tWARN", "eLiFeCyClE",
    "Ошибка: ERROR here", "ﬁle ſtatus: Fail", "naïve warning", "plain non-ascii ünïcödé",
]


@pytest.mark.parametrize("text", LINES)
def test_the_fast_pre_check_agrees_with_the_regex(text: str) -> None:
    assert _has_keyword(text) == (_ANY_KEYWORD.search(text) is not None)


def test_non_ascii_lines_keep_the_regexs_case_folding() -> None:
    # Lines with non-ASCII characters take the regex path: keywords among them are still found.
    assert classify_line("Ошибка: ERROR here") == (True, False)
    assert classify_line("naïve warning") == (False, True)
