"""Host checks for ``sandbox doctor``: is this machine able to run sandboxes safely?"""

from __future__ import annotations

from dataclasses import dataclass

import docker
import docker.errors

from sandbox.config import Settings
from sandbox.engine.images import ImageCatalog


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
        client = docker.from_env(timeout=10)
        version = client.version()
        info = client.info()
    except docker.errors.DockerException as exc:
        return [
            Check(
                "engine",
                False,
                f"the Docker engine does not answer: {exc}",
                "run scripts/ensure-docker.sh as root (installs Debian's docker.io and starts dockerd)",
            )
        ]
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
        try:
            client.images.get(tag)
            checks.append(Check(f"image {name}", True, tag))
        except docker.errors.ImageNotFound:
            checks.append(Check(f"image {name}", False, f"{tag} is not built", "sandbox images build"))
    leftovers = client.api.containers(all=True, filters={"label": "io.sandbox.managed=1"})
    checks.append(Check("sandbox containers", True, f"{len(leftovers)} labelled container(s) on the engine"))
    client.close()
    return checks
