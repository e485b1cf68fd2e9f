"""Real `sandbox serve` processes for the end-to-end resilience tests.

``ServeProcesses`` starts `python -m sandbox.cli serve` as a subprocess (its own
process group, output in a log file under the test's tmp dir) with ``SANDBOX_*``
settings, waits for ``/readyz``, and at teardown SIGKILLs whatever it started that
is still alive. Keys are created in the server's database beforehand. The runtime
under test (``SANDBOX_RUNTIME``, ``tests.conftest.TEST_RUNTIME``) goes to every
server, so ``SANDBOX_RUNTIME=runsc`` runs the end-to-end tests under gVisor too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import docker
import httpx

from sandbox.engine.hardening import LABEL_OWNER
from sandbox.store import Store
from tests.conftest import TEST_RUNTIME
from tests.live_uvicorn import free_port

ROOT = Path(__file__).resolve().parents[2]


def database(state_dir: Path) -> str:
    return f"sqlite:///{state_dir / 'sandbox.db'}"


def create_key(
    state_dir: Path, name: str, concurrency: int = 64, rate: int = 100_000, *, ops: bool = False
) -> tuple[str, str]:
    """A key in the database under ``state_dir`` (created if need be): (its id, the plaintext)."""
    state_dir.mkdir(parents=True, exist_ok=True)
    store = Store(database(state_dir))
    try:
        info, plaintext = store.create_key(name, "standard", concurrency, rate, ops=ops)
    finally:
        store.close()
    return info.id, plaintext


def owned(client: docker.DockerClient, owner: str) -> list[dict]:
    """Every container (any state) labelled with ``owner``."""
    return list(client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={owner}"}))


@dataclass
class Server:
    """One `sandbox serve` process."""

    process: subprocess.Popen[bytes]
    port: int
    state_dir: Path
    owner: str
    log: Path
    started: float = field(default_factory=time.monotonic)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, key: str | None = None, timeout: float = 30) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout: float = 60) -> dict:
        """Poll /readyz until it answers 200 (engine reachable, pools warm); its body."""
        deadline = time.monotonic() + timeout
        last = "no answer"
        with httpx.Client(base_url=self.url, timeout=2) as client:
            while time.monotonic() < deadline:
                assert self.process.poll() is None, f"serve exited ({self.process.returncode}):\n{self.tail()}"
                try:
                    response = client.get("/readyz")
                except httpx.TransportError as exc:
                    last = repr(exc)
                else:
                    if response.status_code == 200:
                        return dict(response.json())
                    last = response.text
                time.sleep(0.1)
        raise AssertionError(f"serve was not ready within {timeout} s (last: {last}):\n{self.tail()}")

    def signal(self, sig: int) -> None:
        self.process.send_signal(sig)

    def wait(self, timeout: float) -> int:
        """Its exit code (negative: the signal that ended it); fails if it is still running after ``timeout``."""
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"serve did not exit within {timeout} s:\n{self.tail()}") from None

    def kill(self) -> None:
        """SIGKILL its whole process group (it and its validation workers), quietly."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=10)

    def tail(self, lines: int = 40) -> str:
        return "\n".join(self.output().splitlines()[-lines:])


class ServeProcesses:
    """Starts `sandbox serve` processes; ``close`` kills the ones still running."""

    def __init__(self, tmp_path: Path) -> None:
        self._tmp = tmp_path
        self._servers: list[Server] = []

    def start(self, state_dir: Path, owner: str, *, env: dict[str, str] | None = None, **settings: object) -> Server:
        """`sandbox serve` on a free port with ``SANDBOX_<NAME>=value`` for each setting (and ``env``)."""
        port = free_port()
        variables = env or {}
        env = {k: v for k, v in os.environ.items() if not k.startswith("SANDBOX_")}
        if TEST_RUNTIME:
            env["SANDBOX_RUNTIME"] = TEST_RUNTIME  # a test's own env or settings may still override it
        env.update(variables)
        env.update(
            SANDBOX_STATE_DIR=str(state_dir),
            SANDBOX_OWNER=owner,
            SANDBOX_LOG_FORMAT="text",
            PYTHONUNBUFFERED="1",
        )
        env.update({f"SANDBOX_{name.upper()}": str(value) for name, value in settings.items()})
        log = self._tmp / f"serve-{len(self._servers)}-{port}.log"
        command = [sys.executable, "-m", "sandbox.cli", "serve", "--port", str(port)]
        with log.open("wb") as out:
            process = subprocess.Popen(
                command,
                cwd=ROOT,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: teardown kills it and its workers by group id
            )
        server = Server(process, port, state_dir, owner, log)
        self._servers.append(server)
        return server

    def close(self) -> None:
        for server in self._servers:
            if server.process.poll() is None:
                server.kill()
            else:  # validation workers of a server that died first
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(server.process.pid, signal.SIGKILL)


@contextlib.contextmanager
def graceful_server(
    docker_client: docker.DockerClient, tmp_path: Path, state_dir: Path, owner: str, **settings: object
) -> Iterator[Server]:
    """A ready `sandbox serve` for a module's tests, stopped with SIGTERM at the end (a graceful stop
    removes its pools' and sessions' containers); then no container of ``owner`` may be left."""
    processes = ServeProcesses(tmp_path)
    try:
        server = processes.start(state_dir, owner, **settings)
        server.wait_ready(timeout=90)
        yield server
        server.signal(signal.SIGTERM)
        server.wait(timeout=60)
    finally:
        processes.close()
    left = owned(docker_client, owner)
    for container in left:
        with contextlib.suppress(docker.errors.APIError):
            docker_client.api.remove_container(container["Id"], force=True)
    assert not left, f"the server left containers behind: {[c['Id'][:12] for c in left]}"
