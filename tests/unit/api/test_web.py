"""The browser front end's serving (sandbox/api/web.py): pages with their security headers, the build's
files and nothing else, and a clear 503 when the front end was never built."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import httpx
import pytest
from fastapi import FastAPI

from sandbox.api import web
from sandbox.api.app import create_app
from sandbox.config import Settings
from sandbox.engine import FakeBackend, RunOutcome, RunSpec
from sandbox.models import Status

pytestmark = pytest.mark.anyio

PAGE = (
    '<!doctype html><meta name="csp-nonce" content="__CSP_NONCE__"><title>{}</title>'
    '<script type="module" src="static/app.js"></script>'
)


def build(folder: Path) -> Path:
    """A small finished build, as web/build.mjs lays it out."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "index.html").write_text(PAGE.format("playground"))
    (folder / "ops.html").write_text(PAGE.format("operations"))
    (folder / "app.js").write_text("console.log('hi');\n")
    (folder / "style.css").write_text("body { margin: 0 }\n")
    (folder / web.MANIFEST).write_text(json.dumps({"files": ["app.js", "index.html", "ops.html", "style.css"]}))
    return folder


def client_of(app: FastAPI) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://sandbox")


@pytest.fixture
async def served(tmp_path: Path) -> AsyncIterator[tuple[httpx.AsyncClient, Path]]:
    app = FastAPI()
    folder = tmp_path / "static"
    web.install(app, folder)
    async with client_of(app) as client:
        yield client, folder


def policy(response: httpx.Response) -> dict[str, str]:
    """The Content-Security-Policy as directive -> its sources."""
    found: dict[str, str] = {}
    for part in response.headers["content-security-policy"].split(";"):
        name, _, sources = part.strip().partition(" ")
        found[name] = sources
    return found


async def raw_get(app: FastAPI, raw_path: bytes) -> tuple[int, bytes]:
    """GET with the path exactly as a client sent it (httpx would remove dot segments first)."""
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path.decode()),
        "raw_path": raw_path,
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"sandbox")],
        "server": ("sandbox", 80),
        "client": ("127.0.0.1", 1234),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return int(start["status"]), body


@pytest.mark.parametrize(("path", "title"), [("/", "playground"), ("/ops", "operations")])
async def test_a_page_carries_a_strict_policy_and_its_own_nonce(served: Any, path: str, title: str) -> None:
    client, folder = served
    build(folder)
    first, second = await client.get(path), await client.get(path)
    assert first.status_code == 200 and first.headers["content-type"].startswith("text/html")
    assert f"<title>{title}</title>" in first.text
    csp = policy(first)
    assert csp["default-src"] == "'self'"
    assert csp["script-src"] == "'self'"  # no inline script, no eval
    assert csp["img-src"] == "'self' blob: data:"
    assert csp["connect-src"] == "'self'"
    assert csp["frame-ancestors"] == "'none'"
    assert csp["object-src"] == "'none'"
    assert "unsafe" not in first.headers["content-security-policy"]
    assert first.headers["x-content-type-options"] == "nosniff"
    assert first.headers["referrer-policy"] == "no-referrer"
    assert first.headers["cache-control"] == "no-store"
    # The style nonce: in the policy and in the page (for CodeMirror), new on every answer.
    nonce = re.fullmatch(r"'self' 'nonce-([A-Za-z0-9_-]{20,})'", csp["style-src"])
    assert nonce is not None, csp["style-src"]
    assert f'content="{nonce.group(1)}"' in first.text and web.NONCE_PLACEHOLDER not in first.text
    assert policy(second)["style-src"] != csp["style-src"]


@pytest.mark.parametrize("path", ["/", "/ops"])
async def test_no_build_is_a_503_that_names_the_fix_never_a_500(served: Any, path: str) -> None:
    client, _ = served  # the folder does not exist at all
    browser = await client.get(path, headers={"Accept": "text/html,application/xhtml+xml"})
    assert browser.status_code == 503 and browser.headers["content-type"].startswith("text/html")
    assert "scripts/install" in browser.text
    assert browser.headers["x-content-type-options"] == "nosniff"
    other = await client.get(path, headers={"Accept": "application/json"})
    assert other.status_code == 503 and other.headers["content-type"] == "application/problem+json"
    body = other.json()
    assert body["status"] == 503 and "scripts/install" in body["message"] and body["title"] == "Front end not built"


async def test_a_half_written_build_is_not_served_and_a_finished_one_is_without_a_restart(served: Any) -> None:
    client, folder = served
    build(folder)
    (folder / web.MANIFEST).unlink()  # the build writes its manifest last
    assert (await client.get("/", headers={"Accept": "text/html"})).status_code == 503
    build(folder)
    assert (await client.get("/")).status_code == 200


