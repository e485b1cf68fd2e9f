"""A few statuses under gVisor, when runsc is registered with the engine (skipped otherwise).

The whole security corpus and the status tests run under gVisor with
``SANDBOX_RUNTIME=runsc ./scripts/test tests/security tests/integration/test_statuses.py``
(about 9 minutes here); this module keeps the cheap core of it in every run of the suite.
"""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import docker
import pytest

from sandbox.config import Settings
from sandbox.models import ExecutionRequest, ExecutionResult, Limits, Status
from sandbox.service import ExecutionService

pytestmark = pytest.mark.anyio


@pytest.fixture
async def gvisor(
    docker_client: docker.DockerClient, service_factory: Callable[..., ExecutionService], tmp_path: Path
) -> AsyncIterator[Callable[..., object]]:
    if "runsc" not in docker_client.info().get("Runtimes", {}):
        pytest.skip("runsc is not registered with the engine (SANDBOX_RUNTIME=runsc ./scripts/install)")
    settings = Settings(state_dir=tmp_path / "state", pool_size=0, kill_grace_s=1.0, runtime="runsc")
    async with service_factory(settings) as service:

        async def run(code: str, **limits: float) -> ExecutionResult:
            request = ExecutionRequest(code=code, policy="permissive", limits=Limits(**limits))
            return await service.execute(request)

        yield run


async def test_a_program_runs_on_gvisors_kernel(gvisor) -> None:
    result = await gvisor("import os; print(os.uname().release, open('/proc/meminfo').readline().split()[1])")
    assert result.status is Status.OK, result
    release, memtotal_kb = result.stdout.split()
    assert release == "4.4.0"  # the Sentry, not the host's kernel
    assert int(memtotal_kb) == 256 << 10  # the memory limit, as gVisor shows it


async def test_fork_bomb_stops_at_the_process_limit(gvisor) -> None:
    code = (
        "import os, errno\n"
        "n = 0\n"
        "try:\n"
        "    while True:\n"
        "        if os.fork() == 0:\n"
        "            import time; time.sleep(5); os._exit(0)\n"
        "        n += 1\n"
        "except OSError as exc:\n"
        "    print(errno.errorcode[exc.errno], n)\n"
    )
    result = await gvisor(code, processes=16, wall_time_s=10)
    assert result.status is Status.OK, result
    error, forked = result.stdout.split()
    assert error == "EAGAIN" and int(forked) < 16


async def test_memory_bomb_is_memory_exceeded(gvisor) -> None:
    result = await gvisor("b = []\nwhile True:\n    b.append(bytearray(16 << 20))\n", memory_mb=128)
    assert result.status is Status.MEMORY_EXCEEDED, result
    assert result.signal == signal.SIGKILL


async def test_timeout_and_runtime_error(gvisor) -> None:
    assert (await gvisor("while True: pass", wall_time_s=1)).status is Status.TIMEOUT
    failed = await gvisor("raise SystemExit(3)")
    assert failed.status is Status.RUNTIME_ERROR and failed.exit_code == 3
