"""Attack corpus of SECURITY-BAR.md section 3, run with validation off ("V-off", see ``V_OFF``).

One hostile program per file under ``programs/``, named by its row id. Each file
starts with a header of ``# key: value`` comment lines saying what it attacks and
what must happen. ``sandbox.selftest.cases`` parses the headers and
``sandbox.selftest.judge`` decides whether a result held, the same code ``sandbox
selftest`` runs; this module sends every program through the real service on the
real Docker engine and adds the checks that need the host in the loop (canaries, hooks).

Header keys (unknown keys fail collection, so a typo cannot switch a check off):

``row``                        row id of the bar; must match the file name prefix
``attack``                     what is attacked and how (free text; ``#   `` lines continue it)
``expect-status``              allowed statuses, separated by ``|``
``expect-stdout-contains``     repeatable; each must occur in stdout
``expect-stdout-not-contains`` repeatable; none may occur in stdout
``expect-stdout-regex``        repeatable; each must match somewhere in stdout (re.M)
``expect-signal``              the signal number the program died of
``expect-wall-ms-min``         lower bound on the reported wall time
``expect-wall-ms-max``         upper bound on the reported wall time
``expect-stdout-bytes``        exact stdout length in bytes
``expect-truncated``           ``stdout`` or ``stderr``: that stream and only it is truncated
``limits``                     ``name=value`` request limits (``wall_time_s=5 memory_mb=128``)
``canary``                     ``overlap``: a benign ``print('ok')`` run is started while the attack
                               runs and must be ok within the SLA *before* the attack ends (the
                               program holds its pressure long enough); ``concurrent``: same, but the
                               attack may end first (attacks that are killed within milliseconds)
``hook``                       a row that needs the host in the loop, see ``HOOKS``
``xfail``                      a known gap: the row is strict xfail with this reason

Programs print one verdict line per attempted action, ``<action>: DENIED errno=E...``
when the kernel refused it and ``<action>: ALLOWED ...`` when it went through, so the
headers assert *why* an attack failed, not merely that something failed.

After every row the ``service_factory`` fixture fails the test if any container
with the test's owner label is left.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import docker
import pytest

from sandbox.config import Settings
from sandbox.engine.hardening import LABEL_MANAGED, LABEL_OWNER, is_gvisor
from sandbox.errors import SandboxError
from sandbox.models import ExecutionRequest, ExecutionResult, Limits, Status
from sandbox.selftest import cases, judge
from sandbox.selftest.cases import Program
from sandbox.service import ExecutionService, error_result
from tests.conftest import TEST_RUNTIME
from tests.docker_fixtures import SESSION_OWNER

pytestmark = pytest.mark.anyio

# V-off: no validation may stop a program before the container: the "permissive" tier (enforce: false;
# findings are reported, nothing is denied) is that switch, as in run_code.
V_OFF: dict[str, str] = {"policy": cases.PERMISSIVE}
CANARY_CODE = "print('ok')"
CANARY_DELAY_S = 1.0  # the attack's container is up and the attack under way
CANARY_SLA_S = 5.0  # submission to result, container creation included
MARKER_TIMEOUT_S = 15.0
GONE_TIMEOUT_S = 5.0
# The floor of rows this suite must cover: removing a program must fail a test, not silently shrink the suite.
# fmt: off
REQUIRED_ROWS = (
    "R01", "R02", "R03", "R04", "R05", "R06", "R07", "R08", "R09", "R10", "R11", "R12", "R13", "R15",
    "T01", "T02", "T03", "T04", "T07", "T08",
    "F01", "F02", "F03", "F04", "F05", "F08", "F10", "F12", "F14",
    "N01", "N02", "N03", "N04", "N05", "N06", "N07", "N08", "N09",
    "P01", "P02", "P03", "P04", "P05", "P06", "P07", "P08", "P09", "P10", "P11", "P12",
    "E03", "E04", "E05", "E07",
)
# fmt: on


# ------------------------------------------------------------------ running
class Watch:
    """An ``on_output`` callback that records stdout and lets a test wait for a marker."""

    def __init__(self) -> None:
        self.stdout = bytearray()
        self._changed = asyncio.Event()

    def __call__(self, stream: str, chunk: bytes) -> None:
        if stream == "stdout":
            self.stdout += chunk
            self._changed.set()

    async def seen(self, marker: str, done: asyncio.Task[Any]) -> None:
        """Return once ``marker`` is in stdout; fail if the run ends or stalls first."""
        deadline = time.monotonic() + MARKER_TIMEOUT_S
        while marker.encode() not in self.stdout:
            if done.done():
                result = done.result()
                pytest.fail(f"run ended before printing {marker!r}: {describe(result)}")
            self._changed.clear()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"no {marker!r} on stdout within {MARKER_TIMEOUT_S:g} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.2))


async def execute(
    service: ExecutionService,
    code: str,
    limits: dict[str, float | int],
    stdin: str = "",
    on_output: Callable[[str, bytes], None] | None = None,
) -> ExecutionResult:
    """Run through the real service; a refusal or engine failure becomes a result to assert on."""
    request = ExecutionRequest(code=code, stdin=stdin, limits=Limits(**limits), **V_OFF)
    try:
        return await service.execute(request, on_output=on_output)
    except SandboxError as exc:
        result = error_result(exc)
        result.message = f"{type(exc).__name__}: {exc.message}"
        return result


def describe(result: ExecutionResult) -> str:
    return judge.describe(result)


def check(program: Program, result: ExecutionResult) -> None:
    """The header's expectations on one result (``sandbox.selftest.judge``: the one definition of "held")."""
    misses = judge.contained(program, result)
    assert not misses, "\n".join(misses) + "\n" + describe(result)