async def test_the_builds_files_are_served_with_their_types_and_headers(served: Any) -> None:
    client, folder = served
    build(folder)
    script = await client.get("/static/app.js")
    assert script.status_code == 200 and "javascript" in script.headers["content-type"]
    assert script.text == "console.log('hi');\n"
    assert script.headers["x-content-type-options"] == "nosniff"
    assert script.headers["cache-control"] == "no-cache" and script.headers.get("etag")
    assert policy(script)["default-src"] == "'none'"  # opened directly, a file may do nothing
    style = await client.get("/static/style.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")
    missing = await client.get("/static/nothing.js")
    assert missing.status_code == 404 and missing.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize(
    "raw",
    [
        b"/static/../pyproject.toml",
        b"/static/%2e%2e/pyproject.toml",
        b"/static/..%2fpyproject.toml",
        b"/static/%2e%2e%2f%2e%2e%2fsecret.txt",
        b"/static//etc/passwd",
        b"/static/link/secret.txt",
        b"/static/escape.txt",
    ],
)
async def test_nothing_outside_the_build_folder_is_served(tmp_path: Path, raw: bytes) -> None:
    folder = build(tmp_path / "pkg" / "static")
    (tmp_path / "pyproject.toml").write_text("outside")
    (tmp_path / "pkg" / "pyproject.toml").write_text("outside")
    (tmp_path / "secret.txt").write_text("outside")
    (folder / "link").symlink_to(tmp_path, target_is_directory=True)  # a symlink out of the folder
    (folder / "escape.txt").symlink_to(tmp_path / "secret.txt")
    app = FastAPI()
    web.install(app, folder)
    status, body = await raw_get(app, raw)
    assert b"outside" not in body
    assert status == 404, (status, body[:200])


def ok(spec: RunSpec) -> RunOutcome:
    return RunOutcome(status=Status.OK, exit_code=0, stdout=b"hi\n")


async def test_the_service_mounts_the_pages_and_leaves_the_docs_their_own_headers(tmp_path: Path) -> None:
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    app = create_app(settings, backend=FakeBackend(ok))
    async with app.router.lifespan_context(app), client_of(app) as client:
        page = await client.get("/", headers={"Accept": "text/html"})
        # Built or not (this checkout may not have run the build), never a 500, never a 404.
        assert page.status_code in (200, 503)
        assert page.headers["x-content-type-options"] == "nosniff"
        if page.status_code == 200:
            assert "static/playground.js" in page.text and "static/style.css" in page.text
        docs = await client.get("/docs")
        assert docs.status_code == 200
        assert "content-security-policy" not in docs.headers  # Swagger UI starts from an inline script
        schema = (await client.get("/openapi.json")).json()
        assert "/" not in schema["paths"] and "/ops" not in schema["paths"]
        assert not any(path.startswith("/static") for path in schema["paths"])


def test_the_installed_build_is_where_the_wheel_carries_it() -> None:
    """pyproject's package data names ``web/static/*`` of the ``sandbox`` package: that is ``static_dir``."""
    folder = web.static_dir()
    assert folder.parts[-3:] == ("sandbox", "web", "static")
    pyproject = (Path(__file__).resolve().parents[3] / "pyproject.toml").read_text()
    assert '"sandbox" = ["web/static/*"]' in pyproject


@pytest.mark.parametrize(
    ("method", "path", "headers", "status"),
    [
        ("GET", "/static/nothing.js", {}, 404),
        ("GET", "/static/%2e%2e/%2e%2e/config.py", {}, 404),
        ("POST", "/", {}, 405),
        ("DELETE", "/ops", {}, 405),
        ("PUT", "/static/app.js", {}, 405),
        ("GET", "/static/app.js", {"Range": "bytes=10-5"}, 400),
        ("GET", "/static/app.js", {"Range": "bytes=999999-"}, 416),
        ("GET", "/static", {}, 307),
        ("GET", "/ops/", {}, 307),
    ],
)
async def test_every_error_of_the_front_end_carries_the_policy_and_nosniff(
    served: Any, method: str, path: str, headers: dict[str, str], status: int
) -> None:
    """Errors made outside this module's handlers (router 405s, Starlette's Range answers, redirects)
    went out with no Content-Security-Policy and no nosniff."""
    client, folder = served
    build(folder)
    response = await client.request(method, path, headers=headers)
    assert response.status_code == status
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["x-frame-options"] == "DENY"
    assert policy(response)["default-src"] == "'none'"


async def test_the_policy_of_a_page_is_its_own_not_the_assets_one(served: Any) -> None:
    client, folder = served
    build(folder)
    response = await client.get("/")
    assert response.headers.get_list("content-security-policy") == [response.headers["content-security-policy"]]
    assert policy(response)["default-src"] == "'self'"


@pytest.mark.parametrize("path", ["/", "/ops"])
async def test_a_page_answers_head_like_get(served: Any, path: str) -> None:
    client, folder = served
    build(folder)
    response = await client.head(path)
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-type"].startswith("text/html") and policy(response)["script-src"] == "'self'"
