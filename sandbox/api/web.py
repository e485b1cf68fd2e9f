"""The browser front end: the playground at ``/``, the operations page at ``/ops``, their files under ``STATIC``.

The pages and their scripts are built from ``web/`` (CodeMirror and the page code, bundled by
esbuild) by ``scripts/install`` into ``sandbox/web/static``, which the wheel carries as package
data. Everything a page loads comes from this server: no CDN, no web font, so the pages work
offline like ``/docs``.

The pages use the public REST API with the key the user types in (kept in the tab's
sessionStorage); this module serves files only and needs no key. Every answer carries a strict
Content-Security-Policy: scripts and styles from this origin only (CodeMirror's one ``<style>``
element gets a per-answer nonce, which the page hands to it), images also from ``blob:`` and
``data:`` (artifacts fetched with the key), requests to this origin only, never framed. ``/docs``
keeps its own headers: Swagger UI needs an inline script.

A checkout whose front end was never built answers ``/`` and ``/ops`` with 503 naming the fix
(``scripts/install``), never a 500.
"""

from __future__ import annotations

import secrets
from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException
from starlette.responses import HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox.api.problems import problem
from sandbox.models import ErrorBody, Status

#: Where the built scripts, styles and licence notices are served.
STATIC = "/static"
#: Page path -> the built file that is its HTML.
PAGES = {"/": "index.html", "/ops": "ops.html"}
#: What the build writes in each page where the answer's style nonce goes.
NONCE_PLACEHOLDER = "__CSP_NONCE__"
#: The build's list of its files: its absence means no (or a half-written) build.
MANIFEST = "build.json"
NOT_BUILT = (
    "the web front end is not built: run scripts/install (it runs `npm ci` and the build in web/ "
    "into sandbox/web/static), then restart `sandbox serve`"
)
#: On every answer of this module.
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",  # frame-ancestors' older twin, for browsers without CSP 2
    "Cross-Origin-Opener-Policy": "same-origin",
}
#: A built file opened directly (a script, a licence text) may do nothing as a document.
ASSET_POLICY = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"


def static_dir() -> Path:
    """The installed build (``sandbox/web/static``; it may not exist)."""
    return Path(str(resources.files("sandbox"))) / "web" / "static"


def page_policy(nonce: str) -> str:
    """The Content-Security-Policy of a page whose CodeMirror ``<style>`` element carries ``nonce``."""
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            f"style-src 'self' 'nonce-{nonce}'",
            "img-src 'self' blob: data:",
            "connect-src 'self'",
            "font-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


def built(directory: Path) -> bool:
    """Whether ``directory`` holds a finished build (the manifest is written last)."""
    return (directory / MANIFEST).is_file() and all((directory / name).is_file() for name in PAGES.values())


class Assets(StaticFiles):
    """The build's files with this module's headers; unknown names and paths out of the folder are 404s.

    Starlette resolves every name under the folder and refuses one that leaves it (``..``, a
    symlink pointing out), so a request names only the build's own files.
    """

    def file_response(self, *args: Any, **kwargs: Any) -> Response:
        response = super().file_response(*args, **kwargs)
        response.headers.update(COMMON_HEADERS)
        response.headers["Content-Security-Policy"] = ASSET_POLICY
        response.headers["Cache-Control"] = "no-cache"  # names are not hashed: revalidate (ETag) every time
        return response

    async def get_response(self, path: str, scope: Scope) -> Response:
        try:
            response = await super().get_response(path, scope)
        except HTTPException as exc:  # a 404 (or 405), as a problem like every other error, with the headers
            message = "no such file in the web front end's build" if exc.status_code == 404 else str(exc.detail)
            response = problem(
                exc.status_code, ErrorBody(code=Status.REJECTED, message=message), dict(exc.headers or {})
            )
        response.headers.update(COMMON_HEADERS)
        return response


def not_built(request: Request) -> Response:
    """503 for a page of a checkout with no build: HTML for a browser, problem+json otherwise."""
    headers = {**COMMON_HEADERS, "Cache-Control": "no-store", "Content-Security-Policy": ASSET_POLICY}
    if "text/html" in request.headers.get("accept", ""):
        body = (
            "<!doctype html><html lang=en><meta charset=utf-8><title>sandbox: front end not built</title>"
            "<h1>The web front end is not built</h1>"
            "<p>Run <code>scripts/install</code> in the checkout (it runs <code>npm ci</code> and the build in "
            "<code>web/</code> into <code>sandbox/web/static</code>), then restart <code>sandbox serve</code>.</p>"
            "<p>The REST API under <a href=docs>/docs</a> works without it.</p></html>"
        )
        return HTMLResponse(body, status_code=503, headers=headers)
    response = problem(503, ErrorBody(code=Status.INTERNAL_ERROR, message=NOT_BUILT), title="Front end not built")
    response.headers.update(headers)
    return response


def is_front_end(path: str) -> bool:
    """Whether ``path`` is one of this module's: the pages (with or without a trailing slash) and ``STATIC``."""
    return path in ("/", "/ops", "/ops/", STATIC) or path.startswith(STATIC + "/")


class FrontEndHeaders:
    """Every answer of the front end's paths gets ``COMMON_HEADERS`` and a policy, whoever made it.

    The pages and files set their own; but errors are made elsewhere: the router's 405 for a
    method a page does not take, Starlette's 400 and 416 for a bad ``Range``, the redirect of
    ``/static`` to ``/static/``, the problem handlers' answers. Those went out with neither a
    policy nor ``nosniff``. Headers an answer already has are kept (a page's nonce policy).
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_front_end(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = list(message.get("headers", []))
                headers = MutableHeaders(raw=message["headers"])
                for name, value in {**COMMON_HEADERS, "Content-Security-Policy": ASSET_POLICY}.items():
                    headers.setdefault(name, value)
            await send(message)

        await self.app(scope, receive, sending)


def install(app: FastAPI, directory: Path | None = None) -> None:
    """Add ``/``, ``/ops`` and ``STATIC`` to ``app``, serving the build in ``directory`` (the installed one).

    The folder is looked at per request, so a rebuild is served without a restart and a server
    started before the build answers 503 until then.
    """
    folder = directory or static_dir()
    app.add_middleware(FrontEndHeaders)
    app.mount(STATIC, Assets(directory=folder, check_dir=False), name="web-assets")

    def page(name: str) -> Any:
        def serve(request: Request) -> Response:  # sync: FastAPI runs it in a thread, off the event loop
            if not built(folder):
                return not_built(request)
            try:
                html = (folder / name).read_text(encoding="utf-8")
            except FileNotFoundError:  # removed between the check and the read: a rebuild under way
                return not_built(request)
            nonce = secrets.token_urlsafe(18)
            headers = {
                **COMMON_HEADERS,
                "Content-Security-Policy": page_policy(nonce),
                "Cache-Control": "no-store",  # the nonce is new every time
            }
            return HTMLResponse(html.replace(NONCE_PLACEHOLDER, nonce), headers=headers)

        return serve

    for path, name in PAGES.items():
        app.add_api_route(path, page(name), methods=["GET", "HEAD"], include_in_schema=False)
