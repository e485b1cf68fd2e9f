"""Engine behaviour against the real Docker engine: pool, isolation, concurrency, cleanup."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox.engine.hardening import LABEL_OWNER, container_options
from sandbox.models import ExecutionRequest, Limits, Status
from tests.docker_fixtures import SESSION_OWNER

pytestmark = pytest.mark.anyio
ROOT = Path(__file__).resolve().parents[2]


async def test_warm_pool_serves_runs_without_creating_on_the_request_path(settings, service_factory) -> None:
    svc = service_factory(settings.model_copy(update={"pool_size": 2}), warm=True)
    async with svc:
        pool = svc.backend.pool(svc.planner.default_profile("python"))
        assert await pool.wait_ready(timeout=60)
        started = time.monotonic()
        result = await svc.execute(ExecutionRequest(code="print('warm')"))
        warm_s = time.monotonic() - started
        assert result.status is Status.OK and result.stdout == "warm\n"
        assert pool.stats.hits == 1 and pool.stats.misses == 0
        # The pool refills in the background back to its size.
        assert await pool.wait_ready(timeout=60)
        # A run with a non-default container profile goes cold and still works.
        cold = await svc.execute(ExecutionRequest(code="print('cold')", limits=Limits(memory_mb=128)))
        assert cold.status is Status.OK and pool.stats.hits == 1
    assert warm_s < 1.0, f"warm run took {warm_s:.3f} s"


async def test_each_run_gets_a_fresh_container(run_code) -> None:
    first = await run_code(
        "import os\nopen('/tmp/state','w').write('x')\nopen('mine','w').write('y')\nprint(os.uname().nodename)"
    )
    second = await run_code("import os\nprint(os.path.exists('/tmp/state'), os.path.exists('mine'), os.listdir('.'))")
    assert first.status is Status.OK
    assert second.stdout == "False False ['main.py']\n"


async def test_sixteen_concurrent_runs_all_succeed(settings, service_factory) -> None:
    svc = service_factory(settings.model_copy(update={"pool_size": 4, "max_concurrency": 16}), warm=True)
    async with svc:
        requests = [ExecutionRequest(code=f"import time; time.sleep(0.2); print({i})") for i in range(16)]
        results = await asyncio.gather(*(svc.execute(r) for r in requests))
    assert [r.status for r in results] == [Status.OK] * 16
    assert [r.stdout for r in results] == [f"{i}\n" for i in range(16)]


async def test_output_streams_while_the_program_runs(service) -> None:
    seen: list[tuple[float, str, bytes]] = []
    started = time.monotonic()
    code = "import time, sys\nprint('one', flush=True)\ntime.sleep(1)\nprint('two', file=sys.stderr, flush=True)"
    result = await service.execute(
        ExecutionRequest(code=code),
        on_output=lambda kind, chunk: seen.append((time.monotonic() - started, kind, chunk)),
    )
    assert result.status is Status.OK
    assert [(k, c) for _, k, c in seen] == [("stdout", b"one\n"), ("stderr", b"two\n")]
    assert seen[1][0] - seen[0][0] > 0.8, "stdout chunk arrived only at the end"


async def test_host_memory_stays_flat_under_an_output_flood(run_code) -> None:
    import resource

    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = await run_code(
        "import sys\nwhile True: sys.stdout.write('A' * 65536)", stdout_bytes=2 << 20, wall_time_s=5
    )
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    assert result.status is Status.OUTPUT_LIMIT_EXCEEDED and len(result.stdout) == 2 << 20
    assert (after - before) * 1024 < 64 << 20


def leak(backend, profile, settings, *, lifetime_s: float, instance: str) -> str:
    """A labelled container nobody holds (created behind the engine's back), not started."""
    options = container_options(
        profile, settings, owner=backend.owner, kind="leak", lifetime_s=lifetime_s, instance=instance
    )
    api = backend.engine.api
    host = api.create_host_config(**{k: v for k, v in options.host.items() if k not in ("ulimits", "log_config")})
    return api.create_container(**options.create, host_config=host)["Id"]


async def test_janitor_removes_expired_dead_and_orphaned_containers(settings, service_factory, docker_client) -> None:
    from dataclasses import replace

    svc = service_factory(settings)
    async with svc:
        backend = svc.backend
        profile = svc.planner.default_profile("python")
        me = backend.instance
        dead = replace(me, id="deadbeef0000", pid=me.pid, started="1")  # that pid, another start time: gone
        elsewhere = replace(me, id="faraway00000", host="another-host")  # cannot be checked from here
        expired = leak(backend, profile, settings, lifetime_s=-1, instance=elsewhere.label)
        of_dead = leak(backend, profile, settings, lifetime_s=600, instance=dead.label)
        orphan = leak(backend, profile, settings, lifetime_s=600, instance=me.label)
        foreign = leak(backend, profile, settings, lifetime_s=600, instance=elsewhere.label)
        async with backend.acquire(svc.planner.plan(ExecutionRequest(code="1"), svc.policies.get("permissive"))):
            removed = await backend.janitor.sweep()  # a container this instance holds is left alone
            held = docker_client.api.containers(
                filters={"label": f"{LABEL_OWNER}={backend.owner}", "status": "running"}
            )
            assert len(held) == 1
        assert removed == {"expired": 1, "dead": 1, "orphaned": 1}
        gone = lambda cid: not docker_client.api.containers(all=True, filters={"id": cid})  # noqa: E731
        assert gone(expired) and gone(of_dead) and gone(orphan)
        assert not gone(foreign)
        docker_client.api.remove_container(foreign, force=True)


def test_cli_run_leaves_no_container(docker_client, tmp_path) -> None:
    program = tmp_path / "p.py"
    program.write_text("import sys; print('cli'); sys.exit(4)")
    owner = f"{SESSION_OWNER}-cli"
    done = subprocess.run(
        [sys.executable, "-m", "sandbox.cli", "run", str(program), "--json"],
        env={**os.environ, "SANDBOX_OWNER": owner},
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        check=False,
    )
    assert done.returncode == 4, done.stderr
    assert '"stdout": "cli\\n"' in done.stdout
    assert not docker_client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={owner}"})


async def test_cancelling_during_a_cold_creation_leaks_nothing(settings, service_factory, docker_client) -> None:
    import threading

    svc = service_factory(settings)
    async with svc:
        backend = svc.backend
        creating = threading.Event()
        original = backend.engine._create_blocking

        def slow_create(*args):
            creating.set()
            time.sleep(0.3)  # still creating when the caller goes away
            return original(*args)

        backend.engine._create_blocking = slow_create
        task = asyncio.create_task(svc.execute(ExecutionRequest(code="print(1)", policy="permissive")))
        while not creating.is_set():
            await asyncio.sleep(0.01)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        owner = backend.owner
    deadline = time.monotonic() + 10
    while docker_client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={owner}"}):
        assert time.monotonic() < deadline, "the container created for a cancelled run was left behind"
        await asyncio.sleep(0.1)


async def test_cancelling_a_running_execution_kills_its_container(settings, service_factory, docker_client) -> None:
    svc = service_factory(settings)
    async with svc:
        seen = asyncio.Event()
        request = ExecutionRequest(code="print('up', flush=True)\nimport time\ntime.sleep(30)", policy="permissive")
        task = asyncio.create_task(svc.execute(request, on_output=lambda kind, chunk: seen.set()))
        await asyncio.wait_for(seen.wait(), 30)
        owner = svc.backend.owner
        assert docker_client.api.containers(filters={"label": f"{LABEL_OWNER}={owner}"})
        started = time.monotonic()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        while docker_client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={owner}"}):
            assert time.monotonic() - started < 10
            await asyncio.sleep(0.05)


async def test_validation_workers_on_the_execution_path(settings, docker_client) -> None:
    """What `sandbox serve` composes: validation in worker processes, then the container."""
    from sandbox.engine import DockerBackend, ImageCatalog
    from sandbox.errors import ValidationRejected
    from sandbox.service import ExecutionService
    from sandbox.validation import PolicySet, ValidationWorkers

    owner = f"{SESSION_OWNER}-workers"
    workers = ValidationWorkers(settings.policies_dir, settings.default_policy, size=1, timeout_s=5)
    policies = PolicySet(settings.policies_dir, settings.default_policy)
    backend = DockerBackend(settings, owner=owner)
    async with ExecutionService(
        settings, backend, ImageCatalog(settings.images_dir, settings.image_prefix), policies, workers=workers
    ) as svc:
        ok = await svc.execute(ExecutionRequest(code="print(6 * 7)"))
        assert ok.status is Status.OK and ok.stdout == "42\n"
        with pytest.raises(ValidationRejected) as caught:
            await svc.execute(ExecutionRequest(code="import subprocess"))
        assert caught.value.findings[0].rule_id == "import.denied"
    assert not docker_client.api.containers(all=True, filters={"label": f"{LABEL_OWNER}={owner}"})
