"""Runtime images built on first use, and what each built image is, read once and kept.

A server keeps warm pools only for its pool languages and builds their images at start; the
other languages' images (compilers and JDKs: hundreds of megabytes) are built the first time a
request needs one. That build takes a minute or more, longer than a request should wait, so the
request is refused at once with ``ImageBuilding`` (503, ``Retry-After``) while ONE background
build runs; every request for that language meanwhile shares it. A build that fails is reported
in the next request's message, and the request after that starts a new try.

The same object answers ``/v1/languages``: whether each image is built and its recorded version
(a label on the image, see ``ImageBuilder.record_version``). A built image's facts never change
(the tag is a content hash), so they are kept for good; a missing image is looked up again at
most every ``recheck_s`` (another process may have built it). Only this module's callers decide
when Docker is asked; listing languages from the cache costs nothing.

One ``ImageBuilds`` per process and image set: ``image_builds(settings)`` returns it, so the
request path and the routes share the builds and the cache without passing them around.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sandbox.config import Settings
from sandbox.engine.images import VERSION_LABEL, ImageCatalog, LanguageSpec
from sandbox.errors import ImageBuilding, SandboxError

log = logging.getLogger(__name__)

#: Blocking: build ``language``'s image (and the base, when missing); raises on failure.
Build = Callable[[str], None]
#: Blocking: each tag's image labels, None for a tag that is not built (one engine connection for all).
Inspect = Callable[[list[str]], dict[str, dict[str, str] | None]]


@dataclass(frozen=True)
class ImageState:
    """Whether a language's image is built, and the version recorded on it (None: unknown)."""

    built: bool
    version: str | None = None


