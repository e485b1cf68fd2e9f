"""Previews of image artifacts (``sandbox.imaging``): small enough for an agent, never an error."""

from __future__ import annotations

import io
import random
import struct
import zlib

from PIL import Image, ImageDraw

from sandbox.imaging import preview


def png(width: int, height: int, noisy: bool = False) -> bytes:
    image = Image.new("RGB", (width, height), "white")
    if noisy:  # a high-DPI plot's worth of lines and colours
        rng = random.Random(1)
        draw = ImageDraw.Draw(image)
        for _ in range(3000):
            xy = [(rng.randrange(width), rng.randrange(height)) for _ in range(2)]
            draw.line(xy, fill=(rng.randrange(256), rng.randrange(256), rng.randrange(256)), width=3)
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def test_a_small_png_is_kept_as_it_is() -> None:
    data = png(640, 480)
    assert preview(data, "image/png") is data


def test_a_large_image_is_scaled_down_within_the_caps() -> None:
    data = png(2400, 1600, noisy=True)
    assert len(data) > 500 << 10
    small = preview(data, "image/png", max_side=800, max_bytes=48 << 10)
    assert small is not None and len(small) <= 48 << 10
    with Image.open(io.BytesIO(small)) as image:
        assert image.format == "PNG" and max(image.size) <= 800


def test_not_an_image_or_not_previewable_gets_none() -> None:
    assert preview(b"\x89PNG\r\n\x1a\n garbage", "image/png") is None
    assert preview(b"<svg/>", "image/svg+xml") is None
    assert preview(png(10, 10), "text/plain") is None


def png_header(width: int, height: int) -> bytes:
    """A PNG that only claims its size: what a decompression bomb shows before it is decoded."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    chunk = b"IHDR" + ihdr
    return b"\x89PNG\r\n\x1a\n" + struct.pack(">I", len(ihdr)) + chunk + struct.pack(">I", zlib.crc32(chunk))


def test_a_decompression_bomb_gets_none() -> None:
    assert preview(png_header(8000, 6000), "image/png") is None  # 48 Mpx: over MAX_PIXELS, never decoded
    assert preview(png_header(60000, 60000), "image/png") is None


def test_artifact_headers_never_carry_what_a_name_could_inject() -> None:
    from sandbox.artifacts import artifact_headers
    from sandbox.models import Artifact

    entry = Artifact(name='out/x"; filename="evil\r\nSet-Cookie: a=b\\.html', size=1, media_type="text/html")
    headers = artifact_headers(entry)
    disposition = headers["Content-Disposition"]
    assert disposition.startswith("attachment; ") and disposition.count('"') == 2
    assert all(" " <= c <= "~" for value in headers.values() for c in value)
