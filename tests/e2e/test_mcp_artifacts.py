"""Artifacts over MCP with the SDK 2.x client: a plot as ImageContent, a CSV embedded, a large file linked.

Over both transports. The image is a preview within the door's byte cap (a few tens of KB for an
agent), the CSV's text is embedded, and a binary file comes as a resource link that
``resources/read`` resolves to the bytes for the key that ran it, and for no other.
"""

from __future__ import annotations

import base64
import hashlib
import io

import pytest
from mcp.types import BlobResourceContents, EmbeddedResource, ImageContent, ResourceLink, TextResourceContents
from PIL import Image

from sandbox.mcp.content import PREVIEW_BYTES
from tests.e2e.mcp_clients import connect, warnings_logged

pytestmark = [pytest.mark.anyio, pytest.mark.docker]

PNG = b"\x89PNG\r\n\x1a\n"
PROGRAM = (
    "import matplotlib.pyplot as plt, os\n"
    "plt.figure(figsize=(12, 9), dpi=200)\n"  # a 2400x1800 figure: far over the preview cap
    "for i in range(40): plt.plot([j * (i + 1) % 17 for j in range(50)])\n"
    "os.makedirs('out', exist_ok=True)\n"
    "open('out/table.csv', 'w').write('a,b\\n1,2\\n')\n"
    "open('blob.bin', 'wb').write(bytes(range(256)) * 400)\n"
)


@pytest.fixture(scope="module")
def mcp_key(live_server) -> str:
    return live_server.key("e2e-mcp-artifacts", policy="permissive")


@pytest.fixture(params=["http", "stdio"])
def transport(request) -> str:
    return request.param


async def test_a_plot_is_an_image_a_csv_is_embedded_and_a_binary_is_linked(
    transport, live_server, mcp_key, tmp_path
) -> None:
    async with connect(transport, live_server, mcp_key, tmp_path) as client:
        result = await client.call_tool("execute", {"code": PROGRAM, "outputs": ["*.bin"]})
        assert not result.is_error, result
        record = result.structured_content
        assert record["status"] == "ok", record
        names = {a["name"]: a for a in record["artifacts"]}
        assert sorted(names) == ["blob.bin", "out/figure-1.png", "out/table.csv"]
        assert "artifacts: " in result.content[0].text

        images = [b for b in result.content if isinstance(b, ImageContent)]
        assert len(images) == 1 and images[0].mime_type == "image/png"
        shown = base64.b64decode(images[0].data)
        assert shown.startswith(PNG) and len(shown) <= PREVIEW_BYTES < names["out/figure-1.png"]["size"]
        with Image.open(io.BytesIO(shown)) as image:
            assert max(image.size) <= 1024

        embedded = [b for b in result.content if isinstance(b, EmbeddedResource)]
        assert len(embedded) == 1 and isinstance(embedded[0].resource, TextResourceContents)
        assert embedded[0].resource.text == "a,b\n1,2\n" and embedded[0].resource.mime_type == "text/csv"

        links = {b.name: b for b in result.content if isinstance(b, ResourceLink)}
        assert set(links) == {"blob.bin"}
        read = await client.read_resource(str(links["blob.bin"].uri))
        blob = read.contents[0]
        assert isinstance(blob, BlobResourceContents)
        data = base64.b64decode(blob.blob)
        assert data == bytes(range(256)) * 400 and hashlib.sha256(data).hexdigest() == names["blob.bin"]["sha256"]


async def test_an_artifact_link_is_the_owners_only(live_server, mcp_key, tmp_path) -> None:
    async with connect("http", live_server, mcp_key, tmp_path) as client:
        result = await client.call_tool(
            "execute", {"code": "open('x.bin', 'wb').write(b'\\0' * 70000)", "outputs": ["x.bin"]}
        )
        link = next(b for b in result.content if isinstance(b, ResourceLink))
    other = live_server.key("e2e-mcp-artifacts-other")
    async with connect("http", live_server, other, tmp_path) as client:
        with pytest.raises(Exception) as refused:
            await client.read_resource(str(link.uri))
    assert "no execution" in str(refused.value)
    with warnings_logged() as logged:  # a refused read is the caller's mistake: no traceback in the log
        async with connect("http", live_server, other, tmp_path) as client:
            with pytest.raises(Exception, match="no execution"):
                await client.read_resource(str(link.uri))
    assert not [r for r in logged if r.exc_info], logged
