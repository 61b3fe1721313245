"""bench/run_all.py's table and row parsing (pure: no bench is run, nothing is timed)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

RUN_ALL = Path(__file__).resolve().parents[2] / "bench" / "run_all.py"


def _load_run_all():
    spec = importlib.util.spec_from_file_location("bench_run_all", RUN_ALL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


run_all = _load_run_all()

ROW = {"measure": "list painted ÷ one label", "baseline": "one label 210 ms (median)",
       "deploytui": "list 250 ms (median)", "ratio": 1.19, "target": "≤ 1.5×", "met": True,
       "repeats": 3, "ratio_min": 1.1, "ratio_median": 1.19}


def test_table_shows_each_row_with_min_and_median_ratio() -> None:
    table = run_all.format_table([ROW, {**ROW, "measure": "other", "met": False}])
    lines = table.splitlines()
    assert lines[0].split("|")[1].strip() == "measure"
    assert "ratio (min / median)" in lines[0]
    assert len(lines) == 4
    first = [cell.strip() for cell in lines[2].strip("|").split("|")]
    assert first == ["list painted ÷ one label", "one label 210 ms (median)", "list 250 ms (median)",
                     "1.10× / 1.19×", "≤ 1.5×", "yes"]
    assert lines[3].rstrip().endswith("| NO  |")


def test_parse_rows_keeps_complete_rows_and_flags_broken_ones() -> None:
    stdout = "progress text\n" + json.dumps(ROW) + "\n{not json\n" + json.dumps({"measure": "x"}) + "\n"
    rows = run_all.parse_rows("bench_x.py", stdout)
    assert rows[0] == ROW
    assert [row["met"] for row in rows] == [True, False, False]
    assert "bad JSON" in rows[1]["deploytui"]
    assert "lacks" in rows[2]["deploytui"]


def test_a_failing_script_becomes_a_row_not_a_crash(tmp_path: Path, monkeypatch) -> None:
    script = tmp_path / "bench_broken.py"
    script.write_text("import sys\nsys.exit(3)\n")
    monkeypatch.setattr(run_all, "BENCH_DIR", tmp_path)
    rows = run_all.run_script("bench_broken.py", quick=True, repeat=None, timeout=60)
    assert len(rows) == 1
    assert rows[0]["met"] is False
    assert "exit status 3" in rows[0]["deploytui"]
    assert "FAILED" in run_all.format_table(rows)
