"""Schemathesis against the live server's /openapi.json: no input may produce a 500 or break the schema.

The pytest plugin of schemathesis 4 does not load under pytest 9, so each
operation's case strategy is driven with hypothesis directly.
"""

from __future__ import annotations

import re

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance, status_code_conformance

CHECKS = [not_a_server_error, status_code_conformance, response_schema_conformance]


def test_api_never_fails_on_any_input(live_server) -> None:
    key = live_server.key("e2e-fuzz")
    schema = schemathesis.openapi.from_url(f"{live_server.url}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck), database=None)
        def check(case) -> None:
            case.headers = {**(case.headers or {}), "Authorization": f"Bearer {key}"}
            case.call_and_validate(checks=CHECKS)

        check()


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_the_docs_pages_work_offline_through_the_real_server(live_server, page: str) -> None:
    """Every script, stylesheet and icon the page names is served by this server (no CDN), in full."""
    with live_server.client() as client:
        response = client.get(page)
        assert response.status_code == 200 and response.headers["content-type"].startswith("text/html")
        assert "http://" not in response.text and "https://" not in response.text
        urls = re.findall(r'<(?:script|link)[^>]* (?:src|href)="([^"]+)"', response.text)
        assert len(urls) >= 2 and all(url.startswith("/docs/assets/") for url in urls), urls
        kinds = {".js": "javascript", ".css": "text/css", ".png": "image/png"}
        for url in urls:
            asset = client.get(url)
            suffix = url[url.rindex(".") :]
            assert asset.status_code == 200 and kinds[suffix] in asset.headers["content-type"], url
            assert len(asset.content) > (1000 if suffix == ".png" else 100_000), url
