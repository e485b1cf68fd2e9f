"""The one module that imports the Docker SDK: containers for the backend, images and facts for the CLI.

Everything else in the engine speaks to Docker through ``DockerEngine`` (async,
for the request path) or ``DockerAdmin`` (blocking, for `sandbox images` and
`sandbox doctor`, which run it in a thread of their own). SDK errors are
translated here, once, by ``map_docker_errors``; SDK objects never leave.

``DockerEngine`` runs the blocking SDK calls on a private thread pool, so the
event loop never waits on one, and owns the two promises that cancellation and
shutdown must not break: a container whose creator was cancelled is removed as
soon as it exists, and ``aclose`` waits for every pending creation and removal.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import socket
import time
from collections.abc import Callable, Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.types import LogConfig, Ulimit

from sandbox.engine.hardening import LABEL_MANAGED, ContainerOptions
from sandbox.errors import DockerUnavailable, EngineError, SandboxError

log = logging.getLogger(__name__)
T = TypeVar("T")
Progress = Callable[[str], None]


@contextlib.contextmanager
def map_docker_errors(action: str) -> Iterator[None]:
    """Translate Docker SDK and transport errors into the service's error tree."""
    try:
        yield
    except SandboxError:
        raise
    except docker.errors.ImageNotFound as exc:
        raise EngineError(f"{action}: image not found; run `sandbox images build` ({exc.explanation})") from exc
    except docker.errors.NotFound as exc:
        raise EngineError(f"{action}: {exc.explanation or exc}") from exc
    except docker.errors.APIError as exc:
        raise EngineError(f"{action}: Docker API error: {exc.explanation or exc}") from exc
    except (requests.exceptions.ConnectionError, ConnectionError, FileNotFoundError) as exc:
        raise DockerUnavailable(f"{action}: the Docker engine does not answer ({exc})") from exc
    except requests.exceptions.RequestException as exc:
        raise EngineError(f"{action}: request to the Docker engine failed: {exc}") from exc
    except docker.errors.DockerException as exc:
        if "Error while fetching server API version" in str(exc):
            raise DockerUnavailable(f"{action}: the Docker engine does not answer ({exc})") from exc
        raise EngineError(f"{action}: {exc}") from exc


@dataclass(eq=False)
class Container:
    """A started container with its runner on the other end of a raw, non-blocking attach socket."""

    id: str
    sock: socket.socket
    engine: DockerEngine
    keepalive: Any = field(repr=False)  # the SDK's socket wrapper; closing it closes the socket
    created: float = field(default_factory=time.monotonic)

    async def kill(self) -> None:
        """SIGKILL now (removal follows separately); quiet if it is already gone."""
        with contextlib.suppress(SandboxError):
            await self.engine.call("kill a container", self.engine.api.kill, self.id, "SIGKILL")

    async def oom_killed(self) -> bool:
        """Docker's own ``State.OOMKilled``: the one OOM verdict the program cannot forge."""
        try:
            state = await self.engine.call("inspect a container", self.engine.api.inspect_container, self.id)
        except SandboxError:
            return False
        return bool(state.get("State", {}).get("OOMKilled"))

    def close_socket(self) -> None:
        with contextlib.suppress(OSError):
            self.sock.close()
        with contextlib.suppress(Exception):
            self.keepalive.close()


@dataclass(frozen=True)
class ManagedContainer:
    """A container carrying our labels, as the janitor sees it."""

    id: str
    labels: dict[str, str]


