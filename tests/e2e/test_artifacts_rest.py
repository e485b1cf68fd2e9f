"""Artifacts over REST with the real engine: listed in the result, bytes by name, inline base64, owner only.

A plot comes back as a PNG (signature, sha256 of the bytes served); a CSV written to out/ comes
back; `outputs` globs add files; caps list what is over them as skipped; another key sees nothing;
the bytes are served so that a browser never runs them as a page of the API's origin.
"""

from __future__ import annotations

import base64
import hashlib

import httpx
import pytest

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.docker

PNG = b"\x89PNG\r\n\x1a\n"
PLOT = (
    "import matplotlib.pyplot as plt\n"
    "plt.plot([0, 1, 2], [2, 0, 1]); plt.title('a plot')\n"
    "import os\nos.makedirs('out', exist_ok=True)\n"
    "open('out/table.csv', 'w').write('x,y\\n0,2\\n1,0\\n2,1\\n')\n"
    "open('report.html', 'w').write('<script>alert(1)</script>')\n"
)


@pytest.fixture(scope="module")
def api(live_server: LiveServer) -> httpx.Client:
    with live_server.client(live_server.key("artifacts-e2e", policy="permissive")) as client:
        yield client


def run(api: httpx.Client, code: str, **body: object) -> dict:
    response = api.post("/v1/executions", json={"code": code, **body})
    assert response.status_code == 200, response.text
    return response.json()


def test_a_plot_and_a_csv_come_back_and_their_bytes_match(api: httpx.Client) -> None:
    result = run(api, PLOT, outputs=["*.html"])
    assert result["status"] == "ok", result
    entries = {a["name"]: a for a in result["artifacts"]}
    assert sorted(entries) == ["out/figure-1.png", "out/table.csv", "report.html"]
    figure = entries["out/figure-1.png"]
    assert figure["media_type"] == "image/png" and figure["skipped"] is None

    got = api.get(f"/v1/executions/{result['id']}/artifacts/out/figure-1.png")
    assert got.status_code == 200 and got.headers["content-type"] == "image/png"
    assert got.content.startswith(PNG) and len(got.content) == figure["size"]
    assert hashlib.sha256(got.content).hexdigest() == figure["sha256"] == got.headers["etag"].strip('"')
    assert got.headers["x-content-type-options"] == "nosniff"

    csv = api.get(f"/v1/executions/{result['id']}/artifacts/out/table.csv")
    assert csv.status_code == 200 and csv.text == "x,y\n0,2\n1,0\n2,1\n"
    assert csv.headers["content-type"].startswith("text/csv")

    # A program's HTML is downloaded, sandboxed, never rendered as a page of the API's origin.
    page = api.get(f"/v1/executions/{result['id']}/artifacts/report.html")
    assert page.status_code == 200 and page.headers["content-disposition"].startswith("attachment")
    assert page.headers["content-security-policy"].startswith("sandbox")

    # The record (from the store too) keeps the entries, not the bytes.
    record = api.get(f"/v1/executions/{result['id']}").json()
    assert [a["name"] for a in record["artifacts"]] == [a["name"] for a in result["artifacts"]]
    assert all(a["content_base64"] is None for a in record["artifacts"])


def test_inline_puts_small_artifacts_in_the_result(api: httpx.Client) -> None:
    response = api.post("/v1/executions?inline=true", json={"code": PLOT})
    assert response.status_code == 200, response.text
    result = response.json()
    for entry in result["artifacts"]:
        data = base64.b64decode(entry["content_base64"])
        assert hashlib.sha256(data).hexdigest() == entry["sha256"]
    again = api.get(f"/v1/executions/{result['id']}", params={"inline": "true"}).json()
    assert [a["content_base64"] for a in again["artifacts"]] == [a["content_base64"] for a in result["artifacts"]]
    one = api.get(f"/v1/executions/{result['id']}/artifacts/out/table.csv", params={"inline": "true"})
    assert one.status_code == 200 and base64.b64decode(one.json()["content_base64"]) == b"x,y\n0,2\n1,0\n2,1\n"


def test_missing_skipped_and_foreign_artifacts_are_404_with_the_reason(
    api: httpx.Client, live_server: LiveServer
) -> None:
    code = "import os\nos.makedirs('out')\nos.symlink('/etc/passwd', 'out/link')\nopen('out/a.txt', 'w').write('a')\n"
    result = run(api, code)
    base = f"/v1/executions/{result['id']}/artifacts"
    missing = api.get(f"{base}/out/nope.txt")
    assert missing.status_code == 404 and "out/a.txt" in missing.json()["message"]
    skipped = api.get(f"{base}/out/link")
    assert skipped.status_code == 404 and "symbolic link" in skipped.json()["message"]
    with live_server.client(live_server.key("artifacts-other")) as other:
        foreign = other.get(f"{base}/out/a.txt")
    assert foreign.status_code == 404 and "a.txt" not in foreign.text
    assert api.get(f"/v1/executions/{'0' * 32}/artifacts/out/a.txt").status_code == 404


def test_over_the_caps_files_are_listed_as_skipped(api: httpx.Client, live_server: LiveServer) -> None:
    many = live_server.settings.artifacts_max_files + 3
    code = f"import os\nos.makedirs('out')\nfor i in range({many}): open(f'out/{{i:03}}.txt', 'w').write(str(i))\n"
    result = run(api, code)
    entries = result["artifacts"]
    assert len(entries) == many
    kept = [a for a in entries if a["skipped"] is None]
    skipped = [a for a in entries if a["skipped"] is not None]
    assert len(kept) == live_server.settings.artifacts_max_files and len(skipped) == 3
    assert all("files per run" in a["skipped"] and a["sha256"] is None for a in skipped)


def test_bad_outputs_globs_are_a_clear_400(api: httpx.Client) -> None:
    for glob in ["../etc/*", "/etc/passwd", "a//b", ""]:
        response = api.post("/v1/executions", json={"code": "print(1)", "outputs": [glob]})
        assert response.status_code in (400, 422), response.text
        assert "outputs" in response.text


def test_hostile_names_and_floods_of_files_are_listed_never_a_500(api: httpx.Client) -> None:
    code = (
        "import os\nos.makedirs('out/many')\n"
        "os.close(os.open(b'out/bad-\\xff.txt', os.O_CREAT | os.O_WRONLY))\n"
        "open('out/a\\r\\nSet-Cookie: x=1.txt', 'w').write('h')\n"
        "open('out/aq\"uote.txt', 'w').write('q')\n"
        "for i in range(3000): open(f'out/many/{i:04}', 'w').close()\n"
    )
    result = run(api, code)
    assert result["status"] == "ok", result
    entries = result["artifacts"]
    names = [a["name"] for a in entries]
    assert all(name.isprintable() for name in names)
    assert "out/bad-\ufffd.txt" in names and "out/a\ufffd\ufffdSet-Cookie: x=1.txt" in names
    skipped = [a for a in entries if a["skipped"]]
    assert len(entries) <= 32 + 65 and any("more skipped artifacts" in a["skipped"] for a in skipped)
    quoted = api.get(f'/v1/executions/{result["id"]}/artifacts/out/aq"uote.txt')
    assert quoted.status_code == 200 and quoted.text == "q"
    assert quoted.headers["content-disposition"] == 'inline; filename="aq_uote.txt"'
