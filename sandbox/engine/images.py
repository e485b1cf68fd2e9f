"""The runtime-image catalog: which languages exist and which image tag runs each.

Read from ``images/<language>/image.toml``. A tag is a content hash of the
language folder, the runner and the base definition, so an image is rebuilt
exactly when something that goes into it changes.
"""

from __future__ import annotations

import hashlib
import tomllib
from dataclasses import dataclass
from pathlib import Path

from sandbox.errors import RequestRejected

RUNNER_DIR = "runner"
BASE_DIR = "base"
#: The image label holding the first line of the language's ``version_command``, probed after the build.
VERSION_LABEL = "io.sandbox.version"


@dataclass(frozen=True)
class LanguageSpec:
    """How to run one language: its image folder, main file and command."""

    name: str
    aliases: tuple[str, ...]
    main_file: str
    source_suffixes: tuple[str, ...]
    mode: str
    argv: tuple[str, ...]
    version_command: tuple[str, ...]
    description: str
    folder: Path
    #: The compile command (empty: the language is not compiled), run in the workdir before the program.
    compile_argv: tuple[str, ...] = ()
    #: Variables the compiler gets on top of the program's base environment (caches under /tmp, say).
    compile_env: tuple[tuple[str, str], ...] = ()
    #: Debian packages the image installs for the language: what `/v1/languages` says the image has.
    packages: tuple[str, ...] = ()
    #: Checks on the main file's text before anything runs: (regular expression, message) pairs; a
    #: match refuses the request with the message (``{0}`` is the match, ``{1}`` its first group).
    source_checks: tuple[tuple[str, str], ...] = ()
    #: A pre-started runtime (exec mode): the command the runner starts while the container waits, to
    #: become ``argv`` when the request comes (see the runner's ``preload`` module); empty: none.
    preload: tuple[str, ...] = ()
    #: Variables every program of the language gets (under the request's own): the Docker image's ENV
    #: does not reach the program, whose environment the runner builds.
    env: tuple[tuple[str, str], ...] = ()

    @property
    def compiled(self) -> bool:
        return bool(self.compile_argv)


METADATA_FILE = "image.toml"  # read by the host only; not part of the image


def folder_digest(*folders: Path) -> str:
    """sha256 over every file's relative path and bytes (but the metadata file), in a stable order.

    Byte code and tool caches (``__pycache__``, ``.mypy_cache`` and any other dot-folder or
    dot-file) are not part of an image: they are skipped, so a test run cannot change a tag.
    """
    digest = hashlib.sha256()
    for folder in folders:
        files = (p for p in folder.rglob("*") if p.is_file() and not _ignored(p.relative_to(folder)))
        for path in sorted(p for p in files if p.name != METADATA_FILE):
            digest.update(f"{folder.name}/{path.relative_to(folder).as_posix()}\0".encode())
            digest.update(path.read_bytes())
            digest.update(b"\0")
    return digest.hexdigest()


def _ignored(relative: Path) -> bool:
    return any(part == "__pycache__" or part.startswith(".") for part in relative.parts)


class ImageCatalog:
    """Languages and their image tags, from the ``images/`` folder."""

    def __init__(self, images_dir: Path, prefix: str = "sandbox") -> None:
        self.images_dir = images_dir
        self.prefix = prefix
        self.languages: dict[str, LanguageSpec] = {}
        self._aliases: dict[str, str] = {}
        for meta in sorted(images_dir.glob("*/image.toml")):
            data = tomllib.loads(meta.read_text())
            spec = LanguageSpec(
                name=data["language"],
                aliases=tuple(data.get("aliases", ())),
                main_file=data["main_file"],
                source_suffixes=tuple(data.get("source_suffixes", ())),
                mode=data.get("mode", "exec"),
                argv=tuple(data["argv"]),
                version_command=tuple(data.get("version_command", ())),
                description=data.get("description", ""),
                folder=meta.parent,
                compile_argv=tuple(data.get("compile", ())),
                compile_env=tuple(sorted(data.get("compile_env", {}).items())),
                packages=tuple(data.get("packages", ())),
                source_checks=tuple((c["pattern"], c["message"]) for c in data.get("source_checks", ())),
                preload=tuple(data.get("preload", ())),
                env=tuple(sorted(data.get("env", {}).items())),
            )
            self.languages[spec.name] = spec
            for alias in (spec.name, *spec.aliases):
                self._aliases[alias] = spec.name
        self._tags: dict[str, str] = {}

    def language(self, name: str) -> LanguageSpec:
        """The spec for ``name`` or an alias; ``RequestRejected`` names the choices."""
        canonical = self._aliases.get(name.lower())
        if canonical is None:
            known = ", ".join(sorted(self.languages))
            raise RequestRejected(f"unknown language {name!r}; available: {known}", language=name)
        return self.languages[canonical]

    @property
    def base_dir(self) -> Path:
        return self.images_dir / BASE_DIR

    def base_tag(self) -> str:
        return f"{self.prefix}-base:{folder_digest(self.base_dir)[:12]}"

    def image_tag(self, language: str) -> str:
        """``<prefix>-<language>:<hash>`` of everything that goes into the image."""
        spec = self.language(language)
        if spec.name not in self._tags:
            digest = folder_digest(self.base_dir, self.images_dir / RUNNER_DIR, spec.folder)
            self._tags[spec.name] = f"{self.prefix}-{spec.name}:{digest[:12]}"
        return self._tags[spec.name]
