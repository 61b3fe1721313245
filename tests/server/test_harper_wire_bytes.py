"""``--wire harper`` is Harper 5.1.14 on the wire: our bytes against the captures of a real 5.1.14
node (tests/data/harper-5.1.14-wire, contract §4.7).

Each test makes our server do what was done to the captured node (same project name, an install
script printing the captured lines on the captured streams) and compares the body byte for byte
after normalising only what cannot be equal: ids (deployment ids; the payload's hash and size, as
our tarball is not the captured one; the node's name) and times (``t``, ``started_at``,
``completed_at``, ``__createdtime__``/``__updatedtime__``). Headers: status, content type, cache
control, ``x-accel-buffering``, and no ``x-deployment-id``.

The chatty capture's line order depends on how Harper read two pipes (its stderr lines arrive late),
so it is compared by shape: where the truncation marker sits and what it says.
"""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Iterator

import httpx
import pytest

from deploytui.client.local import LocalServer
from tests.client.harper_replay import WIRE
from tests.conftest import make_tarball, op, start_server

pytestmark = pytest.mark.timeout(120)
SSE = {"Accept": "text/event-stream"}
MISSING_ID = "00000000-0000-0000-0000-000000000000"

# The captured node's scripts, rebuilt from what they printed (deploy-pscript-sse, deploy-pquiet-sse).
# The pause keeps stdout's lines ahead of stderr's, as they arrived on the captured node.
FAIL_JS = (
    'process.stdout.write("installing step 1\\n\\u001b[31mred text\\u001b[0m and [bold]markup[/bold]\\n");\n'
    'setTimeout(() => { process.stderr.write("warn: something odd\\nERR! simulated install failure\\n");'
    " process.exitCode = 1; }, 300);\n"
)
QUIET_JS = ('console.log("quiet install: starting, then silent for 150 s");\n'
            'console.log("quiet install: done");\n')
CHATTY_JS = 'for (let n = 1; n <= 300; n++) console.log("chatty line " + n);\n'

_IDS = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_NORMALISE = [
    (re.compile(r'"(t|started_at|completed_at|__updatedtime__|__createdtime__)":\d+(\.\d+)?'), r'"\1":<time>'),
    (re.compile(r'"payload_hash":"[0-9a-f]{64}"'), '"payload_hash":"<hash>"'),
    (re.compile(r'"payload_size":\d+'), '"payload_size":<size>'),
    (re.compile(r'"origin_node":"[^"]*"'), '"origin_node":"<node>"'),
]
_TOOL_STATUS = re.compile(r"\n? ?http=\d{3}\s*$")  # the capturing tool's line after some bodies


def normalise(text: str) -> str:
    text = _IDS.sub("<id>", text)
    for pattern, replacement in _NORMALISE:
        text = pattern.sub(replacement, text)
    return text


def capture(name: str) -> str:
    path = WIRE / name
    return _TOOL_STATUS.sub("\n" if name.endswith("-sse.raw") else "", path.read_text())


def captured_headers(name: str) -> tuple[int, dict[str, str]]:
    status_line, *lines = [line for line in (WIRE / name).read_text().splitlines() if line.strip()]
    return int(status_line.split()[1]), {k.strip().lower(): v.strip() for k, _, v in (l.partition(":") for l in lines)}


def assert_headers_match(response: httpx.Response, name: str) -> None:
    status, headers = captured_headers(name)
    assert response.status_code == status
    for key in ("content-type", "cache-control", "x-accel-buffering"):
        assert response.headers.get(key) == headers.get(key), key
    assert "x-deployment-id" not in response.headers


