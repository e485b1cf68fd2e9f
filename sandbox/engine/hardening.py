"""Limits -> container options: the hardening every sandbox container gets.

There is no way to switch any of this off through a request: the only inputs
are the effective limits (already capped by the server maxima) and settings.
Values are plain data so they can be unit-tested without Docker;
``engine/docker.py`` turns the ulimit dicts into ``docker.types.Ulimit``.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sandbox.config import Settings

LABEL_MANAGED = "io.sandbox.managed"
LABEL_OWNER = "io.sandbox.owner"
LABEL_KIND = "io.sandbox.kind"
LABEL_EXPIRES = "io.sandbox.expires"
LABEL_INSTANCE = "io.sandbox.instance"  # the creating server process (``sandbox.instance``)
WORKSPACE = "/workspace"
#: The runner's variable naming the preload to start (images/runner/sandbox_runner/preload.py).
PRELOAD_ENV = "SANDBOX_PRELOAD"
#: gVisor's host tasks: the pids cgroup budget of a sandbox is this plus so many per allowed process.
#: Measured with the ptrace platform: 40 tasks idle, +4 per sleeping guest process, and up to 478 for a
#: fork bomb held at 32 processes (a stub thread per Sentry thread and address space); a sandbox
#: that reaches the budget dies whole (runsc exits), so it is set well above what a program can cause.
GVISOR_HOST_TASKS = 256
GVISOR_TASKS_PER_PROCESS = 16
#: The runner is imported from its byte code, compiled when the image is built: compiling the
#: source at every container start cost about 5 ms of CPU.
RUNNER_COMMAND = [
    "python3",
    "-I",
    "-S",
    "-B",
    "-c",
    "import sys; sys.path.insert(0, '/opt/sandbox'); import sandbox_runner; sys.exit(sandbox_runner.main())",
]


@dataclass(frozen=True)
class ContainerOptions:
    """``create``: container-level arguments; ``host``: host-config arguments."""

    create: dict[str, Any]
    host: dict[str, Any]


def container_options(
    profile: tuple[str, int, int, int, float]
    | tuple[str, int, int, int, float, bool]
    | tuple[str, int, int, int, float, bool, tuple[str, ...]],
    settings: Settings,
    *,
    owner: str,
    kind: str,
    lifetime_s: float,
    instance: str = "",
) -> ContainerOptions:
    """Arguments for ``create_container``/``create_host_config`` of one container.

    ``profile`` is ``(image, memory_mb, processes, workdir_mb, cpus[, exec_workdir[, preload]])``;
    the container is labelled as ours with an expiry after which any janitor may
    remove it, whichever process created it. ``exec_workdir`` (a compiled
    language: the program is the binary its compiler wrote) mounts the workdir
    without ``noexec``; /tmp keeps it. ``preload`` (a command; empty for none) goes
    to the runner as ``SANDBOX_PRELOAD`` (JSON): it starts the command while the container
    waits for its request (see the runner's ``preload`` module).
    """
    image, memory_mb, processes, workdir_mb, cpus = profile[:5]
    exec_workdir = len(profile) > 5 and bool(profile[5])
    preload = tuple(profile[6]) if len(profile) > 6 else ()
    uid, _, gid = settings.user.partition(":")
    gid = gid or uid
    tmpfs_opts = f"rw,noexec,nosuid,nodev,size={workdir_mb}m,nr_inodes=16384"
    workdir_opts = tmpfs_opts.replace("noexec", "exec") if exec_workdir else tmpfs_opts
    security_opt = ["no-new-privileges:true"]
    if settings.seccomp_profile is not None:
        security_opt.append(f"seccomp={settings.seccomp_profile.read_text()}")
    create: dict[str, Any] = {
        "image": image,
        "command": RUNNER_COMMAND,
        "user": f"{uid}:{gid}",
        "working_dir": WORKSPACE,
        "hostname": "sandbox",
        "environment": {
            "HOME": WORKSPACE,
            "LANG": "C.UTF-8",
            **({PRELOAD_ENV: json.dumps(preload)} if preload else {}),
        },
        "network_disabled": True,
        "stdin_open": True,
        "tty": False,
        "detach": True,
        "labels": {
            LABEL_MANAGED: "1",
            LABEL_OWNER: owner,
            LABEL_KIND: kind,
            LABEL_EXPIRES: str(int(time.time() + lifetime_s)),
            LABEL_INSTANCE: instance,
        },
    }
    host: dict[str, Any] = {
        "network_mode": "none",
        "read_only": True,
        "tmpfs": {
            WORKSPACE: f"{workdir_opts},uid={uid},gid={gid},mode=0700",
            "/tmp": f"{tmpfs_opts},mode=1777",
        },
        "cap_drop": ["ALL"],
        "security_opt": security_opt,
        "pids_limit": processes,
        "mem_limit": f"{memory_mb}m",
        "memswap_limit": f"{memory_mb}m",
        "oom_kill_disable": False,
        "oom_score_adj": 500,
        "nano_cpus": int(cpus * 1e9),
        "ulimits": [
            {"name": "nofile", "soft": settings.nofile, "hard": settings.nofile},
            {"name": "fsize", "soft": workdir_mb << 20, "hard": workdir_mb << 20},
            {"name": "core", "soft": 0, "hard": 0},
        ],
        "ipc_mode": "private",
        "cgroupns": "private",
        "shm_size": "16m",
        # No docker-init: the runner is PID 1 (see images/runner/sandbox_runner/__init__.py). A
        # dumpable init running as the sandbox uid would let the program open
        # /proc/1/fd/1 and forge protocol frames, or signal its way past the runner.
        "init": False,
        "log_config": {"type": "none", "config": {}},
    }
    if settings.runtime:
        host["runtime"] = settings.runtime
    if is_gvisor(settings.runtime):
        # Under gVisor the pids cgroup counts the sandbox's host tasks (the Sentry's threads and the
        # ptrace stubs), not the program's: 64 of them cannot even start a subprocess. The program's
        # tasks are limited inside the sandbox instead, by RLIMIT_NPROC (per uid: under runc that is
        # host-wide, under gVisor the sandbox's own kernel counts it), and the host cgroup keeps a
        # bound on the Sentry's tasks.
        host["pids_limit"] = GVISOR_HOST_TASKS + GVISOR_TASKS_PER_PROCESS * processes
        host["ulimits"].append({"name": "nproc", "soft": processes, "hard": processes})
    return ContainerOptions(create=create, host=host)


def is_gvisor(runtime: str | None) -> bool:
    """Whether ``runtime`` names gVisor (``runsc``, or a variant such as ``runsc-kvm``)."""
    return runtime is not None and runtime.startswith("runsc")