async def run_plain(program: Program, service: ExecutionService, **_: Any) -> ExecutionResult:
    if program.canary is None:
        return await execute(service, program.code, program.limits)
    attack = asyncio.create_task(execute(service, program.code, program.limits))
    try:
        await asyncio.sleep(CANARY_DELAY_S)
        started = time.monotonic()
        canary = await asyncio.wait_for(execute(service, CANARY_CODE, {"wall_time_s": CANARY_SLA_S}), CANARY_SLA_S * 3)
        elapsed = time.monotonic() - started
        attack_still_running = not attack.done()
    finally:
        result = await attack
    assert canary.status is Status.OK and canary.stdout == "ok\n", f"canary failed: {describe(canary)}"
    assert elapsed < CANARY_SLA_S, f"canary took {elapsed:.2f} s next to the attack (SLA {CANARY_SLA_S:g} s)"
    if program.canary == "overlap":
        assert attack_still_running, (
            f"the attack ended before the canary finished, so the canary proved nothing: {describe(result)}"
        )
    return result


# -------------------------------------------------------------------- hooks
def host_processes_with(token: str) -> list[int]:
    """PIDs on the host (this machine shares the engine's PID namespace) whose argv contains ``token``."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if token.encode() in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
    return found


def running_sandbox_containers() -> list[str]:
    """IDs of this test session's running sandbox containers."""
    client = docker.from_env()
    try:
        listed = client.api.containers(filters={"label": f"{LABEL_MANAGED}=1", "status": "running"})
        return [c["Id"] for c in listed if c["Labels"].get(LABEL_OWNER, "").startswith(SESSION_OWNER)]
    finally:
        client.close()


async def hook_host_process(program: Program, service: ExecutionService, **_: Any) -> ExecutionResult:
    """T03/T04: the program starts a detached daemon whose argv carries a token from stdin.

    While the run is on, the daemon must be visible from the host (so the check is
    not vacuous); within a few seconds after the run, no host process may carry it.
    Under gVisor the program's processes live inside the Sentry and are no host
    processes: the host sees the container's sandbox (``runsc-sandbox``, the gofer and
    the shim carry its ID), which must be running while the daemon is up (the program
    found it in its own /proc) and gone with the container after the run.
    """
    if is_gvisor(TEST_RUNTIME):
        return await _sandbox_gone_after(program, service)
    token = f"{secrets.randbelow(10**9) + 10**9}"
    watch = Watch()
    run = asyncio.create_task(execute(service, program.code, program.limits, stdin=token, on_output=watch))
    try:
        await watch.seen("DAEMON-UP", run)
        alive = host_processes_with(f"999.{token}")
    finally:
        result = await run
    assert alive, f"the daemon was never visible on the host: {describe(result)}"
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while (left := host_processes_with(f"999.{token}")) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not left, f"daemon processes {left} survived the run"
    return result


async def _sandbox_gone_after(program: Program, service: ExecutionService) -> ExecutionResult:
    token = f"{secrets.randbelow(10**9) + 10**9}"
    watch = Watch()
    run = asyncio.create_task(execute(service, program.code, program.limits, stdin=token, on_output=watch))
    try:
        await watch.seen("DAEMON-UP", run)
        containers = await asyncio.to_thread(running_sandbox_containers)
        alive = {cid: host_processes_with(cid) for cid in containers}
    finally:
        result = await run
    assert len(alive) == 1 and all(alive.values()), f"no single running sandbox on the host: {alive}"
    [(container, _)] = alive.items()
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while (left := host_processes_with(container)) and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    assert not left, f"the sandbox of {container[:12]} survived the run: host processes {left}"
    assert container not in await asyncio.to_thread(running_sandbox_containers), "the container is still running"
    return result


