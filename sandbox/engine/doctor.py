"""Host checks for ``sandbox doctor``: is this machine able to run sandboxes safely?"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

from sandbox.config import Settings
from sandbox.engine.containers import DockerBackend
from sandbox.engine.docker import DockerAdmin
from sandbox.engine.images import ImageCatalog
from sandbox.engine.spec import RunFile, RunSpec
from sandbox.errors import SandboxError
from sandbox.limits import resolve_limits
from sandbox.models import Limits, Status

# Runs inside a sandbox and reports the limits the kernel actually applies to it.
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
    runc = info.get("RuncCommit", {}).get("ID", "?")
    runtimes = sorted(info.get("Runtimes", {}))
    wanted = settings.runtime or info.get("DefaultRuntime", "runc")
    checks.append(
        Check(
            "runtime",
            wanted in runtimes,
            f"using {wanted}; available: {', '.join(runtimes)}; runc commit {runc}",
            f"install and register the {wanted} runtime, or unset SANDBOX_RUNTIME",
        )
    )
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
        else:
            checks.append(Check(f"image {name}", False, f"{tag} is not built", "sandbox images build"))
    checks.append(_probe_limits(settings, catalog))
    checks.append(Check("sandbox containers", True, f"{admin.managed_count()} labelled container(s) on the engine"))
    return checks


def _probe_limits(settings: Settings, catalog: ImageCatalog) -> Check:
    """Run a probe in a real sandbox and compare what it sees with the settings."""
    limits = resolve_limits(Limits(), settings)
    try:
        image = catalog.image_tag("python")
    except SandboxError as exc:
        return Check("limits in a sandbox", False, exc.message)
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
        return Check("limits in a sandbox", False, exc.message, "sandbox images build; see the engine log")
    memory = limits.memory_mb << 20
    ok = (
        seen["memory"] == str(memory)
        and seen["swap"] in (str(memory), "0")
        and seen["pids"] == str(limits.processes)
        and seen["uid"] != 0
        and seen["nofile"] == settings.nofile
    )
    return Check(
        "limits in a sandbox",
        ok,
        f"memory={seen['memory']} memory+swap={seen['swap']} pids={seen['pids']} uid={seen['uid']} "
        f"nofile={seen['nofile']} (expected memory={memory}, pids={limits.processes})",
        "the kernel does not apply the cgroup limits: enable memory/pids/swap accounting",
    )
