"""The one module that imports the Docker SDK: containers for the backend, images and facts for the CLI.

Everything else in the engine speaks to Docker through ``DockerEngine`` (async,
for the request path) or ``DockerAdmin`` (blocking, for `sandbox images` and
`sandbox doctor`, which run it in a thread of their own). SDK errors are
translated here, once, by ``map_docker_errors``; SDK objects never leave.

``DockerEngine`` runs the blocking SDK calls on a private thread pool, so the
event loop never waits on one, and owns the two promises that cancellation and
shutdown must not break: a container whose creator was cancelled is removed as
soon as it exists, and ``aclose`` waits for every pending creation and removal.

Every engine call waits at most ``timeout_s`` (the ``engine_timeout_s``
setting) for its answer. Calls that are safe to repeat (create, attach, start,
remove, list) are retried on transient failures that came fast (no answer, a
502-504; ``RetryPolicy``), never on a timeout: an engine that hangs would only
make the caller wait again, so a hung engine costs a request one timeout, and
the breaker counts it. A creation is named before it is sent, so a try the
engine may have carried out before failing is removed by name before the next
one, and a creation that fails for good leaves nothing behind (or, if the engine
is gone or hung, a name the janitor removes once it answers). Running a program
is never retried. ``held`` is every container this engine created and has not
removed: what the janitor must not touch.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import io
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable, Coroutine, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.types import LogConfig, Ulimit

from sandbox import aftercare
from sandbox.engine.hardening import LABEL_EXPIRES, LABEL_KIND, LABEL_MANAGED, LABEL_OWNER, ContainerOptions
from sandbox.errors import DockerFailing, DockerTimeout, DockerUnavailable, EngineError, SandboxError
from sandbox.observability import metrics
from sandbox.resilience import RetryPolicy

log = logging.getLogger(__name__)
T = TypeVar("T")
Progress = Callable[[str], None]
#: Failures another try may cure: no answer, or a server-side error (the engine restarting, overloaded).
TRANSIENT = (DockerUnavailable, DockerFailing)
#: ...except these: the engine took the whole timeout; another try would take it again.
NOT_RETRIED = (DockerTimeout,)


@contextlib.contextmanager
def map_docker_errors(action: str, *, counted: bool = True) -> Iterator[None]:
    """Translate Docker SDK and transport errors into the service's error tree (and count them, if ``counted``)."""
    try:
        yield
    except SandboxError:
        raise
    except Exception as exc:
        error = translate(action, exc)
        if error is None:
            raise
        if counted:
            metrics.engine_error(ERROR_KINDS.get(type(error), "error"))
        raise error from exc


#: The ``kind`` label of ``sandbox_engine_errors_total`` per translated error.
ERROR_KINDS: dict[type[SandboxError], str] = {
    DockerUnavailable: "unavailable",
    DockerFailing: "failing",
    DockerTimeout: "timeout",
}


def translate(action: str, exc: Exception) -> SandboxError | None:
    """The service's error for an SDK or transport error; None for anything else (a bug: left as is)."""
    if isinstance(exc, docker.errors.ImageNotFound):
        return EngineError(f"{action}: image not found; run `sandbox images build` ({exc.explanation})")
    if isinstance(exc, docker.errors.NotFound):
        return EngineError(f"{action}: {exc.explanation or exc}")
    if isinstance(exc, docker.errors.APIError):
        # 502-504: the engine (or a proxy before it) cannot serve now. A plain 500 is neither retried
        # nor counted by the breaker: a request's own limits can cause one, every time.
        kind = DockerFailing if exc.status_code in (502, 503, 504) else EngineError
        return kind(f"{action}: Docker API error: {exc.explanation or exc}")
    if isinstance(exc, requests.exceptions.ConnectionError | ConnectionError | FileNotFoundError):
        return DockerUnavailable(f"{action}: the Docker engine does not answer ({exc})")
    if isinstance(exc, requests.exceptions.Timeout):
        return DockerTimeout(f"{action}: the Docker engine did not answer in time ({exc})")
    if isinstance(exc, requests.exceptions.RequestException):
        return EngineError(f"{action}: request to the Docker engine failed: {exc}")
    if isinstance(exc, docker.errors.DockerException):
        if "Error while fetching server API version" in str(exc):
            return DockerUnavailable(f"{action}: the Docker engine does not answer ({exc})")
        return EngineError(f"{action}: {exc}")
    return None


