"""The documentation and the OpenAPI document: /docs and /redoc offline, tags, examples that validate."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from sandbox.api import examples
from sandbox.api.app import BODY_CAP_REASON, create_app
from sandbox.config import Settings
from sandbox.engine import FakeBackend, RunOutcome, RunSpec
from sandbox.models import Status
from tests.page_assets import PageAssets

pytestmark = pytest.mark.anyio

CDN_HOSTS = ("cdn.jsdelivr.net", "unpkg.com", "cdnjs.cloudflare.com", "fonts.googleapis.com", "fastapi.tiangolo.com")


def ok(spec: RunSpec) -> RunOutcome:
    return RunOutcome(status=Status.OK, exit_code=0, stdout=b"hi\n")


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    app = create_app(settings, backend=FakeBackend(ok))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
            yield client


EXPECTED_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png"}


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_the_docs_load_nothing_from_outside(api: httpx.AsyncClient, page: str) -> None:
    response = await api.get(page)
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
    assert not any(host in response.text for host in CDN_HOSTS), response.text
    assert "https://" not in response.text and "http://" not in response.text
    parser = PageAssets()
    parser.feed(response.text)
    assert len(parser.urls) >= 2, parser.urls  # the UI's script, and its stylesheet or icon
    for url in parser.urls:
        parts = urlsplit(url)
        assert not parts.scheme and not parts.netloc and url.startswith("/docs/assets/"), url
        asset = await api.get(url)
        assert asset.status_code == 200, url
        suffix = Path(parts.path).suffix
        assert EXPECTED_TYPES[suffix] in asset.headers["content-type"], (url, asset.headers["content-type"])
        assert len(asset.content) > (1000 if suffix == ".png" else 100_000), (url, len(asset.content))


async def test_every_operation_has_a_tag_and_every_tag_is_described(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    used = set()
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation.get("tags"), f"{method.upper()} {path} has no tag"
            used.update(operation["tags"])
    described = [tag["name"] for tag in schema["tags"]]
    assert set(described) == used and {"executions", "sessions", "secrets", "health"} <= used


def referenced_schemas(schema: dict[str, Any]) -> tuple[set[str], list[str]]:
    """Names of the component schemas that request bodies and 2xx answers use, and the operations
    whose 2xx JSON answer has an inline schema (they need a media-type example; bytes need none)."""
    names: set[str] = set()
    inline: list[str] = []

    def ref_of(found: dict[str, Any]) -> str | None:
        target = found.get("$ref") or found.get("items", {}).get("$ref")
        return str(target).rsplit("/", 1)[-1] if target else None

    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            bodies = list(operation.get("requestBody", {}).get("content", {}).values())
            answers = [
                (code, media, content)
                for code, response in operation["responses"].items()
                if code.startswith("2")
                for media, content in response.get("content", {}).items()
            ]
            for content in bodies + [content for _, _, content in answers]:
                if (name := ref_of(content.get("schema", {}))) is not None:
                    names.add(name)
            for code, media, content in answers:
                if media.endswith("json") and ref_of(content.get("schema", {})) is None and "example" not in content:
                    inline.append(f"{method.upper()} {path} {code} {media}")
    return names, inline


async def test_every_request_and_response_model_has_examples_that_validate(api: httpx.AsyncClient) -> None:
    schema = (await api.get("/openapi.json")).json()
    names, inline = referenced_schemas(schema)
    assert {"ExecutionRequest", "ExecutionRecord", "ExecutionPage", "SecretValue", "LanguageInfo"} <= names
    assert not inline, f"answers without a model and without an example: {inline}"
    components = schema["components"]["schemas"]
    for name in sorted(names):
        shown = components[name].get("examples")
        assert shown, f"{name} has no examples"
        model = examples.EXAMPLES[name][0]
        for example in shown:
            model.model_validate(example)  # raises if the document shows a value the API would refuse


def test_each_example_validates_against_its_model() -> None:
    """The table itself, nested parts included: an example the model refuses fails here, naming it."""
    for name, (model, shown) in examples.EXAMPLES.items():
        assert model.__name__ == name and shown, name
        for example in shown:
            model.model_validate(example)


def test_the_413_explains_the_body_cap_as_it_is_computed() -> None:
    for request_bytes in (1 << 20, 2 << 20, 32 << 20):
        settings = Settings(request_bytes=request_bytes)
        assert settings.max_body_bytes == 2 * request_bytes + (64 << 10)
    assert "2 x SANDBOX_REQUEST_BYTES + 64 KiB" in BODY_CAP_REASON and "SANDBOX_MAX_REQUEST_BYTES" in BODY_CAP_REASON
