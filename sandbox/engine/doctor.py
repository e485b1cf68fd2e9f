"""Host checks for ``sandbox doctor``: is this machine able to run sandboxes safely?"""

from __future__ import annotations

import asyncio
import json
import platform
import shutil
import subprocess
from dataclasses import dataclass
from typing import Any

from sandbox.config import Settings
from sandbox.engine.containers import DockerBackend
from sandbox.engine.docker import DockerAdmin
from sandbox.engine.images import ImageCatalog
from sandbox.engine.sizing import language_bounds
from sandbox.engine.spec import RunFile, RunSpec
from sandbox.errors import SandboxError
from sandbox.limits import resolve_limits
from sandbox.models import EffectiveLimits, Limits, Status

# Runs inside a sandbox and reports the limits the kernel actually applies to it. gVisor shows no
# cgroup files; its /proc/meminfo's MemTotal is the container's memory limit.
PROBE = """
import json, os, resource
def read(*paths):
    for p in paths:
        try:
            return open(p).read().split()[0]
        except OSError:
            pass
print(json.dumps({
    "memory": read("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"),
    "swap": read("/sys/fs/cgroup/memory.swap.max", "/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes"),
    "pids": read("/sys/fs/cgroup/pids.max", "/sys/fs/cgroup/pids/pids.max"),
    "uid": os.getuid(),
    "nofile": resource.getrlimit(resource.RLIMIT_NOFILE)[0],
    "kernel": os.uname().release,
    "memtotal_kb": open("/proc/meminfo").readline().split()[1],
}))
"""


@dataclass(frozen=True)
class Check:
    """One check's verdict, with the fix when it fails."""

    name: str
    ok: bool
    detail: str
    fix: str = ""


def run_checks(settings: Settings) -> list[Check]:
    """Every check, in order; stops early only when the engine does not answer."""
    try:
        admin = DockerAdmin(timeout=10)
        version = admin.version()
        info = admin.info()
    except SandboxError as exc:
        return [
            Check(
                "engine",
                False,
                exc.message,
                "run scripts/ensure-docker.sh as root (installs Debian's docker.io and starts dockerd)",
            )
        ]
    with admin:
        return _engine_checks(settings, admin, version, info)


def _engine_checks(
    settings: Settings, admin: DockerAdmin, version: dict[str, Any], info: dict[str, Any]
) -> list[Check]:
    checks = [Check("engine", True, f"Docker {version.get('Version')} (API {version.get('ApiVersion')})")]
    checks.append(runtime_check(settings.runtime, info))
    warnings = " ".join(info.get("Warnings") or [])
    limits_ok = info.get("MemoryLimit", False) and info.get("SwapLimit", False) and info.get("PidsLimit", False)
    checks.append(
        Check(
            "cgroup limits",
            bool(limits_ok) and info.get("CpuCfsQuota", False),
            f"cgroup v{info.get('CgroupVersion', '?')} ({info.get('CgroupDriver', '?')} driver); "
            f"memory={info.get('MemoryLimit')} swap={info.get('SwapLimit')} pids={info.get('PidsLimit')} "
            f"cpu quota={info.get('CpuCfsQuota')}" + (f"; warnings: {warnings}" if warnings else ""),
            "enable the memory/pids/cpu cgroup controllers (and swap accounting) in the kernel command line",
        )
    )
    security = " ".join(info.get("SecurityOptions") or [])
    checks.append(
        Check(
            "seccomp",
            "seccomp" in security,
            security or "no security options reported",
            "use a Docker engine built with seccomp support",
        )
    )
    checks.append(
        Check(
            "user namespaces",
            True,
            "userns-remap is on" if "userns" in security else "off (optional: dockerd --userns-remap=default)",
        )
    )
    catalog = ImageCatalog(settings.images_dir, settings.image_prefix)
    for name in sorted(catalog.languages):
        tag = catalog.image_tag(name)
        if admin.exists(tag):
            checks.append(Check(f"image {name}", True, tag))
        elif name in settings.pool_languages:  # a server builds these at start; the others on first use
            checks.append(Check(f"image {name}", False, f"{tag} is not built", "sandbox images build"))
        else:
            checks.append(Check(f"image {name}", True, f"{tag} not built yet (built on first use)"))
    checks.append(pools_check(settings, catalog))
    checks.extend(_probe(settings, catalog))
    checks.append(Check("sandbox containers", True, f"{admin.managed_count()} labelled container(s) on the engine"))
    return checks


def pools_check(settings: Settings, catalog: ImageCatalog) -> Check:
    """The warm pools a server keeps: each standing pool's bounds (it sizes itself between them), the cap
    they share and when other limits get a pool. A running server's targets: ``/readyz``, ``/v1/ops``."""
    if settings.pool_size <= 0:
        return Check("warm pools", True, "off (SANDBOX_POOL_SIZE=0): every run creates its container")
    try:
        bounds = language_bounds(settings, lambda name: catalog.language(name).name)
    except SandboxError as exc:
        return Check("warm pools", False, exc.message, "fix SANDBOX_POOL_LANGUAGES / SANDBOX_POOL_OVERRIDES")
    pools = ", ".join(f"{name} {b.minimum}..{b.maximum}" for name, b in sorted(bounds.items()))
    demand = (
        f"other limits get a pool after {settings.pool_on_demand_uses} runs"
        if settings.pool_on_demand_uses
        else "no on-demand pools"
    )
    detail = f"{pools} (target: min..max by demand); at most {settings.pool_total} warm in all; {demand}"
    return Check("warm pools", True, detail)