@dataclass(eq=False)
class Container:
    """A started container with its runner on the other end of a raw, non-blocking attach socket."""

    id: str
    sock: socket.socket
    engine: DockerEngine
    keepalive: Any = field(repr=False)  # the SDK's socket wrapper; closing it closes the socket
    created: float = field(default_factory=time.monotonic)
    killed: bool = False  # we killed it (a deadline, a cap, a session closed): its end is no one else's doing

    async def kill(self) -> None:
        """SIGKILL now (removal follows separately); quiet if it is already gone."""
        self.killed = True
        with contextlib.suppress(SandboxError):
            await self.engine.call("kill a container", self.engine.api.kill, self.id, "SIGKILL")

    async def set_memory(self, memory_mb: int) -> None:
        """Change the running container's memory limit (no swap): a compiled run's limit after its compile.

        The engine's cgroup v1 update (runc); gVisor's runsc cannot update a running container.
        """
        limit = f"{memory_mb}m"
        update = functools.partial(self.engine.api.update_container, self.id, mem_limit=limit, memswap_limit=limit)
        await self.engine.call("set a container's memory limit", update)

    async def state(self) -> dict[str, Any] | None:
        """Docker's ``State`` of the container, ``None`` if it is gone; ``DockerUnavailable`` or
        ``DockerFailing`` (raised) when the engine does not answer about it."""
        try:
            info = await self.engine.call("inspect a container", self.engine.api.inspect_container, self.id)
        except (DockerUnavailable, DockerFailing):
            raise
        except SandboxError:
            return None
        return dict(info.get("State") or {})

    async def oom_killed(self) -> bool:
        """Docker's own ``State.OOMKilled``: the one OOM verdict the program cannot forge."""
        try:
            state = await self.state()
        except SandboxError:
            return False
        return bool(state and state.get("OOMKilled"))

    async def ended(self, timeout_s: float) -> bool:
        """Whether the runner ends within ``timeout_s``, seen as the end of its attach stream (free: no
        engine call). For after its last frame: whatever else arrives is dropped.

        The runner leaves as soon as its last frame is written, which stops the container; removing a
        stopped container spares the engine a kill (measured: about half the removal's time, and some
        of dockerd's and containerd's CPU), so the removal waits for this first.
        """
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        try:
            while (remaining := deadline - loop.time()) > 0:
                if not await asyncio.wait_for(loop.sock_recv(self.sock, 1 << 16), remaining):
                    return True
        except (TimeoutError, OSError):  # still running, or our end is closed already
            pass
        return False

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
    name: str = ""


