"""Artifacts: the files a run leaves for the caller, sent to the host as frames once the program is gone.

What is collected: every regular file under ``out/`` in the workdir (where the
image's matplotlib backend saves figures), and every workdir file whose relative
path matches one of the request's ``outputs`` globs. The request's
``artifacts`` part says so::

    {"globs": ["*.csv", "results/**"], "max_files": 32, "max_bytes": 16777216,
     "max_entries": 20000}

Each artifact is one ``A`` frame, JSON ``{"name", "size"}`` (the path relative to
the workdir, the bytes sent), followed by one ``F`` frame with its bytes; or an
``A`` frame with ``"skipped": reason`` and no ``F`` frame (a name that is not
UTF-8 or has control characters is skipped, shown with replacement
characters). A file past
``max_files`` or past what is left of ``max_bytes`` is listed as skipped with the
reason, never silently dropped; so are links, special files and files the
program left unreadable. The walk is bounded too (``max_entries`` directory
entries): past it, one skipped entry says the search stopped.

Collection runs after the program and everything it started are gone, so
nothing changes under the walk; it still never follows a link (``os.walk``
does not descend into linked directories, links to files are skipped, and
files are read by ``workspace.read_file``). A session collects after each cell
only what is new or changed since its last collection (``Collector``).
"""

from __future__ import annotations

import os
import stat

from . import wire, workspace

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    import re

#: The directory whose files are always artifacts (the image's matplotlib backend saves figures there).
OUT_DIR = "out"


def translate(glob: str) -> re.Pattern[str]:
    """A glob over workdir-relative paths as a regex: ``*`` and ``?`` stay within one path part,
    ``**`` spans parts (``a/**/b`` also matches ``a/b``), ``[...]`` is a character class.

    ``re`` is imported here, by a request that names globs: not by every container's start.
    """
    import re

    out = []
    i = 0
    while i < len(glob):
        c = glob[i]
        if glob.startswith("**/", i):
            out.append("(?:.*/)?")
            i += 3
            continue
        if glob.startswith("**", i):
            out.append(".*")
            i += 2
            continue
        if c == "*":
            out.append("[^/]*")
        elif c == "?":
            out.append("[^/]")
        elif c == "[":
            end = glob.find("]", i + 2 if glob[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end < 0:
                out.append(re.escape(c))
            else:
                body = glob[i + 1 : end].replace("\\", "\\\\")
                if body.startswith("!"):
                    body = "^" + body[1:]
                out.append(f"(?!/)[{body}]")
                i = end
        else:
            out.append(re.escape(c))
        i += 1
    return re.compile("".join(out) + r"\Z", re.DOTALL)


class Collector:
    """What one request (or one session) collects, and what it has already sent."""

    def __init__(self, spec: wire.JSONObject) -> None:
        #: name -> (size, mtime_ns) of what was sent (or skipped) before: a session sends only changes.
        self.seen: dict[str, tuple[int, int]] = {}
        self.configure(spec)

    def configure(self, spec: wire.JSONObject) -> None:
        """The globs and caps of the next collection (a session's cell brings its own)."""
        self.patterns = [translate(str(g)) for g in spec.get("globs") or ()]
        self.max_files = int(spec.get("max_files", 32))
        self.max_bytes = int(spec.get("max_bytes", 16 << 20))
        self.max_entries = int(spec.get("max_entries", 20000))

    def mark_seen(self) -> None:
        """Take what is there now as already sent (a session's opening files are the caller's own)."""
        found, _ = self.candidates()
        self.seen.update((name, (info.st_size, info.st_mtime_ns)) for name, info in found)

    def wanted(self, name: str) -> bool:
        return name.startswith(OUT_DIR + "/") or any(p.match(name) for p in self.patterns)

    def candidates(self) -> tuple[list[tuple[str, os.stat_result]], bool]:
        """The wanted paths with their ``lstat``, sorted; and whether the walk stopped at ``max_entries``."""
        found: list[tuple[str, os.stat_result]] = []
        entries = 0
        top = os.path.join(workspace.WORKDIR, OUT_DIR) if not self.patterns else workspace.WORKDIR
        if not os.path.isdir(top) or os.path.islink(top):
            return found, False
        for directory, dirs, files in os.walk(top):  # never descends into a linked directory
            rel_dir = os.path.relpath(directory, workspace.WORKDIR)
            rel_dir = "" if rel_dir == "." else rel_dir + "/"
            dirs.sort()
            names = sorted(files) + [d for d in dirs if os.path.islink(os.path.join(directory, d))]
            for name in sorted(names):
                entries += 1
                if entries > self.max_entries:
                    return sorted(found), True
                rel = rel_dir + name
                if not self.wanted(rel):
                    continue
                try:
                    found.append((rel, os.lstat(os.path.join(directory, name))))
                except OSError:
                    continue
            entries += len(dirs)
        return sorted(found), False

    def collect(self) -> int:
        """Send the artifacts as frames (see the module docstring); the number of ``A`` frames sent."""
        found, stopped = self.candidates()
        sent = files = used = 0
        for name, info in found:
            key = (info.st_size, info.st_mtime_ns)
            if self.seen.get(name) == key:
                continue
            self.seen[name] = key
            reason = None
            data = b""
            shown = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
            if shown != name:  # the program named it with bytes that are not UTF-8: it cannot be named back
                reason = "a name that is not UTF-8"
            elif not name.isprintable():  # a newline or an escape in a name would go on to headers and terminals
                shown = "".join(c if c.isprintable() else "\ufffd" for c in name)
                reason = "a name with control characters"
            elif stat.S_ISLNK(info.st_mode):
                reason = "a symbolic link"
            elif not stat.S_ISREG(info.st_mode):
                reason = "not a regular file"
            elif files >= self.max_files:
                reason = f"over the cap of {self.max_files} files per run"
            elif used + info.st_size > self.max_bytes:
                reason = f"over the cap of {self.max_bytes} bytes of artifacts per run ({info.st_size} bytes)"
            else:
                try:
                    data = workspace.read_file(name, max_bytes=self.max_bytes - used)
                except (OSError, ValueError) as exc:
                    reason = f"unreadable: {exc}"
            if reason is not None:
                wire.write_json(b"A", {"name": shown, "size": info.st_size, "skipped": reason})
            else:
                files += 1
                used += len(data)
                wire.write_json(b"A", {"name": name, "size": len(data)})
                wire.write_frame(b"F", data)
            sent += 1
        if stopped:
            reason = f"the search stopped after {self.max_entries} workdir entries; later files were not looked at"
            wire.write_json(b"A", {"name": "", "size": 0, "skipped": reason})
            sent += 1
        return sent


def collect(request: wire.Request) -> None:
    """A one-shot run's artifacts, if the request asks for them (its ``artifacts`` part)."""
    spec = request.get("artifacts")
    if spec is not None:
        Collector(spec).collect()
