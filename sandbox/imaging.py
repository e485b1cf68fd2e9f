"""Small previews of image artifacts, for doors where every byte costs a reader (an agent's context).

A matplotlib figure at its default size is a 20-40 KB PNG, a high-DPI one several
hundred; an agent that sees it as MCP ``ImageContent`` pays for its base64 in
tokens. ``preview`` keeps an image as it is when it is already within the caps,
and otherwise scales it down (Lanczos, longest side ``max_side``) and re-encodes it
as a palette PNG, which suits plots (few colours, sharp lines), stepping the size
down until it fits ``max_bytes``. The full image stays available by name. A dense
1.6 MB 2400x1800 figure takes ~0.5 s here: callers run this off the event loop.

The bytes come from a program: Pillow opens them with its decompression-bomb
guard on, and anything it cannot read gets no preview rather than an error.
"""

from __future__ import annotations

import io
import logging

from PIL import Image

log = logging.getLogger(__name__)

#: Media types Pillow reads here; anything else is never previewed.
PREVIEWABLE = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
#: The most pixels decoded for a preview (48 MB as RGBA; Pillow's own bomb limit is far higher).
MAX_PIXELS = 12_000_000


def preview(data: bytes, media_type: str, *, max_side: int = 1024, max_bytes: int = 48 << 10) -> bytes | None:
    """A PNG within ``max_side`` pixels and ``max_bytes``, or ``data`` itself if it already is one; None if
    the bytes are not an image Pillow can read (or no size fits)."""
    if media_type not in PREVIEWABLE:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            if width * height > MAX_PIXELS:
                return None
            if media_type == "image/png" and len(data) <= max_bytes and max(width, height) <= max_side:
                return data
            image.load()
            frame = image.convert("RGBA") if image.mode not in ("RGB", "RGBA") else image.copy()
    except (OSError, ValueError, Image.DecompressionBombError, SyntaxError) as exc:
        log.debug("no preview: %s", exc)
        return None
    if frame.mode == "RGBA" and frame.getchannel("A").getextrema()[0] == 255:  # opaque: a matplotlib figure
        frame = frame.convert("RGB")
    side = min(max_side, max(width, height))
    while side >= 64:
        # Box-reduced first, then Lanczos; each try starts from the last (smaller) one.
        frame.thumbnail((side, side), Image.Resampling.LANCZOS, reducing_gap=1.0)
        out = io.BytesIO()
        frame.quantize(colors=256, method=Image.Quantize.FASTOCTREE).save(out, format="PNG")
        if out.tell() <= max_bytes:
            return out.getvalue()
        # A palette PNG's size goes with its area: aim just under the cap (at most a halving at a time).
        side = int(side * max(0.5, min(0.9, 0.95 * (max_bytes / out.tell()) ** 0.5)))
    return None