class DockerEngine:
    """Async access to the engine's container API (see the module docstring)."""

    def __init__(self, *, threads: int, retry: RetryPolicy | None = None, timeout_s: float = 30.0) -> None:
        self._threads = threads
        self._retry = retry or RetryPolicy()
        self.timeout_s = timeout_s
        self._executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="docker")
        self._client: docker.DockerClient | None = None
        self._creations: set[asyncio.Future[Container]] = set()
        self._background: set[asyncio.Task[None]] = set()
        # Bookkeeping for the janitor, written from the engine's threads (hence the lock):
        self._lock = threading.Lock()
        self._held: set[str] = set()  # ids of containers created and not yet removed
        self._naming: set[str] = set()  # names of creations under way (their ids are not known yet)
        self._removing: set[str] = set()  # ids being removed (unwanted, but the janitor has nothing to do)
        self._connecting = asyncio.Lock()
        self._deferred: set[str] = set()  # removals waiting for an answer to be sent (``discard``)
        self._ending: dict[asyncio.Task[None], Container] = {}  # ... and for a runner to end first

    async def connect(self) -> None:
        """Connect and ping; ``DockerUnavailable`` when the engine does not answer. Idempotent."""
        async with self._connecting:
            if self._client is not None:
                return

            def connect() -> docker.DockerClient:
                client = docker.from_env(max_pool_size=self._threads, timeout=self.timeout_s)
                try:
                    client.ping()
                except BaseException:
                    client.close()
                    raise
                return client

            self._client = await self.call("connect to the Docker engine", connect, counted=False)

    async def ping(self) -> None:
        """One ping, connecting first if the engine did not answer before. Not counted in the engine
        errors: the breaker's watcher pings ten times a second during an outage, which would drown
        the failures of real calls."""
        if self._client is None:
            await self.connect()
            return
        await self.call("ping the Docker engine", self.api.ping, counted=False)

    @property
    def api(self) -> docker.APIClient:
        if self._client is None:
            raise DockerUnavailable("the Docker engine has not answered since this server started")
        return self._client.api

    async def call(self, action: str, fn: Callable[..., T], *args: Any, counted: bool = True) -> T:
        """Run one blocking SDK call on the private pool, its errors translated."""

        def guarded() -> T:
            with map_docker_errors(action, counted=counted):
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

    def discard(self, container: Container, *, after_answer: bool = False, ended_within_s: float = 0.0) -> None:
        """Close our end and remove the container in the background (``aclose`` waits for it).

        ``ended_within_s``: first wait up to that long for its runner to end on its own
        (``Container.ended``; for a run whose last frame has been read: the runner leaves right after
        it), since removing a stopped container spares the engine a kill (measured: about half the
        removal's time, and some of dockerd's and containerd's CPU).
        ``after_answer``: start the removal once the current request's answer is sent
        (``sandbox.aftercare``: a run's container, whose teardown would compete with its answer for
        two cores). ``aclose`` starts the removals still waiting at once.
        """
        if not after_answer and ended_within_s <= 0:
            container.close_socket()
            self.spawn(self.remove(container.id))
            return
        self._deferred.add(container.id)
        if ended_within_s > 0:
            waiting = self.spawn(self._remove_when_ended(container, ended_within_s, after_answer))
            self._ending[waiting] = container
            waiting.add_done_callback(self._ending.pop)
        else:
            container.close_socket()
            aftercare.after_answer(functools.partial(self._remove_deferred, container.id))

    async def _remove_when_ended(self, container: Container, timeout_s: float, after_answer: bool) -> None:
        try:
            await container.ended(timeout_s)
        finally:
            container.close_socket()
            if after_answer:  # this task was started in the request's context: the same window
                aftercare.after_answer(functools.partial(self._remove_deferred, container.id))
            else:
                self._remove_deferred(container.id)

    async def remove(self, container_id: str) -> None:
        """SIGKILL and delete (retried); a container already gone or going is not an error.

        Unwanted from now on: if the removal fails (the engine is down), the janitor's to take.
        """
        self._mark(self._held, container_id, False)
        self._mark(self._removing, container_id, True)
        try:
            await self.call(
                "remove a container", self._retried, "remove a container", self._remove_blocking, container_id
            )
        finally:
            self._mark(self._removing, container_id, False)

    def owns(self, container: ManagedContainer) -> bool:
        """True for a container this engine holds, is creating or is removing right now."""
        with self._lock:
            return container.id in self._held or container.name in self._naming or container.id in self._removing

    async def managed(self, label: str = f"{LABEL_MANAGED}=1") -> list[ManagedContainer]:
        """Every container on the engine that carries ``label`` (default: our managed label)."""
        listing = functools.partial(self.api.containers, all=True, filters={"label": label})
        found = await self.call("list sandbox containers", self._retried, "list sandbox containers", listing)
        return [
            ManagedContainer(c["Id"], dict(c.get("Labels") or {}), (c.get("Names") or ["/"])[0].lstrip("/"))
            for c in found
        ]

    def spawn(self, coro: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        """Run housekeeping in the background; ``aclose`` waits for it, failures are logged."""
        task = asyncio.create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._reap_task)
        return task

    async def aclose(self, sweep: str | None = None) -> None:
        """Wait for pending creations (their containers are removed) and removals; disconnect.

        ``sweep``: a label; every container still carrying it is removed last (what a
        failed removal or a lost creation answer left; best effort when the engine is down).
        All of it takes at most three engine timeouts: past that the engine hangs, and what is
        left waits for the janitor of the next start (this instance is dead by then).
        """
        try:
            async with asyncio.timeout(3 * self.timeout_s):
                await self._settle(sweep)
            finished = True
        except TimeoutError:
            finished = False
            log.warning(
                "the Docker engine did not answer in %g s; leaving %d creation(s) and %d removal(s) to the janitor",
                3 * self.timeout_s,
                len(self._creations),
                len(self._background),
            )
        if self._client is not None:
            self._client.close()
        self._executor.shutdown(wait=finished, cancel_futures=not finished)

    async def _settle(self, sweep: str | None) -> None:
        for container_id in list(self._deferred):
            self._remove_deferred(container_id)
        for waiting, container in list(self._ending.items()):  # their removals have started: stop waiting
            waiting.cancel()  # (perhaps before its first step: its ``finally`` would not run)
            container.close_socket()
        while self._creations:
            await asyncio.gather(*list(self._creations), return_exceptions=True)
            await asyncio.sleep(0)  # let done-callbacks schedule the removals
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)
        if sweep is not None and self._client is not None:
            try:
                left = await self.managed(sweep)
                await asyncio.gather(*(self.remove(c.id) for c in left))
            except SandboxError as exc:
                log.warning("could not remove this process's last containers (the janitor will): %s", exc.message)

    # ------------------------------------------------------------------ private
    def _mark(self, names: set[str], name: str, present: bool) -> None:
        with self._lock:
            changed = (name in names) != present
            if present:
                names.add(name)
            else:
                names.discard(name)
        if changed and names is self._held:
            (metrics.container_created if present else metrics.container_removed)()

    def _retried(
        self, action: str, fn: Callable[..., T], *args: Any, before_retry: Callable[[], None] | None = None
    ) -> T:
        """``fn(*args)`` with its errors translated, tried again on a transient failure."""

        def once() -> T:
            with map_docker_errors(action):
                return fn(*args)

        return self._retry.call(
            action,
            once,
            retry_on=TRANSIENT,
            never=NOT_RETRIED,
            before_retry=before_retry,
            on_retry=lambda action, _: metrics.engine_retry(action.split()[0]),
        )

    def _create_blocking(self, options: ContainerOptions, action: str) -> Container:
        api = self.api
        name = f"sandbox-{uuid.uuid4().hex[:16]}"
        with map_docker_errors(action):
            host = dict(options.host)
            host["ulimits"] = [Ulimit(**u) for u in host["ulimits"]]
            host["log_config"] = LogConfig(**host["log_config"])
            host_config = api.create_host_config(**host)
        create = functools.partial(api.create_container, **options.create, name=name, host_config=host_config)
        self._mark(self._naming, name, True)
        try:
            # A try that failed in transit may have created the container: remove it by name first.
            container_id = self._retried(action, create, before_retry=lambda: self._remove_quietly(name))["Id"]
            self._mark(self._held, container_id, True)
            try:
                params = {"stdin": 1, "stdout": 1, "stderr": 1, "stream": 1}
                wrapper = self._retried(action, api.attach_socket, container_id, params)
                raw = getattr(wrapper, "_sock", wrapper)
                raw.setblocking(False)
                self._retried(action, api.start, container_id)  # starting a started container is a no-op
            except BaseException as exc:
                self._remove_quietly(container_id, exc)
                raise
        except BaseException as exc:
            self._remove_quietly(name, exc)
            raise
        finally:
            self._mark(self._naming, name, False)
        return Container(container_id, raw, self, wrapper)

    def _remove_quietly(self, name_or_id: str, cause: BaseException | None = None) -> None:
        """One try at removing a failed creation; what it cannot remove is left to the janitor.

        Not retried (it runs inside a creation's own retries) and not tried at all after the engine
        timed out (``cause``): the caller has waited a whole timeout already.
        """
        self._mark(self._held, name_or_id, False)
        if isinstance(cause, DockerTimeout):
            log.warning("leaving the failed creation %s to the janitor: %s", name_or_id, cause.message)
            return
        try:
            with map_docker_errors("remove a failed creation"):
                self._remove_blocking(name_or_id)
        except SandboxError as exc:
            log.warning("could not remove the failed creation %s yet (the janitor will): %s", name_or_id, exc)

    def _remove_blocking(self, container_id: str) -> None:
        for tries_left in reversed(range(3)):
            try:
                self.api.remove_container(container_id, force=True)
            except docker.errors.NotFound:
                return
            except docker.errors.APIError as exc:
                if "already in progress" in str(exc):
                    return
                # The engine's own race (20.10): the container stopped while it was being killed
                # ("Could not kill running container ... is not running"); the next try removes it.
                if "is not running" not in str(exc) or not tries_left:
                    raise
                time.sleep(0.05)
            else:
                return

    def _remove_deferred(self, container_id: str) -> None:
        """Start a deferred removal, unless it was started already (by ``aclose``)."""
        if container_id in self._deferred:
            self._deferred.discard(container_id)
            self.spawn(self.remove(container_id))

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

    def remove_owned(self, owners: Iterable[str]) -> list[str]:
        """Force-remove every container (any state) labelled with one of ``owners``; their short ids.

        For whoever stops a set of processes from outside (``scripts/cluster down``): a process
        killed before it cleaned up leaves its containers to a janitor that may no longer run.
        """
        removed: list[str] = []
        for owner in owners:
            with map_docker_errors("list sandbox containers"):
                found = self._client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={owner}"})
            for container in found:
                with contextlib.suppress(docker.errors.NotFound), map_docker_errors("remove a container"):
                    self._client.api.remove_container(container["Id"], force=True)
                removed.append(str(container["Id"])[:12])
        return removed

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

    def image_labels(self, tag: str) -> dict[str, str] | None:
        """The image's labels, or None when no image has this tag."""
        with map_docker_errors(f"inspect image {tag}"):
            try:
                return dict(self._client.images.get(tag).labels or {})
            except docker.errors.ImageNotFound:
                return None

    def probe(self, tag: str, command: list[str], timeout_s: float = 60) -> str:
        """Run ``command`` in a throw-away container of ``tag`` and return its output (stdout, then stderr).

        The container is set up like a sandbox's (no network, read-only root, nobody, tmpfs
        workdir and /tmp), so the answer is what a program would see, and labelled like ours
        (with a short expiry) so the janitor removes it should this process die before it does.
        """
        labels = {
            LABEL_MANAGED: "1",
            LABEL_OWNER: "image-build",
            LABEL_KIND: "probe",
            LABEL_EXPIRES: str(int(time.time() + timeout_s + 60)),
        }
        with map_docker_errors(f"probe image {tag}"):
            container = self._client.containers.create(
                tag,
                command,
                user="65534:65534",
                working_dir="/workspace",
                environment={"HOME": "/workspace", "LANG": "C.UTF-8"},
                network_mode="none",
                network_disabled=True,
                read_only=True,
                tmpfs={"/workspace": "rw,exec,uid=65534,gid=65534", "/tmp": "rw,exec,mode=1777"},
                labels=labels,
            )
            try:
                container.start()
                status = container.wait(timeout=timeout_s)
                out = container.logs(stdout=True, stderr=False) + container.logs(stdout=False, stderr=True)
            finally:
                container.remove(force=True)
        text: str = out.decode(errors="replace").strip()
        if status.get("StatusCode", 1) != 0:
            raise EngineError(f"{tag}: {' '.join(command)} exited {status.get('StatusCode')}: {text[-300:]}")
        return text

    def relabel(self, tag: str, labels: dict[str, str]) -> None:
        """Give the image ``tag`` these labels: a ``FROM tag`` build that adds no layer, tagged ``tag``."""
        with map_docker_errors(f"label image {tag}"):
            stream = self._client.api.build(
                fileobj=io.BytesIO(f"FROM {tag}\n".encode()), tag=tag, labels=labels, rm=True, decode=True
            )
            for event in stream:
                if "error" in event:
                    raise EngineError(f"label {tag}: {event['error'].strip()}")

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


def remove_owned_containers(owners: Iterable[str]) -> list[str]:
    """Force-remove every container labelled with one of ``owners`` (``DockerAdmin.remove_owned``)."""
    with DockerAdmin(timeout=30) as admin:
        return admin.remove_owned(owners)
