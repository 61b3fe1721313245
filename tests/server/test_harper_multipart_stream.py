"""Harper's ``integrationTests/deploy/deploy-multipart-stream.test.ts`` in our words (contract
§7.6), against ``deploytui serve`` on both wires.

- *verify Harper*: ``GET /health`` answers 200 ``Harper is running.``.
- *a multipart deploy with a streamed payload*: the fixture Harper uses (``config.yaml`` serving
  ``web`` as static files, a GraphQL schema, ``web/index.html``, 4 MB of random bytes in
  ``web/blob.bin``) deployed with ``restart: true`` answers 200 ``Successfully deployed: <p>,
  restarting Harper``, and ``components/<p>/web/blob.bin`` holds the bytes exactly.
- *the deployed application is reachable*: ``GET /`` on the server's HTTP port answers 200 with the
  component's ``index.html``.
- *refusals answered mid-upload*, the next request on the connection served: a payload deploy with
  ``isolated: true`` → 400 naming ``'isolated' is only supported for package deployments``; the same
  as SSE → 200 and a first ``error`` event with that message and ``code: 400``; no ``operation`` →
  400 ``Request body must include an 'operation' property``; each answer arrives before the upload
  ends, and ``GET /health`` on the same connection then answers 200.
"""

from __future__ import annotations

import json
import os

import httpx
import pytest

from tests.conftest import make_tarball
from tests.server.harper_tests import srv, upload_answered_early, wire  # noqa: F401 - fixtures
from tests.server.test_contract import multipart_deploy

PROJECT = "multipart-test-application"
BLOB = os.urandom(4 * 1024 * 1024)
FIXTURE = {
    "config.yaml": "static:\n  files: web\ngraphqlSchema:\n  files: schema.graphql\nrest: true\n",
    "schema.graphql": "type Query { hello: String }\n",
    "web/index.html": "<h1>Hello, Multipart!</h1>",
    "web/blob.bin": BLOB,
}


def test_verify_harper(srv):
    health = httpx.get(srv.url + "/health")
    assert health.status_code == 200 and health.text == "Harper is running."


def test_a_multipart_deploy_is_extracted_byte_for_byte_and_served(srv):
    answer = multipart_deploy(srv, {"project": PROJECT, "restart": True}, make_tarball(FIXTURE))
    assert answer.status_code == 200, answer.text
    assert answer.json()["message"] == f"Successfully deployed: {PROJECT}, restarting Harper"
    component = srv.data_dir / "components" / PROJECT
    assert component.exists() and (component / "web" / "blob.bin").read_bytes() == BLOB
    page = httpx.get(srv.url + "/")  # Harper's httpURL: the component's static files
    assert page.status_code == 200 and "<h1>Hello, Multipart!</h1>" in page.text


@pytest.mark.parametrize("fields, sse, status, message", [
    ({"operation": "deploy_component", "project": "refused-multipart", "isolated": "true"}, False, b"400",
     "'isolated' is only supported for package deployments"),
    ({"operation": "deploy_component", "project": "refused-multipart-sse", "isolated": "true"}, True, b"200",
     "'isolated' is only supported for package deployments"),
    ({"project": "no-operation"}, False, b"400", "Request body must include an 'operation' property"),
], ids=["refused", "refused-in-its-event-stream", "no-operation"])
def test_a_refusal_is_answered_mid_upload_and_the_connection_serves_on(srv, fields, sse, status, message):
    answer, health = upload_answered_early(srv, fields, sse=sse)
    assert answer.split(b" ")[1] == status
    body = answer.split(b"\r\n\r\n", 1)[1].decode()
    if sse:
        errors = [json.loads(block.split("data: ", 1)[1].split("\n0\r\n")[0].split("\r\n")[0])
                  for block in body.split("\n\n") if "event: error" in block]
        assert message in errors[0]["message"] and errors[0]["code"] == 400
    else:
        assert message in body
    assert health.split(b" ")[1] == b"200"