class ImageBuilds:
    """One background build per missing image; the built images' versions, cached.

    ``build`` and ``inspect`` are blocking functions (they run in a thread); ``from_settings``
    gives the real ones, tests may hand in their own. Made inside the event loop that uses it.
    """

    def __init__(
        self,
        catalog: ImageCatalog,
        build: Build,
        inspect: Inspect,
        *,
        retry_after_s: int = ImageBuilding.retry_after_s,
        recheck_s: float = 30.0,
    ) -> None:
        self.catalog = catalog
        self._build = build
        self._inspect = inspect
        self.retry_after_s = retry_after_s
        self.recheck_s = recheck_s
        self._states: dict[str, ImageState] = {}
        self._checked: dict[str, float] = {}  # language -> when a missing image was last looked up
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._started: dict[str, float] = {}
        self._failures: dict[str, str] = {}
        self._one_at_a_time = asyncio.Lock()  # builds share the base image and the apt mirror
        self.loop = asyncio.get_running_loop()

    @classmethod
    def from_settings(cls, settings: Settings, catalog: ImageCatalog | None = None) -> ImageBuilds:
        """Builds with ``ImageBuilder`` (progress to the log), inspection through ``DockerAdmin``."""
        catalog = catalog or ImageCatalog(settings.images_dir, settings.image_prefix)

        def build(language: str) -> None:
            from sandbox.engine.imagebuild import ImageBuilder

            builder = ImageBuilder(catalog, settings.state_dir, settings.base_source, _log_progress)
            try:
                builder.build_all([language])
            finally:
                builder.close()

        def inspect(tags: list[str]) -> dict[str, dict[str, str] | None]:
            from sandbox.engine.docker import DockerAdmin

            with DockerAdmin(timeout=30) as admin:
                return {tag: admin.image_labels(tag) for tag in tags}

        return cls(catalog, build, inspect)

    # ------------------------------------------------------------------ request path
    async def ensure(self, language_or_tag: str) -> None:
        """Return when the image is built; otherwise start (or join) its build and raise ``ImageBuilding``.

        ``language_or_tag``: a language name or alias, or the image tag a run spec names (a tag
        that is none of the catalog's is left to the engine: it returns). Costs nothing once the
        image is known to be built. Raises ``RequestRejected`` for an unknown language, and
        ``DockerUnavailable`` and kin when the engine cannot say whether the image exists.
        """
        if ":" in language_or_tag and language_or_tag not in self._tags():
            return
        name = self._language(language_or_tag)
        if self._built(name):
            return
        if name not in self._tasks:
            failure = self._failures.pop(name, None)
            if failure is not None:
                raise self._refusal(
                    f"the {name} image could not be built: {failure}; the next request tries again", name
                )
            state = await self._look_up(name)
            if state.built:
                return
            if name not in self._tasks:  # no other request started it while this one looked
                self._start(name)
        waited = time.monotonic() - self._started[name]
        raise self._refusal(
            f"the {name} image is being built (first use of {name} on this server, started {waited:.0f} s ago); "
            f"retry in {self.retry_after_s} s",
            name,
        )

    async def prepare(self, languages: Iterable[str]) -> None:
        """Build these languages' images now and wait (a server's pool languages, at start)."""
        for language in languages:
            name = self._language(language)
            if not self._built(name) and not (await self._look_up(name)).built:
                if name not in self._tasks:
                    self._start(name)
                await asyncio.shield(self._tasks[name])
                failure = self._failures.pop(name, None)
                if failure is not None:
                    raise ImageBuilding(f"the {name} image could not be built: {failure}", language=name)

    def forget(self, language_or_tag: str) -> None:
        """Drop what is known of an image (the engine said it is gone): the next ``ensure`` looks again."""
        name = self._language(language_or_tag)
        self._states.pop(name, None)
        self._checked.pop(name, None)

    def building(self) -> list[str]:
        """The languages whose image is being built now."""
        return sorted(self._tasks)

    # ------------------------------------------------------------------ listings
    def cached(self, language: str) -> ImageState | None:
        """What is known of ``language``'s image without asking Docker (None: never looked up)."""
        return self._states.get(self.catalog.language(language).name)

    async def states(self) -> dict[str, ImageState]:
        """Every language's image state: built ones from the cache, missing ones looked up when stale.

        An engine that does not answer leaves the languages not built (and looked up next time).
        """
        now = time.monotonic()
        stale = [
            name
            for name in sorted(self.catalog.languages)
            if not self._built(name)
            and name not in self._tasks
            and now - self._checked.get(name, -1e9) >= self.recheck_s
        ]
        if stale:
            with contextlib.suppress(SandboxError):
                found = await asyncio.to_thread(self._inspect_all, stale)
                for name, state in found.items():
                    self._remember(name, state)
        return {name: self._states.get(name, ImageState(False)) for name in sorted(self.catalog.languages)}

    async def aclose(self) -> None:
        """Stop waiting for builds in progress (their threads run on; Docker finishes or drops them)."""
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        self._tasks.clear()

    # ------------------------------------------------------------------ private
    def _tags(self) -> dict[str, str]:
        """Image tag -> language (the tags are computed once per catalog)."""
        return {self.catalog.image_tag(name): name for name in self.catalog.languages}

    def _language(self, language_or_tag: str) -> str:
        return self._tags().get(language_or_tag) or self.catalog.language(language_or_tag).name

    def _built(self, name: str) -> bool:
        state = self._states.get(name)
        return state is not None and state.built

    def _refusal(self, message: str, name: str) -> ImageBuilding:
        error = ImageBuilding(message, language=name)
        error.retry_after_s = self.retry_after_s
        return error

    async def _look_up(self, name: str) -> ImageState:
        state = (await asyncio.to_thread(self._inspect_all, [name]))[name]
        self._remember(name, state)
        return state

    def _inspect_all(self, names: list[str]) -> dict[str, ImageState]:
        labels = self._inspect([self.catalog.image_tag(name) for name in names])
        found = {}
        for name in names:
            these = labels.get(self.catalog.image_tag(name))
            found[name] = ImageState(these is not None, (these or {}).get(VERSION_LABEL))
        return found

    def _remember(self, name: str, state: ImageState) -> None:
        self._states[name] = state
        self._checked[name] = time.monotonic()

    def _start(self, name: str) -> None:
        log.info("building the %s image %s in the background (first use)", name, self.catalog.image_tag(name))
        self._started[name] = time.monotonic()
        self._tasks[name] = asyncio.create_task(self._run_build(name), name=f"image-build-{name}")

    async def _run_build(self, name: str) -> None:
        began = time.monotonic()
        try:
            async with self._one_at_a_time:
                await asyncio.to_thread(self._build, name)
            state = await self._look_up(name)
            if not state.built:
                raise ImageBuilding(f"the build finished but {self.catalog.image_tag(name)} is not there")
            log.info("the %s image is built (%s) in %.0f s", name, state.version, time.monotonic() - began)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # any failure is reported to the next request, whatever its kind
            message = exc.message if isinstance(exc, SandboxError) else f"{type(exc).__name__}: {exc}"
            log.warning("building the %s image failed: %s", name, message)
            self._failures[name] = message
        finally:
            self._tasks.pop(name, None)


def language_facts(spec: LanguageSpec, state: ImageState) -> dict[str, Any]:
    """What the doors say about a language (`/v1/languages`, the MCP info tool), as plain values."""
    return {
        "name": spec.name,
        "aliases": list(spec.aliases),
        "extensions": list(spec.source_suffixes),
        "main_file": spec.main_file,
        "compiled": spec.compiled,
        "compile_command": list(spec.compile_argv) if spec.compiled else None,
        "run_command": list(spec.argv),
        "version": state.version,
        "packages": list(spec.packages),
        "description": spec.description,
        "built": state.built,
    }


def _log_progress(line: str) -> None:
    log.info("image build: %s", line)


_SHARED: dict[tuple[object, ...], ImageBuilds] = {}


def image_builds(settings: Settings) -> ImageBuilds:
    """This process's ``ImageBuilds`` for the settings' image set (made on first use, then shared).

    Keyed by what decides the images (folder, prefix, state directory, base source), so the
    request path and the listings reach the same builds and cache. Call it inside the event
    loop that will await it.
    """
    loop = asyncio.get_running_loop()  # its tasks and lock belong to one loop (tests run many)
    key = (settings.images_dir.resolve(), settings.image_prefix, settings.state_dir, settings.base_source)
    builds = _SHARED.get(key)
    if builds is None or builds.loop is not loop:
        builds = _SHARED[key] = ImageBuilds.from_settings(settings)
    return builds
