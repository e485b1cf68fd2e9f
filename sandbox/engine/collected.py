"""The artifacts a runner sends after a run, checked against the run's rules before the host keeps any.

The runner sends each artifact as an ``A`` frame (name and size, or why it was
skipped) followed, unless skipped, by an ``F`` frame with its bytes (see the
runner's ``artifacts``). Those frames come from a container the program shares,
so the host holds them to its own caps: at most ``max_files`` files and
``max_bytes`` bytes kept, a bounded number of skipped entries, names that are
plain relative paths, each name once. What is over a cap is kept as a skipped
entry with the reason; a malformed frame is a protocol error, like any other.
"""

from __future__ import annotations

import posixpath
from dataclasses import dataclass

from sandbox.engine.protocol import ProtocolError, json_object
from sandbox.engine.spec import ArtifactRules, CollectedArtifact

#: Skipped entries kept beyond ``max_files`` (the rest are counted in one last entry).
MAX_SKIPPED = 64
#: The entry the runner sends when its search of the workdir stopped early (its ``name`` is empty).
SEARCH_STOPPED = "*"


@dataclass(frozen=True)
class ArtifactHeader:
    """An ``A`` frame: an artifact's workdir-relative name, its size, or why it was skipped."""

    name: str
    size: int
    skipped: str | None

    @classmethod
    def parse(cls, payload: bytes) -> ArtifactHeader:
        data = json_object(payload, "artifact")
        name, size, skipped = data.get("name"), data.get("size"), data.get("skipped")
        if type(size) is not int or not 0 <= size < 2**63:
            raise ProtocolError("artifact field 'size' is invalid")
        if skipped is not None and not isinstance(skipped, str):
            raise ProtocolError("artifact field 'skipped' is not text")
        if not isinstance(name, str) or len(name) > 1024:
            raise ProtocolError("artifact field 'name' is not a path")
        if skipped is not None:  # only listed: shown printable whatever the program named it
            return cls(_printable(name) or SEARCH_STOPPED, size, _printable(skipped[:300]))
        if not _plain(name):  # a name that fetches bytes later: plain, printable UTF-8
            raise ProtocolError("artifact field 'name' is not a plain relative path")
        return cls(name, size, None)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() and not 0xD800 <= ord(c) <= 0xDFFF else "\ufffd" for c in text)


def _plain(name: str) -> bool:
    """A relative path, without ``.``/``..``/empty parts, NUL, control characters or lone surrogates."""
    parts = name.split("/")
    try:
        encoded = name.encode("utf-8")  # a lone surrogate (bytes that were not UTF-8) cannot be served
    except UnicodeEncodeError:
        return False
    return (
        len(encoded) <= 1024
        and name.isprintable()
        and "\x00" not in name
        and not name.startswith("/")
        and not any(part in ("", ".", "..") for part in parts)
        and posixpath.normpath(name) == name
    )


class ArtifactIntake:
    """The artifacts of one run (or session cell), as their frames arrive."""

    def __init__(self, rules: ArtifactRules) -> None:
        self.rules = rules
        self.kept: list[CollectedArtifact] = []
        self._files = 0
        self._bytes = 0
        self._skipped = 0
        self._dropped = 0
        self._names: set[str] = set()
        #: The header whose bytes (the next ``F`` frame) are awaited.
        self.awaiting: ArtifactHeader | None = None

    def header(self, payload: bytes) -> None:
        """An ``A`` frame."""
        if self.awaiting is not None:
            raise ProtocolError("an artifact header came where the previous artifact's bytes were due")
        header = ArtifactHeader.parse(payload)
        if header.skipped is not None:  # names shown with replacement characters may repeat
            self._skip(header.name, header.size, header.skipped)
            return
        if header.name in self._names:  # a name fetches its bytes: each one names one file
            raise ProtocolError(f"artifact {header.name!r} sent twice")
        self._names.add(header.name)
        self.awaiting = header

    def data(self, payload: bytes) -> None:
        """The ``F`` frame after a header: the artifact's bytes, kept if they fit the caps."""
        header = self.awaiting
        if header is None:
            raise ProtocolError("a file frame with no artifact header before it")
        self.awaiting = None
        if len(payload) != header.size:
            raise ProtocolError(f"artifact {header.name!r}: {len(payload)} bytes sent, {header.size} announced")
        rules = self.rules
        if self._files >= rules.max_files:
            self._skip(header.name, header.size, f"over the cap of {rules.max_files} files per run")
        elif self._bytes + len(payload) > rules.max_bytes:
            self._skip(header.name, header.size, f"over the cap of {rules.max_bytes} bytes of artifacts per run")
        else:
            self._files += 1
            self._bytes += len(payload)
            self.kept.append(CollectedArtifact(header.name, len(payload), data=payload))

    def _skip(self, name: str, size: int, reason: str) -> None:
        if self._skipped >= MAX_SKIPPED:
            self._dropped += 1
            return
        self._skipped += 1
        self.kept.append(CollectedArtifact(name, size, skipped=reason))

    def finish(self) -> list[CollectedArtifact]:
        """What was kept, in the order sent (and one entry counting skipped entries past ``MAX_SKIPPED``)."""
        if self.awaiting is not None:
            raise ProtocolError(f"artifact {self.awaiting.name!r}: its bytes never came")
        if self._dropped:
            reason = f"{self._dropped} more skipped artifacts, not listed one by one"
            self.kept.append(CollectedArtifact(SEARCH_STOPPED, 0, skipped=reason))
        return self.kept