@pytest.fixture(scope="module")
def harper(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    server = start_server(tmp_path_factory.mktemp("harper-bytes") / "data", wire="harper")
    yield server
    server.stop()


def deploy(srv: LocalServer, project: str, script: str, *, sse: bool) -> httpx.Response:
    payload = base64.b64encode(make_tarball({"install.js": script})).decode()
    return op(srv, {"operation": "deploy_component", "project": project, "payload": payload,
                    "install_command": "node install.js"}, headers=SSE if sse else None)


@pytest.fixture(scope="module")
def pscript(harper: LocalServer) -> tuple[httpx.Response, httpx.Response]:
    """The failing install, deployed twice as on the captured node: as SSE, then as JSON."""
    return deploy(harper, "pscript", FAIL_JS, sse=True), deploy(harper, "pscript", FAIL_JS, sse=False)


def test_a_failed_deploy_stream_is_harpers(pscript):
    streamed, _ = pscript
    assert_headers_match(streamed, "deploy-pscript-sse.headers")
    assert normalise(streamed.text) == normalise(capture("deploy-pscript-sse.raw").replace("node fail.js", "node install.js"))


def test_a_failed_deploy_answered_as_json_is_harpers(pscript):
    _, answered = pscript
    assert_headers_match(answered, "deploy-pscript-json.headers")
    expected = capture("deploy-pscript-json.raw").replace("node fail.js", "node install.js")
    assert normalise(answered.text) == normalise(expected)


def test_a_failed_deployment_read_back_is_harpers(harper, pscript):
    streamed, _ = pscript
    deployment_id = json.loads(streamed.text.split("event: error\ndata: ")[1].split("\n")[0])["deployment_id"]
    replay = op(harper, {"operation": "get_deployment", "deployment_id": deployment_id}, headers=SSE)
    assert_headers_match(replay, "get-pscript-sse.headers")
    assert normalise(replay.text) == normalise(capture("get-pscript-sse.raw").replace("node fail.js", "node install.js"))
    row = op(harper, {"operation": "get_deployment", "deployment_id": deployment_id})
    assert normalise(row.text) == normalise(capture("get-pscript.json").replace("node fail.js", "node install.js"))


def test_a_successful_deploy_stream_is_harpers(harper):
    streamed = deploy(harper, "pquiet", QUIET_JS, sse=True)
    assert_headers_match(streamed, "deploy-pquiet-sse.headers")
    assert normalise(streamed.text) == normalise(capture("deploy-pquiet-sse.raw"))
    # _recorder_finished is in the row too (5.1 persists it): the replay ends with it, then done.
    deployment_id = json.loads(streamed.text.split("event: done\ndata: ")[1].split("\n")[0])["result"]["deployment_id"]
    replay = op(harper, {"operation": "get_deployment", "deployment_id": deployment_id}, headers=SSE).text
    names = re.findall(r"^event: (\S+)", replay, re.M)
    assert names[-3:] == ["phase", "_recorder_finished", "done"]


def test_an_unknown_deployment_is_harpers_in_band_error(harper):
    replay = op(harper, {"operation": "get_deployment", "deployment_id": MISSING_ID}, headers=SSE)
    assert_headers_match(replay, "get-missing-sse.headers")
    assert replay.text == capture("get-missing-sse.raw")
    plain = op(harper, {"operation": "get_deployment", "deployment_id": MISSING_ID})
    assert plain.status_code == 400 and plain.json() == {"error": f"No deployment found with id '{MISSING_ID}'"}


def test_a_chatty_install_truncates_the_log_as_harper_does(harper):
    """300 lines: the replay holds 20 head entries, the marker, 179 tail entries, then done; the
    marker says ``dropped_events: 2`` as Harper's does, although ~106 events were left out: once
    the log is full, every append removes the old marker and one tail entry (2) and writes a new
    marker saying 2 (contract §5)."""
    deployment_id = deploy(harper, "pchatty", CHATTY_JS, sse=False).json()["deployment_id"]
    ours = op(harper, {"operation": "get_deployment", "deployment_id": deployment_id}, headers=SSE).text
    theirs = capture("get-pchatty-sse.raw")

    def shape(text: str) -> list[str]:
        records = [r for r in text.split("\n\n") if r.startswith("event: ")]
        return [r.split("\n")[0] if '"line":"chatty' in r else normalise(r.split("\n")[0] + r.split("\n")[1])
                if not r.startswith("event: done") else "done" for r in records]

    assert shape(ours) == shape(theirs)
    row = op(harper, {"operation": "get_deployment", "deployment_id": deployment_id}).json()
    assert len(row["event_log"]) == 200 and row["event_log"][20]["data"] == {"dropped_events": 2}
