"""``deploytui demo --tour`` as a subprocess against a real server: the story's steps in order, each
started after the one before ended, each with the page its project serves at that point."""

from __future__ import annotations

import re

import httpx

from deploytui.server.demos import tour_steps
from tests.e2e.cli_support import assert_no_controls, run_cli


def rows_by_id(srv) -> dict[str, dict]:
    response = httpx.post(srv.url + "/", json={"operation": "list_deployments", "limit": 100},
                          auth=(srv.user, srv.password), timeout=30)
    assert response.status_code == 200, response.text
    return {row["deployment_id"]: row for row in response.json()["deployments"]}


def test_the_tour_tells_its_story_one_step_after_another(server) -> None:
    result = run_cli(server, "demo", "--tour", "--pace", "0", timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert_no_controls(result.stdout, result.stderr)
    lines = [line for line in result.stdout.splitlines() if line.startswith("step ")]
    steps = tour_steps()
    assert len(lines) == len(steps), result.stdout
    columns = [re.split(r"\s{2,}", line) for line in lines]  # step, title, project, result, id, page
    assert [c[1] for c in columns] == [step.title for step in steps]
    assert [c[2] for c in columns] == [step.project for step in steps]
    assert [c[3] for c in columns] == ["success", "success", "failed in prepare", "success", "rolled_back"]
    # What the page at the project's URL showed right after each step (the failed deploy left 1.0.0 up).
    assert [c[5] for c in columns] == [f"{server.url}/{project}/ shows {shows}" for project, shows in (
        ("hello", "hello 1.0.0"), ("chatty", "chatty 1.0.0"), ("hello", "hello 1.0.0"), ("hello", "hello 1.1.1"),
        ("hello", "hello 1.0.0"))]
    assert result.stdout.rstrip().endswith("tour: 5 steps, each as told")

    # One after another: each step started once the one before had ended.
    rows = rows_by_id(server)
    ours = [next(row for key, row in rows.items() if key.startswith(c[4])) for c in columns]
    assert [row["status"] for row in ours] == ["success", "success", "failed", "success", "rolled_back"]
    assert [row["project"] for row in ours] == [step.project for step in steps]
    for before, after in zip(ours, ours[1:]):
        assert after["started_at"] >= before["completed_at"], (before, after)

    page = httpx.get(f"{server.url}/hello/", timeout=30)
    assert page.status_code == 200 and 'data-version="1.0.0"' in page.text


def test_tour_usage_errors(server) -> None:
    named = run_cli(server, "demo", "--tour", "hello")
    assert named.returncode == 2 and "--tour tells its own story" in named.stdout + named.stderr
    negative = run_cli(server, "demo", "--tour", "--pace", "-1")
    assert negative.returncode == 2 and "must be 0 seconds or more" in negative.stderr
    assert rows_by_id(server) == {}  # nothing was deployed
