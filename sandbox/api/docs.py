"""The API's documentation pages, served with no internet: Swagger UI at ``/docs``, ReDoc at ``/redoc``.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so on an offline host
(the usual place for a sandbox service) ``/docs`` is a blank page. Here the same
pages point at the JavaScript and CSS of the ``fastapi-offline`` package (a
dependency: Swagger UI 5 and ReDoc 2, versioned with it), mounted as static files
under ``ASSETS``; nothing the pages name is fetched from elsewhere (no web fonts,
no Swagger validator badge).

Routes are grouped by tag in one table (``TAG_OF_PREFIX``, by path prefix), applied
when the OpenAPI document is built: a route added later under a known prefix
(sessions, artifacts) is grouped without naming its tag itself.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.staticfiles import StaticFiles
from starlette.responses import HTMLResponse

#: Where the documentation's JavaScript, CSS and icon are served.
ASSETS = "/docs/assets"
#: ReDoc's images may come from this server (and data: URLs) alone; nothing else of the page is restricted.
REDOC_IMAGES = "img-src 'self' data:"
#: The package whose files they are (``fastapi-offline``; see ``pyproject.toml``).
ASSETS_PACKAGE = "fastapi_offline"

#: The OpenAPI tags, in the order the documentation shows them, with what each groups.
TAGS: list[dict[str, Any]] = [
    {"name": "executions", "description": "Run code once in a fresh sandbox; follow, list and cancel executions."},
    {"name": "sessions", "description": "Stateful sessions: one interpreter kept between cells, files in and out."},
    {"name": "secrets", "description": "A key's secrets: write-only values given to programs as variables."},
    {"name": "validation", "description": "Check code against a policy without running it; the policy tiers."},
    {"name": "languages", "description": "What can run: languages, their images and runtimes."},
    {"name": "keys", "description": "API keys and administration."},
    {
        "name": "operations",
        "description": "The operations snapshot for operators (keys created with `--ops`): engine, pools, "
        "executions per minute, latency, recent failures.",
    },
    {"name": "health", "description": "Liveness and readiness, for load balancers and orchestrators."},
]
#: Path prefix -> tag; the longest matching prefix wins.
TAG_OF_PREFIX = {
    "/v1/executions": "executions",
    "/v1/sessions": "sessions",
    "/v1/secrets": "secrets",
    "/v1/validate": "validation",
    "/v1/policies": "validation",
    "/v1/languages": "languages",
    "/v1/keys": "keys",
    "/v1/admin": "keys",
    "/v1/ops": "operations",
    "/healthz": "health",
    "/readyz": "health",
}


def assets_dir() -> Path:
    """The installed documentation assets; start-up fails here, naming the package, if it is missing."""
    try:
        found = Path(str(resources.files(ASSETS_PACKAGE) / "static"))
    except ModuleNotFoundError as exc:
        raise RuntimeError(f"the API docs need the {ASSETS_PACKAGE!r} package (pip install fastapi-offline)") from exc
    if not (found / "swagger-ui-bundle.js").is_file():
        raise RuntimeError(f"{found} holds no swagger-ui-bundle.js: reinstall fastapi-offline")
    return found


def install(app: FastAPI) -> None:
    """Mount the assets and add ``/docs`` and ``/redoc`` (the app is built with FastAPI's own pages off)."""
    app.mount(ASSETS, StaticFiles(directory=assets_dir()), name="docs-assets")
    assert app.openapi_url is not None

    def local(request: Request, path: str) -> str:
        return f"{request.scope.get('root_path', '')}{path}"

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=local(request, str(app.openapi_url)),
            title=f"{app.title} - Swagger UI",
            swagger_js_url=local(request, f"{ASSETS}/swagger-ui-bundle.js"),
            swagger_css_url=local(request, f"{ASSETS}/swagger-ui.css"),
            swagger_favicon_url=local(request, f"{ASSETS}/favicon.png"),
            # Swagger UI would otherwise send the document to validator.swagger.io for its badge.
            swagger_ui_parameters={"validatorUrl": None},
        )

    @app.get("/redoc", include_in_schema=False)
    async def redoc(request: Request) -> HTMLResponse:
        page = get_redoc_html(
            openapi_url=local(request, str(app.openapi_url)),
            title=f"{app.title} - ReDoc",
            redoc_js_url=local(request, f"{ASSETS}/redoc.standalone.js"),
            redoc_favicon_url=local(request, f"{ASSETS}/favicon.png"),
            with_google_fonts=False,
        )
        # ReDoc's bundle shows Redocly's logo from its CDN (an <img> it hard-codes): images from here only.
        page.headers["Content-Security-Policy"] = REDOC_IMAGES
        return page


def tag_operations(schema: dict[str, Any]) -> dict[str, Any]:
    """Give every operation of a generated OpenAPI document without a tag the tag of its path prefix
    (``TAG_OF_PREFIX``); in place, returned for convenience. The document, not the routes: FastAPI
    keeps included routers' routes in its own wrappers."""
    prefixes = sorted(TAG_OF_PREFIX, key=len, reverse=True)
    for path, operations in schema.get("paths", {}).items():
        tag = next((TAG_OF_PREFIX[p] for p in prefixes if path == p or path.startswith(p + "/")), None)
        for operation in operations.values():
            if tag is not None and isinstance(operation, dict) and not operation.get("tags"):
                operation["tags"] = [tag]
    used = {tag for operations in schema.get("paths", {}).values() for op in operations.values() for tag in op["tags"]}
    schema["tags"] = [entry for entry in schema.get("tags", []) if entry["name"] in used]  # no empty groups
    return schema
