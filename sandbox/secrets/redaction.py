"""Replace secret values, and their common encodings, in a run's output with ``[REDACTED:NAME]``.

Redaction is best-effort accident prevention, not a security boundary (SECURITY-BAR 5.5): it
catches a program that prints a secret, dumps its environment or raises with it, in plain text
or a common encoding. A program can always transform a value first (reverse it, XOR it,
compress it, spread it over lines), so the real protection is that the value exists only inside
that one run's container, and only for a run its owner scoped it to.

Values shorter than ``MIN_SECRET_LEN`` characters are not redacted at all: they would mangle
ordinary text. Encoded variants shorter than ``MIN_VARIANT_LEN`` are skipped for the same reason.
"""

from __future__ import annotations

import base64
import bisect
import json
import re
from collections.abc import Callable, Mapping
from urllib.parse import quote, quote_plus

MIN_SECRET_LEN = 4
MIN_VARIANT_LEN = 8

_B64_ENCODERS: tuple[Callable[[bytes], bytes], ...] = (base64.b64encode, base64.urlsafe_b64encode)


def _base64_variants(data: bytes) -> set[str]:
    """Base64 forms of ``data`` at each byte alignment, so it is caught inside a longer stream.

    Preceded by ``k`` unknown bytes, the first ``ceil(8k/6)`` characters mix in the neighbour's
    bits; so do the characters after the last whole 6-bit group that ``data`` alone determines.
    The stable middle matches wherever ``data`` sits; the full tail, padded or not, matches when
    ``data`` ends the stream, so nothing of it is left beside the marker.
    """
    found: set[str] = set()
    for encode in _B64_ENCODERS:
        for k in range(3):
            full = encode(b"\0" * k + data).decode("ascii")
            head = (8 * k + 5) // 6
            found.add(full[head : 8 * (k + len(data)) // 6])  # stable middle
            found.add(full[head:])  # ends the stream, padded
            found.add(full[head:].rstrip("="))  # ends the stream, unpadded
    return found


def variants(value: str) -> set[str]:
    """Every form of ``value`` to redact: raw, base64, hex, URL-, JSON- and repr-escaped.

    Empty if the value is shorter than ``MIN_SECRET_LEN``; encodings shorter than
    ``MIN_VARIANT_LEN`` are dropped, the raw value never is.
    """
    if len(value) < MIN_SECRET_LEN:
        return set()
    data = value.encode("utf-8", "surrogatepass")
    encoded = _base64_variants(data) | {
        data.hex(),
        data.hex().upper(),
        quote(value, safe=""),
        quote_plus(value),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        repr(value)[1:-1],
    }
    return {v for v in encoded if len(v) >= MIN_VARIANT_LEN} | {value}


class Redactor:
    """Redacts a fixed set of secrets (name -> value) from text; build once per run."""

    def __init__(self, secrets: Mapping[str, str]) -> None:
        # Sorted by name so that a variant shared by two secrets always gets the same name.
        replacement: dict[str, str] = {}
        for name in sorted(secrets):
            for variant in variants(secrets[name]):
                replacement.setdefault(variant, f"[REDACTED:{name}]")
        self._replacement = replacement
        self._names = tuple(sorted({name for name in secrets if len(secrets[name]) >= MIN_SECRET_LEN}))
        # Longest first: at any position the longest variant wins, so a secret that contains
        # another is redacted whole, as itself.
        ordered = sorted(replacement, key=lambda v: (-len(v), v))
        self._pattern = re.compile("|".join(map(re.escape, ordered))) if ordered else None
        self._sorted = sorted(replacement)  # for the streaming prefix test (bisect)
        self._max_len = len(ordered[0]) if ordered else 0

    @property
    def names(self) -> tuple[str, ...]:
        """Names of the secrets actually redacted (values of at least ``MIN_SECRET_LEN``)."""
        return self._names

    @property
    def empty(self) -> bool:
        """True when there is nothing to redact, so callers can skip the work entirely."""
        return self._pattern is None

    @property
    def max_len(self) -> int:
        """Length of the longest variant: how much a stream may have to hold back."""
        return self._max_len

    def __bool__(self) -> bool:
        return self._pattern is not None

    def redact(self, text: str) -> str:
        """``text`` with every variant replaced; the very same object when there are no secrets."""
        if self._pattern is None:
            return text
        return self._pattern.sub(self._replace, text)

    def stream(self) -> StreamRedactor:
        """A redactor for one output stream delivered in chunks (one per stream: stdout, stderr)."""
        return StreamRedactor(self)

    def _replace(self, match: re.Match[str]) -> str:
        return self._replacement[match.group()]

    def _is_proper_prefix(self, tail: str) -> bool:
        """Whether ``tail`` is the start, but not the whole, of some variant.

        Strings starting with ``tail`` sort together right after ``tail`` itself.
        """
        i = bisect.bisect_right(self._sorted, tail)
        return i < len(self._sorted) and self._sorted[i].startswith(tail)


class StreamRedactor:
    """Redacts a stream chunk by chunk, catching secrets split across chunk boundaries.

    The concatenation of everything ``feed`` and ``flush`` return equals ``redact`` of the
    whole text, whatever the chunking. A position is decided once the text after it is not a
    proper prefix of any variant: the regex then picks the same match (or none) there as it
    would in the whole text. Everything before the first undecided position is emitted; the
    rest (under ``max_len`` characters) is held back, so ordinary output is not delayed.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._redactor = redactor
        self._pattern = redactor._pattern
        self._pending = ""

    def feed(self, chunk: str) -> str:
        """Redact the held-back text plus ``chunk``; return what is now safe to emit."""
        pattern = self._pattern
        if pattern is None:
            return chunk  # no secrets: no buffering, no copying
        buf = self._pending + chunk
        undecided = len(buf)
        for q in range(max(0, len(buf) - self._redactor.max_len + 1), len(buf)):
            if self._redactor._is_proper_prefix(buf[q:]):
                undecided = q
                break
        out: list[str] = []
        pos = 0
        for match in pattern.finditer(buf):
            if match.start() >= undecided:
                break
            out.append(buf[pos : match.start()])
            out.append(self._redactor._replace(match))
            pos = match.end()
        cut = max(pos, undecided)
        out.append(buf[pos:cut])
        self._pending = buf[cut:]
        return "".join(out)

    def flush(self) -> str:
        """The end of the stream: redact and return whatever was held back."""
        rest, self._pending = self._pending, ""
        return self._redactor.redact(rest)


def redact_file(data: bytes, redactor: Redactor) -> bytes:
    """A file read back from a session with secrets: its text redacted. Bytes that are not UTF-8 text
    come back as they are (a binary format hides a value in ways no text search finds: documented)."""
    if not redactor:
        return data
    try:
        text = data.decode()
    except UnicodeDecodeError:
        return data
    return redactor.redact(text).encode()