async def hook_host_port(program: Program, service: ExecutionService, **_: Any) -> ExecutionResult:
    """N09: the program listens on a port that is free on the host; the host must not reach it."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    watch = Watch()
    run = asyncio.create_task(execute(service, program.code, program.limits, stdin=str(port), on_output=watch))
    try:
        await watch.seen("LISTENING", run)
        outcomes = {}
        for host in ("127.0.0.1", "::1"):
            try:
                with socket.create_connection((host, port), timeout=1):
                    outcomes[host] = "connected"
            except OSError as exc:
                outcomes[host] = type(exc).__name__
    finally:
        result = await run
    assert "connected" not in outcomes.values(), f"the host reached the sandbox's listening port {port}: {outcomes}"
    return result


VICTIM_CODE = """\
import os, sys, time
token = sys.stdin.read().strip()
paths = [f"{d}/victim-{token}" for d in ("/tmp", "/workspace", "/dev/shm")]
for path in paths:
    with open(path, "w") as f:
        f.write(token)
os.environ["VICTIM_TOKEN"] = token
print("VICTIM-READY", flush=True)
time.sleep(4)
intact = all(open(path).read() == token for path in paths)
print("VICTIM-INTACT" if intact else "VICTIM-TAMPERED")
"""


async def hook_victim(program: Program, service: ExecutionService, **_: Any) -> ExecutionResult:
    """F12: a victim run holds files with a token; the attack, told the token, hunts for them."""
    token = secrets.token_hex(8)
    watch = Watch()
    victim = asyncio.create_task(execute(service, VICTIM_CODE, {"wall_time_s": 10}, stdin=token, on_output=watch))
    try:
        await watch.seen("VICTIM-READY", victim)
        result = await execute(service, program.code, program.limits, stdin=token)
        victim_still_running = not victim.done()
    finally:
        victim_result = await victim
    assert victim_still_running, f"the victim ended before the attack did: {describe(victim_result)}"
    assert victim_result.status is Status.OK, describe(victim_result)
    assert "VICTIM-INTACT" in victim_result.stdout, describe(victim_result)
    return result


async def hook_twice(
    program: Program, service: ExecutionService, service_factory: Callable[..., ExecutionService], tmp_path: Path
) -> ExecutionResult:
    """T08: two runs, both from a warm pool (the path where reuse would be a bug), must not share state."""
    settings = Settings(state_dir=tmp_path / "warm", pool_size=1, kill_grace_s=1.0)
    async with service_factory(settings, warm=True) as warm:
        pool = warm.backend.pool(warm.planner.default_profile("python"))
        results = []
        for _ in range(2):
            assert await pool.wait_ready(timeout=30), "the warm pool never filled"
            results.append(await execute(warm, program.code, program.limits))
        assert pool.stats.hits == 2, f"runs did not come from the warm pool: {pool.stats}"
    first, second = results
    check(program, first)
    assert "WROTE" in first.stdout, describe(first)
    return second


HOOKS: dict[str, Callable[..., Awaitable[ExecutionResult]]] = {
    "host-process": hook_host_process,
    "host-port": hook_host_port,
    "victim": hook_victim,
    "twice": hook_twice,
}


# --------------------------------------------------------------------- test
def corpus() -> list[Any]:
    params = []
    for program in cases.programs():
        marks = [pytest.mark.xfail(strict=True, reason=program.xfail)] if program.xfail else []
        params.append(pytest.param(program, id=program.path.stem, marks=marks))
    return params


@pytest.mark.parametrize("program", corpus())
async def test_attack_is_contained(
    program: Program,
    service: ExecutionService,
    service_factory: Callable[..., ExecutionService],
    tmp_path: Path,
) -> None:
    runner = HOOKS[program.hook] if program.hook else run_plain
    result = await runner(program, service=service, service_factory=service_factory, tmp_path=tmp_path)
    check(program, result)


def test_corpus_covers_the_required_rows() -> None:
    """Every row of ``REQUIRED_ROWS`` has at least one program."""
    present = {p.values[0].row for p in corpus()}
    assert not set(REQUIRED_ROWS) - present, f"rows without a program: {sorted(set(REQUIRED_ROWS) - present)}"


def test_every_hook_of_the_headers_is_run_here() -> None:
    """The header parser knows the hooks this module runs, and no others."""
    assert set(HOOKS) == cases.HOOKS