def runtime_check(wanted: str | None, info: dict[str, Any], *, timeout_s: float = 10) -> Check:
    """Which OCI runtime containers will use, its binary, arguments and version; a clear fix when it is missing.

    ``wanted`` is ``SANDBOX_RUNTIME`` (``None``: the engine's default runtime). The version comes
    from ``<path> --version`` when the binary is on this host (Docker's ``RuncCommit`` for runc).
    """
    name = wanted or info.get("DefaultRuntime") or "runc"
    runtimes: dict[str, Any] = info.get("Runtimes") or {}
    available = ", ".join(sorted(runtimes)) or "none"
    source = "SANDBOX_RUNTIME" if wanted else "the engine's default"
    if name not in runtimes:
        if name == "runsc":
            fix = "SANDBOX_RUNTIME=runsc ./scripts/install (installs gVisor's runsc and registers it with dockerd)"
        else:
            fix = f"register {name} under 'runtimes' in /etc/docker/daemon.json and reload dockerd"
        return Check(
            "runtime",
            False,
            f"{name} ({source}) is not registered with the engine; available: {available}",
            f"{fix}, or unset SANDBOX_RUNTIME",
        )
    entry = runtimes[name] or {}
    path = str(entry.get("path") or name)
    command = " ".join([path, *(entry.get("runtimeArgs") or [])])
    version = _runtime_version(path, timeout_s)
    if version is None and name == "runc":
        version = f"runc commit {info.get('RuncCommit', {}).get('ID', '?')}"
    kind = " (gVisor)" if path.rsplit("/", 1)[-1] == "runsc" else ""
    return Check(
        "runtime",
        True,
        f"containers run under {name}{kind} ({source}): {command}; {version or 'version unknown (not on this host)'}; "
        f"available: {available}",
    )


def _runtime_version(path: str, timeout_s: float) -> str | None:
    """The first line of ``<path> --version``, or ``None`` when it does not run here."""
    binary = shutil.which(path)
    if binary is None:
        return None
    try:
        done = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=timeout_s, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    lines = done.stdout.strip().splitlines()
    return lines[0] if done.returncode == 0 and lines else None


def _probe(settings: Settings, catalog: ImageCatalog) -> list[Check]:
    """Run a probe in a real sandbox and compare what it sees with the settings and the host."""
    limits = resolve_limits(Limits(), settings)
    try:
        image = catalog.image_tag("python")
    except SandboxError as exc:
        return [Check("limits in a sandbox", False, exc.message)]
    spec = RunSpec(
        image=image,
        mode="python",
        argv=("python3", "main.py"),
        files=(RunFile("main.py", PROBE.encode()),),
        limits=limits,
        nofile=settings.nofile,
        cpus=settings.cpus,
    )

    async def probe() -> dict[str, object]:
        async with DockerBackend(settings.model_copy(update={"pool_size": 0})) as backend:
            outcome = await backend.run(spec)
        if outcome.status is not Status.OK:
            raise SandboxError(f"probe ended with {outcome.status.value}: {outcome.message}")
        seen: dict[str, object] = json.loads(outcome.stdout)
        return seen

    try:
        seen = asyncio.run(probe())
    except SandboxError as exc:
        return [Check("limits in a sandbox", False, exc.message, "sandbox images build; see the engine log")]
    return [
        limits_check(seen, limits, settings.nofile, settings.runtime),
        kernel_check(settings.runtime, str(seen["kernel"]), platform.release()),
    ]


def limits_check(seen: dict[str, object], wanted: EffectiveLimits, nofile: int, runtime: str | None) -> Check:
    """Compare what the probe saw with the memory, pids and nofile limits it was started with.

    Under gVisor the sandbox has no cgroup files: the memory limit shows as MemTotal, and the pids
    and swap limits apply to the sandbox's cgroup on the host, out of the probe's sight.
    """
    memory = wanted.memory_mb << 20
    common = seen["uid"] != 0 and seen["nofile"] == nofile
    expected = f"(expected memory={memory}, pids={wanted.processes}, nofile={nofile})"
    if seen["memory"] is None and runtime == "runsc":
        memtotal = int(str(seen["memtotal_kb"])) << 10
        return Check(
            "limits in a sandbox",
            common and memtotal == memory,
            f"memory={memtotal} (gVisor's MemTotal) uid={seen['uid']} nofile={seen['nofile']} {expected}; "
            "pids and swap apply to the sandbox's host cgroup, which gVisor does not show",
            "the memory limit does not reach gVisor: check the runsc entry of /etc/docker/daemon.json",
        )
    ok = (
        common
        and seen["memory"] == str(memory)
        and seen["swap"] in (str(memory), "0")
        and seen["pids"] == str(wanted.processes)
    )
    return Check(
        "limits in a sandbox",
        ok,
        f"memory={seen['memory']} memory+swap={seen['swap']} pids={seen['pids']} uid={seen['uid']} "
        f"nofile={seen['nofile']} {expected}",
        "the kernel does not apply the cgroup limits: enable memory/pids/swap accounting",
    )


def kernel_check(runtime: str | None, seen: str, host: str) -> Check:
    """The kernel a sandbox talks to: the host's under runc, gVisor's application kernel under runsc.

    Under ``runsc`` a sandbox that reports the host's kernel release was not run by gVisor.
    """
    if seen != host:
        whose = " (gVisor's application kernel)" if runtime == "runsc" else ""
        return Check("sandbox kernel", True, f"a sandbox sees kernel {seen}{whose}, not this host's {host}")
    if runtime == "runsc":
        return Check(
            "sandbox kernel",
            False,
            f"a sandbox sees the host's kernel {host} although SANDBOX_RUNTIME=runsc",
            "check the runsc entry of /etc/docker/daemon.json (docker info lists the runtimes)",
        )
    return Check("sandbox kernel", True, f"a sandbox shares the host's kernel {host} (namespaces and seccomp)")
