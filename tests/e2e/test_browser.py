"""The playground (``/``), the operations page (``/ops``) and ``/docs`` in a real browser, against a real
`sandbox serve` with the real engine.

The browser scenarios are node:test files in ``web/e2e/`` driving Debian's Chromium through
playwright-core (headless, a fresh profile, no background traffic; no browser is ever downloaded).
This module starts the server, creates a plain key and an ops key, runs them with the URL and keys in
the environment, and fails with node's output when any fails. Screenshots land in
``test-artifacts/browser/`` at the repository root; their paths are printed.

Needs what ``scripts/install`` sets up: the front end built (``sandbox/web/static``), ``web/node_modules``
(playwright-core) and ``/usr/bin/chromium``. A missing one fails the test naming that step, rather than
skipping it: a skip would hide a broken install step.
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import docker
import pytest

from sandbox.api import web
from tests.docker_fixtures import SESSION_OWNER
from tests.e2e.serving import ROOT, Server, create_key, graceful_server
from tests.page_assets import PageAssets

pytestmark = pytest.mark.timeout(600)

WEB = ROOT / "web"
SCREENSHOTS = ROOT / "test-artifacts" / "browser"
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")


@dataclass(frozen=True)
class Site:
    server: Server
    key: str  # standard policy, no ops permission
    ops_key: str


def missing_prerequisites() -> list[str]:
    problems = []
    if not web.built(web.static_dir()):
        problems.append(f"the front end is not built in {web.static_dir()}")
    elif not built_from_these_sources():
        problems.append(f"the front end in {web.static_dir()} was built from other sources than web/ holds now")
    if not (WEB / "node_modules" / "playwright-core").is_dir():
        problems.append("web/node_modules has no playwright-core (npm ci in web/)")
    if shutil.which("node") is None:
        problems.append("node is not installed")
    if not Path(CHROMIUM).is_file():
        problems.append(f"{CHROMIUM} is missing (Debian's chromium)")
    return problems


def built_from_these_sources() -> bool:
    """Whether scripts/install's last build was of web/ as it is now (else the tests would try old pages)."""
    digest = subprocess.run([WEB / "source-hash"], capture_output=True, text=True, check=True).stdout.strip()
    return (WEB / "node_modules" / f".sandbox-built-{digest}").is_file()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, docker_client: docker.DockerClient) -> Iterator[Site]:
    problems = missing_prerequisites()
    assert not problems, "run scripts/install first: " + "; ".join(problems)
    tmp = tmp_path_factory.mktemp("browser")
    state = tmp / "state"
    key = create_key(state, "browser", 16, 10_000)[1]
    ops_key = create_key(state, "browser-ops", 16, 10_000, ops=True)[1]
    owner = f"{SESSION_OWNER}-web-{uuid.uuid4().hex[:6]}"
    with graceful_server(docker_client, tmp, state, owner, pool_size=2, validation_workers=1) as server:
        yield Site(server, key, ops_key)


def test_the_pages_work_in_chromium(site: Site) -> None:
    """Every scenario of web/e2e/*.test.mjs: a run streamed, a figure inline, a denial at its line, a
    session's cells, limits, a wrong key; /ops with an ops key and without; /docs and /redoc offline."""
    files = sorted(str(p.relative_to(WEB)) for p in (WEB / "e2e").glob("*.test.mjs"))
    assert len(files) >= 3, files
    env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
    env.update(
        SANDBOX_URL=site.server.url,
        SANDBOX_KEY=site.key,
        SANDBOX_PLAIN_KEY=site.key,
        SANDBOX_OPS_KEY=site.ops_key,
        CHROMIUM=CHROMIUM,
        SCREENSHOT_DIR=str(SCREENSHOTS),
    )
    command = ["node", "--test", "--test-reporter=spec", "--test-concurrency=1", *files]
    done = subprocess.run(command, cwd=WEB, env=env, capture_output=True, text=True, timeout=540)
    output = done.stdout + done.stderr
    shots = re.findall(r"screenshot: (\S+\.png)", output)
    summary = re.findall(r"^(?:\S+ )?((?:tests|pass|fail|cancelled) \d+)$", output, re.MULTILINE)
    print("\n".join([*(f"screenshot: {shot}" for shot in shots), "node: " + ", ".join(summary)]))
    if done.returncode != 0:
        pytest.fail(
            f"the browser tests failed (node exit {done.returncode}):\n{output}\n--- server:\n{site.server.tail(60)}"
        )
    assert re.search(r"\bfail 0\b", output) and not re.search(r"\bpass 0\b", output), output
    for shot in shots:
        assert Path(shot).stat().st_size > 10_000, f"{shot} is too small to be a page"


def raw_get(server: Server, path: str, accept: str = "*/*") -> tuple[int, dict[str, str], bytes]:
    """A GET with the path sent exactly as given (no client-side clean-up of dot segments)."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.putrequest("GET", path, skip_accept_encoding=True)
        connection.putheader("Accept", accept)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


@pytest.mark.parametrize("page", ["/", "/ops"])
def test_every_file_a_page_loads_is_served_by_the_server_itself(site: Site, page: str) -> None:
    status, headers, body = raw_get(site.server, page, accept="text/html")
    assert status == 200, body[:300]
    assert "default-src 'self'" in headers["content-security-policy"]
    parser = PageAssets()
    parser.feed(body.decode())
    urls = [url for url in parser.urls if not url.startswith("data:")]  # the page's own icon, inline
    assert len(urls) >= 2, urls
    for url in urls:
        assert not re.match(r"^(https?:)?//", url), f"{page} loads {url} from elsewhere"
        status, headers, _ = raw_get(site.server, "/" + url.lstrip("/"))
        assert status == 200, url
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["content-type"].split(";")[0] in ("text/javascript", "application/javascript", "text/css")
    manifest = json.loads(raw_get(site.server, "/static/" + web.MANIFEST)[2])
    assert "playground.js" in manifest["files"] and "licenses.txt" in manifest["files"]


@pytest.mark.parametrize(
    "path",
    ["/static/../pyproject.toml", "/static/%2e%2e/pyproject.toml", "/static/..%2f..%2fpyproject.toml", "/static/"],
)
def test_the_real_server_serves_nothing_outside_the_build(site: Site, path: str) -> None:
    status, _, body = raw_get(site.server, path)
    assert status == 404, (status, body[:200])
    assert b"[project]" not in body
