"""Deployed components are served (contract §1.5): Harper's ``static`` plugin semantics, Harper's
``components/<project>`` layout, nothing outside the release reachable, the switch atomic for readers.

One real server for the module; each test deploys its own project with a base64 payload and
``install_command: "true"`` (no npm), then reads it over plain HTTP without credentials.
"""

from __future__ import annotations

import base64
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deploytui.client.local import LocalServer
from deploytui.server.releases import ComponentReleases, migrate_legacy_layout
from deploytui.server.static_files import _matches, pattern_base, resolve_base_url, safe_segments
from tests.conftest import make_tarball, op, start_server

pytestmark = pytest.mark.timeout(120)
SITE = "static:\n  files: web\n"


@pytest.fixture(scope="module")
def srv(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalServer]:
    server = start_server(tmp_path_factory.mktemp("static") / "data")
    yield server
    server.stop()


def deploy(srv: LocalServer, project: str, files: dict[str, str | bytes], **fields) -> dict:
    payload = base64.b64encode(make_tarball(files)).decode()
    r = op(srv, {"operation": "deploy_component", "project": project, "payload": payload,
                 "install_command": "true", **fields})
    assert r.status_code == 200, r.text
    return r.json()


def raw_get(srv: LocalServer, target: str) -> bytes:
    """GET ``target`` exactly as written (httpx would normalise ``..`` and re-encode)."""
    host, port = srv.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(f"GET {target} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode("latin-1"))
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    return data


# ---- Harper's semantics ------------------------------------------------------------------------


def test_a_deployed_component_is_served_without_credentials(srv):
    blob = os.urandom(70_000)
    deploy(srv, "site", {"config.yaml": SITE, "web/index.html": "<h1>Hello, v1</h1>", "web/blob.bin": blob,
                         "web/docs/index.html": "docs", "secret.txt": "not in files"}, restart=True)
    page = httpx.get(srv.url + "/")  # no auth: public, as on Harper's HTTP port
    assert page.status_code == 200 and "<h1>Hello, v1</h1>" in page.text
    assert page.headers["content-type"].startswith("text/html")
    assert httpx.get(srv.url + "/blob.bin").content == blob
    head = httpx.head(srv.url + "/blob.bin")
    assert head.status_code == 200 and head.headers["content-length"] == str(len(blob)) and head.content == b""
    docs = httpx.get(srv.url + "/docs")
    assert docs.status_code == 301 and docs.headers["location"] == "/docs/"
    assert httpx.get(srv.url + "/docs/").text == "docs"
    for hidden in ("/secret.txt", "/config.yaml", "/web/index.html", "/nope"):
        assert httpx.get(srv.url + hidden).status_code == 404, hidden
    # The API is unchanged: POST / still asks for credentials, /health is still Harper's.
    assert httpx.post(srv.url + "/", json={"operation": "list_deployments"}).status_code == 401
    assert httpx.get(srv.url + "/health").text == "Harper is running."


def test_components_project_is_the_running_release_and_revert_serves_the_old_one(srv):
    first = deploy(srv, "flip", {"config.yaml": "static:\n  files: 'web/**'\n  urlPath: flip\n",
                                 "web/index.html": "flip v1", "web/blob.bin": b"one"})["deployment_id"]
    deploy(srv, "flip", {"config.yaml": "static:\n  files: 'web/**'\n  urlPath: flip\n",
                         "web/index.html": "flip v2", "web/blob.bin": b"two"})
    component = srv.data_dir / "components" / "flip"
    assert (component / "web" / "blob.bin").read_bytes() == b"two"  # Harper's path of the file
    assert httpx.get(srv.url + "/flip/").text == "flip v2"
    assert op(srv, {"operation": "revert_component", "project": "flip"}).status_code == 200
    assert httpx.get(srv.url + "/flip/").text == "flip v1"
    assert (component / "web" / "blob.bin").read_bytes() == b"one"
    assert os.path.realpath(component).endswith(first)


def test_url_path_index_extensions_and_not_found(srv):
    config = ("static:\n  files: 'site/**/*.html'\n  urlPath: ./app\n  extensions: [html]\n"
              "  fallthrough: false\n  notFound:\n    file: site/index.html\n    statusCode: 200\n")
    deploy(srv, "spa", {"config.yaml": config, "site/index.html": "spa shell", "site/about.html": "about",
                        "site/data.json": "{}"})
    assert httpx.get(srv.url + "/spa/app/").text == "spa shell"  # './app' is under the project's name
    assert httpx.get(srv.url + "/spa/app/about").text == "about"  # extensions: [html]
    redirect = httpx.get(srv.url + "/spa/app")
    assert redirect.status_code == 301 and redirect.headers["location"] == "/spa/app/"
    routed = httpx.get(srv.url + "/spa/app/some/client/route")  # fallthrough false: the SPA's notFound
    assert routed.status_code == 200 and routed.text == "spa shell"
    assert httpx.get(srv.url + "/spa/app/data.json").text == "spa shell"  # not among the files


# ---- nothing outside the release -----------------------------------------------------------------


@pytest.mark.parametrize("target", [
    "/../config.yaml", "/%2e%2e/config.yaml", "/%2E%2E%2Fconfig.yaml", "/.%2e/.%2e/deploytui.sqlite3",
    "/..%2f..%2f..%2fdeploytui.sqlite3", "/%00", "/index.html%00.png", "/.hidden", "/%5c..%5cconfig.yaml",
    "//etc/passwd",
])
def test_traversal_encoded_dots_and_nul_reach_nothing(srv, target):
    deploy(srv, "walls", {"config.yaml": "static:\n  files: '**'\n  urlPath: walls\n", "index.html": "walls",
                          ".hidden": "dotfile"})
    assert b"walls" in raw_get(srv, "/walls/index.html").split(b"\r\n\r\n", 1)[1]  # the control
    answer = raw_get(srv, "/walls" + target if not target.startswith("//") else target)
    status = answer.split(b"\r\n", 1)[0]
    assert b" 404 " in status or b" 400 " in status, answer[:200]
    assert b"static:" not in answer and b"dotfile" not in answer and b"SQLite" not in answer


def test_links_out_of_the_release_and_special_files_are_not_served(srv):
    data = srv.data_dir
    install = ("sh -c 'ln -s /etc/passwd web/passwd; ln -s " + str(data / "deploytui.sqlite3") + " web/db; "
               "ln -s ../../../../.. web/up; ln -s index.html web/alias; mkfifo web/fifo'")
    deploy(srv, "links", {"config.yaml": "static:\n  files: web\n  urlPath: links\n", "web/index.html": "links"},
           install_command=install)
    for name in ("passwd", "db", "up/deploytui.sqlite3", "fifo"):
        assert httpx.get(f"{srv.url}/links/{name}", timeout=10).status_code == 404, name
    assert httpx.get(srv.url + "/links/alias").text == "links"  # a link inside the release is followed


def test_readers_see_the_old_or_the_new_release_whole_during_deploys(srv):
    """v1 serves from web/, v2 from site/ (its config says so): a reader that took the config of one
    release and the files of the other would get a 404. Readers run until the deploys are done."""
    releases = [
        {"config.yaml": "static:\n  files: web\n  urlPath: atom\n", "web/index.html": "atom v1"},
        {"config.yaml": "static:\n  files: site\n  urlPath: atom\n", "site/index.html": "atom v2"},
    ]
    deploy(srv, "atom", releases[0])
    done = threading.Event()
    seen: list[tuple[int, str]] = []

    def read() -> None:
        with httpx.Client() as http:
            while not done.is_set():
                r = http.get(srv.url + "/atom/")
                seen.append((r.status_code, r.text))

    readers = [threading.Thread(target=read) for _ in range(3)]
    for thread in readers:
        thread.start()
    try:
        for n in range(8):
            deploy(srv, "atom", releases[(n + 1) % 2])
        op(srv, {"operation": "revert_component", "project": "atom"})
    finally:
        done.set()
        for thread in readers:
            thread.join(30)
    assert seen and set(seen) <= {(200, "atom v1"), (200, "atom v2")}, set(seen) - {(200, "atom v1"), (200, "atom v2")}


# ---- the rules, without a server ------------------------------------------------------------------


def test_harper_url_rules():
    assert [resolve_base_url("p", u) for u in (None, "/", "static", "/v1/static/", "./x", ".")] == \
        ["/", "/", "/static/", "/v1/static/", "/p/x/", "/p/"]
    with pytest.raises(ValueError):
        resolve_base_url("p", "../x")
    assert (pattern_base("web/**"), pattern_base("*.html"), pattern_base("web")) == ("web", "", "web")
    assert _matches("web", "web/a/b.css") and not _matches("web", "webby/a")
    assert _matches("web/*.html", "web/a.html") and not _matches("web/*.html", "web/.a.html")
    assert _matches("**/*.{js,css}", "a/b/c.css") and not _matches("*.html", "a/b.html")
    assert safe_segments("/a/b/") == ["a", "b", ""]
    assert all(safe_segments(p) is None for p in ("/a/../b", "/./a", "/a\x00", "/.env", "/a//b", "/a\\b"))


def test_an_older_data_dir_is_converted_to_harpers_layout(tmp_path: Path):
    components = tmp_path / "components"
    old = components / "legacy"
    for deployment_id in ("d1", "d2"):
        (old / "releases" / deployment_id / "web").mkdir(parents=True)
        (old / "releases" / deployment_id / "web" / "index.html").write_text(deployment_id)
    os.symlink("releases/d2", old / "current")
    os.symlink("releases/d1", old / "previous")
    assert migrate_legacy_layout(components) == ["legacy"]
    assert (components / "legacy" / "web" / "index.html").read_text() == "d2"
    releases = ComponentReleases(components, "legacy")
    assert (releases.current_id(), releases.previous_id()) == ("d2", "d1")
    assert releases.swap() == ("d2", "d1")
    assert (components / "legacy" / "web" / "index.html").read_text() == "d1"
    assert migrate_legacy_layout(components) == []  # once
