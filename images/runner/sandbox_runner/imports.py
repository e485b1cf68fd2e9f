"""Only validated source is imported from a writable place (the workdir, /tmp).

The host validates every Python file a request or an upload carries, but a
program can also make a module out of bytes validation never saw: rename a data
file to ``helper.py``, write one from computed text, or plant a forged
``__pycache__/*.pyc`` beside a validated source. Under an enforcing policy the
runner therefore replaces the path finder of the program's interpreter with one
that, for modules found outside the read-only system tree, imports only source
whose SHA-256 is one the host validated, compiled from exactly the bytes that
were hashed (never from a byte-code cache), and refuses compiled modules there
outright. A second line behind validation, like the restricted guards: the
container is the boundary, and a program that could reach ``sys.meta_path``
could remove the finder, which validation denies.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Iterable, Sequence
    from importlib.machinery import ModuleSpec
    from types import CodeType
    from typing import Any

#: Where the interpreter and its libraries live (``/usr`` in the images), and the image's own
#: ``/opt/sandbox`` (the runner, and the strict tier's RestrictedPython): read-only, built with the image.
SYSTEM_TREE = tuple(sorted({os.path.realpath(p) + "/" for p in (sys.base_prefix, sys.prefix, "/opt/sandbox")}))


def digest(data: bytes) -> str:
    """SHA-256, from CPython's built-in ``_sha256``: on every run's path, and importing ``hashlib``
    loads OpenSSL (measured 13.5 ms in the image, against 0.08 ms)."""
    try:
        from _sha256 import sha256  # type: ignore[import-not-found]  # no stub: same API as hashlib's
    except ImportError:  # an interpreter built without it
        from hashlib import sha256
    hexdigest: str = sha256(data).hexdigest()
    return hexdigest


def validated_digests(files: Iterable[dict[str, object]]) -> set[str]:
    """Digests of the request's Python sources (every one was validated as a program by the host)."""
    import binascii

    return {
        digest(binascii.a2b_base64(str(f.get("data", "")))) for f in files if str(f.get("path", "")).endswith(".py")
    }


class ValidatedSourceFinder:
    """The path finder, except that a module from a writable place must be validated source."""

    def __init__(self, path_finder: Any, digests: set[str]) -> None:
        from importlib.machinery import SourceFileLoader

        class ValidatedSourceLoader(SourceFileLoader):
            """Compiles the bytes that were hashed: never a byte-code cache, never a second read."""

            def __init__(self, fullname: str, path: str, source: bytes) -> None:
                super().__init__(fullname, path)
                self.source = source

            def get_code(self, fullname: str) -> CodeType:
                return compile(self.source, self.path, "exec", dont_inherit=True)

        self.loader = ValidatedSourceLoader
        self.path_finder = path_finder
        self.digests = digests

    def find_spec(self, name: str, path: Sequence[str] | None = None, target: object = None) -> ModuleSpec | None:
        spec: ModuleSpec | None = self.path_finder.find_spec(name, path, target)
        if spec is None or not spec.has_location or spec.origin is None:
            return spec  # namespace packages have no origin: the modules inside them are checked
        # Where the file really is: `/usr/../tmp/m.py` (a package's __path__ can say that) is not system.
        if os.path.realpath(spec.origin).startswith(SYSTEM_TREE):
            return spec
        origin = spec.origin
        if not origin.endswith(".py"):
            raise ImportError(f"{name}: {origin} is compiled code in a writable place; only source is imported there")
        with open(origin, "rb") as f:
            source = f.read()
        if digest(source) not in self.digests:
            raise ImportError(
                f"{name}: {origin} is not a file validation saw (written or changed at run time); "
                "send it with the request or upload it to the session"
            )
        spec.loader = self.loader(name, origin, source)
        spec.cached = None
        return spec

    def invalidate_caches(self) -> None:
        self.path_finder.invalidate_caches()


def install(digests: set[str]) -> ValidatedSourceFinder:
    """Put the finder in place of the interpreter's path finder; returns it (a session adds digests)."""
    meta_path: list[Any] = sys.meta_path
    for index, finder in enumerate(meta_path):
        if getattr(finder, "__name__", "") == "PathFinder":
            guard = ValidatedSourceFinder(finder, digests)
            meta_path[index] = guard
            return guard
    raise RuntimeError("the interpreter has no path finder to guard")
