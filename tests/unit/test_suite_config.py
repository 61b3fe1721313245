"""The test suite's own configuration: parallel, two workers a core, by default, and runnable without
xdist at all (``-p no:xdist``), as the README and CI run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ONE_TEST = ["tests/unit/test_ansi.py", "-k", "every_style_parses"]


def run_pytest(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "PYTEST_XDIST"))}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args, *ONE_TEST],
                          cwd=REPO, capture_output=True, text=True, timeout=120, env=env)


def test_the_suite_runs_two_workers_a_core_by_default(pytestconfig: pytest.Config) -> None:
    """Checked on this very run (spawning a second xdist session cost the suite ~10 s of CPU)."""
    args = pytestconfig.invocation_params.args
    if any(arg.startswith(("-n", "--numprocesses", "--dist")) for arg in args) or "no:xdist" in args:
        pytest.skip("this run chose its own workers")
    workerinput = getattr(pytestconfig, "workerinput", None)
    assert workerinput is not None, "the suite ran without xdist workers"
    assert workerinput["workercount"] == 2 * len(os.sched_getaffinity(0))


def test_the_suite_runs_without_xdist() -> None:
    result = run_pytest("-p", "no:xdist")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 passed" in result.stdout and "workers" not in result.stdout
