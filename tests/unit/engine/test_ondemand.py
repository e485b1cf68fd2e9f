"""On-demand image builds: one build per missing image, refusals meanwhile, failures reported once, a cache.

The builder and the inspection are plain functions run in threads, as the real ones are; here
they are stand-ins that a test releases, so the concurrency is exercised without building images
(the real build is in tests/integration/test_image_builds.py).
"""

from __future__ import annotations

import asyncio
import threading

import pytest

from sandbox.config import PROJECT_ROOT
from sandbox.engine import ImageBuilds, ImageCatalog, ImageState
from sandbox.errors import ImageBuilding, RequestRejected

pytestmark = pytest.mark.anyio
CATALOG = ImageCatalog(PROJECT_ROOT / "images")


class Engine:
    """Images by tag, a builder the test releases, and counts of what was asked."""

    def __init__(self, built: frozenset[str] = frozenset()) -> None:
        self.images: dict[str, dict[str, str]] = {CATALOG.image_tag(n): {"io.sandbox.version": n} for n in built}
        self.builds: list[str] = []
        self.inspections = 0
        self.release = threading.Event()
        self.fail_with: Exception | None = None

    def build(self, language: str) -> None:
        self.builds.append(language)
        assert self.release.wait(10), "the test never released the build"
        if self.fail_with is not None:
            raise self.fail_with
        self.images[CATALOG.image_tag(language)] = {"io.sandbox.version": f"{language} 1.0"}

    def inspect(self, tags: list[str]) -> dict[str, dict[str, str] | None]:
        self.inspections += 1
        return {tag: self.images.get(tag) for tag in tags}


def builds_on(engine: Engine) -> ImageBuilds:
    return ImageBuilds(CATALOG, engine.build, engine.inspect, retry_after_s=7, recheck_s=3600)


async def settled(builds: ImageBuilds) -> None:
    while builds.building():
        await asyncio.sleep(0.01)


async def test_a_built_image_is_looked_up_once_then_free() -> None:
    engine = Engine(built=frozenset({"python"}))
    builds = builds_on(engine)
    for _ in range(5):
        await builds.ensure("py")
    await builds.ensure(CATALOG.image_tag("python"))  # a run spec's image tag works too
    assert engine.inspections == 1 and engine.builds == []


async def test_concurrent_requests_share_one_build_and_are_refused_meanwhile() -> None:
    engine = Engine()
    builds = builds_on(engine)
    outcomes = await asyncio.gather(
        *(builds.ensure(name) for name in ["rust", "rs", "rust"] * 4), return_exceptions=True
    )
    assert all(isinstance(o, ImageBuilding) for o in outcomes)
    first = outcomes[0]
    assert isinstance(first, ImageBuilding)
    assert first.retry_after_s == 7 and first.http_status == 503 and first.status.value == "capacity_unavailable"
    assert "the rust image is being built" in first.message and "retry in 7 s" in first.message
    await asyncio.sleep(0.05)
    assert engine.builds == ["rust"]  # one build for twelve requests
    assert builds.building() == ["rust"]
    engine.release.set()
    await settled(builds)
    await builds.ensure("rust")  # built: answers at once
    assert engine.builds == ["rust"]
    assert builds.cached("rust") == ImageState(True, "rust 1.0")


async def test_a_failed_build_is_reported_once_then_tried_again() -> None:
    engine = Engine()
    engine.fail_with = RuntimeError("apt-get: 404 Not Found")
    engine.release.set()
    builds = builds_on(engine)
    with pytest.raises(ImageBuilding, match="being built"):
        await builds.ensure("go")
    await settled(builds)
    with pytest.raises(ImageBuilding) as failed:
        await builds.ensure("go")
    assert "the go image could not be built: RuntimeError: apt-get: 404 Not Found" in failed.value.message
    assert "the next request tries again" in failed.value.message
    assert engine.builds == ["go"]
    engine.fail_with = None
    with pytest.raises(ImageBuilding, match="being built"):  # the retry
        await builds.ensure("go")
    await settled(builds)
    await builds.ensure("go")
    assert engine.builds == ["go", "go"]


async def test_builds_of_different_languages_run_one_at_a_time() -> None:
    engine = Engine()
    builds = builds_on(engine)
    for name in ("c", "java"):
        with pytest.raises(ImageBuilding):
            await builds.ensure(name)
    await asyncio.sleep(0.05)
    assert engine.builds == ["c"]  # java waits for c's build (they share the base and the mirror)
    assert builds.building() == ["c", "java"]
    engine.release.set()
    await settled(builds)
    assert engine.builds == ["c", "java"]


async def test_prepare_waits_for_the_build() -> None:
    engine = Engine(built=frozenset({"python"}))
    engine.release.set()
    builds = builds_on(engine)
    await builds.prepare(["python", "bash"])
    assert engine.builds == ["bash"]
    await builds.ensure("bash")


async def test_prepare_raises_a_failed_build() -> None:
    engine = Engine()
    engine.fail_with = RuntimeError("no space left on device")
    engine.release.set()
    with pytest.raises(ImageBuilding, match="the bash image could not be built: RuntimeError: no space"):
        await builds_on(engine).prepare(["bash"])


async def test_states_come_from_the_cache_and_missing_ones_are_rechecked_when_stale() -> None:
    engine = Engine(built=frozenset({"python", "bash"}))
    builds = builds_on(engine)
    states = await builds.states()
    assert set(states) == set(CATALOG.languages)
    assert states["python"] == ImageState(True, "python") and states["c"] == ImageState(False)
    assert engine.inspections == 1  # every language in one inspection
    await builds.states()
    assert engine.inspections == 1  # nothing stale: no Docker at all
    engine.images[CATALOG.image_tag("c")] = {"io.sandbox.version": "gcc 12"}  # built by another process
    builds.recheck_s = 0
    assert (await builds.states())["c"] == ImageState(True, "gcc 12")
    calls = engine.inspections
    builds.forget("c")  # the engine said it is gone
    await builds.states()
    assert engine.inspections == calls + 1


async def test_an_engine_that_does_not_answer_leaves_the_states_unknown() -> None:
    from sandbox.errors import DockerUnavailable

    def down(tags: list[str]) -> dict[str, dict[str, str] | None]:
        raise DockerUnavailable("connect to the Docker engine: no such file")

    builds = ImageBuilds(CATALOG, lambda language: None, down)
    states = await builds.states()
    assert not any(state.built for state in states.values())


async def test_an_unknown_language_is_rejected_and_a_foreign_tag_left_to_the_engine() -> None:
    engine = Engine()
    with pytest.raises(RequestRejected, match="unknown language 'cobol'"):
        await builds_on(engine).ensure("cobol")
    await builds_on(engine).ensure("busybox:latest")  # not ours: creating the container will say
    assert engine.inspections == 0 and engine.builds == []


async def test_aclose_stops_waiting_for_a_build() -> None:
    engine = Engine()
    builds = builds_on(engine)
    with pytest.raises(ImageBuilding):
        await builds.ensure("java")
    await builds.aclose()
    assert builds.building() == []
    engine.release.set()  # the thread finishes on its own