class DockerEngine:
    """Async access to the engine's container API (see the module docstring)."""

    def __init__(self, *, threads: int) -> None:
        self._threads = threads
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="docker")
        self._client: docker.DockerClient | None = None
        self._creations: set[asyncio.Future[Container]] = set()
        self._background: set[asyncio.Task[None]] = set()

    async def connect(self) -> None:
        """Connect and ping; ``DockerUnavailable`` when the engine does not answer. Idempotent."""
        if self._client is not None:
            return

        def connect() -> docker.DockerClient:
            client = docker.from_env(max_pool_size=self._threads, timeout=60)
            client.ping()
            return client

        self._client = await self.call("connect to the Docker engine", connect)

    async def ping(self) -> None:
        await self.call("ping the Docker engine", self.api.ping)

    @property
    def api(self) -> docker.APIClient:
        if self._client is None:
            raise EngineError("the Docker engine is not connected")
        return self._client.api

    async def call(self, action: str, fn: Callable[..., T], *args: Any) -> T:
        """Run one blocking SDK call on the private pool, its errors translated."""

        def guarded() -> T:
            with map_docker_errors(action):
                return fn(*args)

        return await asyncio.get_running_loop().run_in_executor(self._executor, guarded)

    async def create(self, options: ContainerOptions, kind: str) -> Container:
        """Create, attach and start a container; never leaks one, even when cancelled.

        The creation runs in a thread that cancellation cannot stop (a client that
        goes away, a pool closing): if the caller is cancelled, the container that
        thread still produces is removed as soon as it exists.
        """
        future = asyncio.get_running_loop().run_in_executor(
            self._executor, self._create_blocking, options, f"create a {kind} container"
        )
        self._creations.add(future)
        future.add_done_callback(self._creations.discard)
        try:
            return await asyncio.shield(future)
        except asyncio.CancelledError:
            future.add_done_callback(self._remove_orphan)
            raise

    def discard(self, container: Container) -> None:
        """Close our end and remove the container in the background (``aclose`` waits for it)."""
        container.close_socket()
        self.spawn(self.remove(container.id))

    async def remove(self, container_id: str) -> None:
        """SIGKILL and delete; a container already gone or going is not an error."""
        await self.call("remove a container", self._remove_blocking, container_id)

    async def managed(self) -> list[ManagedContainer]:
        """Every container on the engine that carries our managed label."""
        listing = functools.partial(self.api.containers, all=True, filters={"label": f"{LABEL_MANAGED}=1"})
        found = await self.call("list sandbox containers", listing)
        return [ManagedContainer(c["Id"], dict(c.get("Labels") or {})) for c in found]

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run housekeeping in the background; ``aclose`` waits for it, failures are logged."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._reap_task)

    async def aclose(self) -> None:
        """Wait for pending creations (their containers are removed) and removals; disconnect."""
        while self._creations:
            await asyncio.gather(*list(self._creations), return_exceptions=True)
            await asyncio.sleep(0)  # let done-callbacks schedule the removals
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        if self._client is not None:
            self._client.close()
        self._executor.shutdown(wait=True)

    # ------------------------------------------------------------------ private
    def _create_blocking(self, options: ContainerOptions, action: str) -> Container:
        with map_docker_errors(action):
            api = self.api
            host = dict(options.host)
            host["ulimits"] = [Ulimit(**u) for u in host["ulimits"]]
            host["log_config"] = LogConfig(**host["log_config"])
            container_id = api.create_container(**options.create, host_config=api.create_host_config(**host))["Id"]
            try:
                wrapper = api.attach_socket(container_id, params={"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1})
                raw = getattr(wrapper, "_sock", wrapper)
                raw.setblocking(False)
                api.start(container_id)
            except BaseException:
                with contextlib.suppress(Exception):
                    api.remove_container(container_id, force=True)
                raise
            return Container(container_id, raw, self, wrapper)

    def _remove_blocking(self, container_id: str) -> None:
        try:
            self.api.remove_container(container_id, force=True)
        except docker.errors.NotFound:
            pass
        except docker.errors.APIError as exc:
            if "already in progress" not in str(exc):
                raise

    def _remove_orphan(self, future: asyncio.Future[Container]) -> None:
        if not future.cancelled() and future.exception() is None:
            self.discard(future.result())

    def _reap_task(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.warning("background container removal failed: %s", task.exception())


class DockerAdmin:
    """Blocking access for the CLI: image builds and listings, engine facts for `sandbox doctor`."""

    def __init__(self, timeout: float = 600) -> None:
        with map_docker_errors("connect to the Docker engine"):
            self._client = docker.from_env(timeout=timeout)
            self._client.ping()

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> DockerAdmin:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------- facts
    def version(self) -> dict[str, Any]:
        with map_docker_errors("read the engine version"):
            return dict(self._client.version())

    def info(self) -> dict[str, Any]:
        with map_docker_errors("read the engine info"):
            return dict(self._client.info())

    def managed_count(self) -> int:
        """How many containers carry our managed label."""
        with map_docker_errors("list sandbox containers"):
            return len(self._client.api.containers(all=True, filters={"label": f"{LABEL_MANAGED}=1"}))

    # ------------------------------------------------------------------ images
    def image_size(self, tag: str) -> int | None:
        """The image's size in bytes, or None when no image has this tag."""
        with map_docker_errors(f"inspect image {tag}"):
            try:
                return int(self._client.images.get(tag).attrs["Size"])
            except docker.errors.ImageNotFound:
                return None

    def exists(self, tag: str) -> bool:
        return self.image_size(tag) is not None

    def pull_as(self, image: str, tag: str, progress: Progress) -> bool:
        """Pull ``image`` from a registry and tag it ``tag``; False when no registry answers."""
        try:
            pulled = self._client.images.pull(image)
        except docker.errors.APIError as exc:
            progress(f"base: registry unavailable ({str(exc.explanation or exc)[:80]}); using debootstrap")
            return False
        repo, _, version = tag.partition(":")
        with map_docker_errors(f"tag {image} as {tag}"):
            pulled.tag(repo, version)
        return True

    def import_tarball(self, tarball: Path, tag: str) -> None:
        """``docker import`` a root filesystem tarball as ``tag``."""
        repo, _, version = tag.partition(":")
        with map_docker_errors(f"import {tarball.name} as {tag}"):
            self._client.api.import_image_from_file(str(tarball), repository=repo, tag=version)

    def build(self, context: Path, tag: str, base: str, label: str, progress: Progress) -> None:
        """Build ``context``'s Dockerfile with ``BASE=base`` and host networking, reporting its steps."""
        with map_docker_errors(f"build {tag}"):
            stream = self._client.api.build(
                path=str(context),
                tag=tag,
                buildargs={"BASE": base},
                network_mode="host",
                rm=True,
                forcerm=True,
                decode=True,
                labels={"io.sandbox.image": label},
            )
            for event in stream:
                if "error" in event:
                    raise EngineError(f"{label}: image build failed: {event['error'].strip()}")
                line = (event.get("stream") or "").strip()
                if line.startswith("Step "):
                    progress(f"{label}: {line}")

    def tag(self, source: str, repo: str, version: str) -> None:
        with map_docker_errors(f"tag {source} as {repo}:{version}"):
            self._client.images.get(source).tag(repo, version)

    def prune_older(self, current: str, progress: Progress) -> None:
        """Remove earlier content-hash tags of ``current``'s repository (unused ones only)."""
        repo = current.partition(":")[0]
        with map_docker_errors(f"list images of {repo}"):
            images = self._client.images.list(name=repo)
        for image in images:
            for tag in image.tags:
                if tag.startswith(f"{repo}:") and tag not in (current, f"{repo}:latest"):
                    try:
                        self._client.images.remove(tag)
                        progress(f"removed outdated image {tag}")
                    except docker.errors.APIError:
                        pass  # still used by a container; a later build removes it
