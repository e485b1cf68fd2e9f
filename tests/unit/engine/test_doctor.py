"""``sandbox doctor``'s runtime and kernel checks, on made-up ``docker info`` answers (no Docker)."""

from __future__ import annotations

import stat
from pathlib import Path

from sandbox.config import PROJECT_ROOT, PoolBounds, Settings
from sandbox.engine.doctor import kernel_check, limits_check, pools_check, runtime_check
from sandbox.engine.images import ImageCatalog
from sandbox.limits import resolve_limits
from sandbox.models import Limits

RUNC_ONLY = {
    "DefaultRuntime": "runc",
    "Runtimes": {"runc": {"path": "runc"}, "io.containerd.runc.v2": {"path": "runc"}},
    "RuncCommit": {"ID": "v1.1.5"},
}


def fake_runtime(tmp_path: Path, name: str, version_line: str) -> str:
    """An executable that prints ``version_line`` for ``--version``, as runsc does."""
    path = tmp_path / name
    path.write_text(f"#!/bin/sh\necho '{version_line}'\necho 'spec: 1.0.2-dev'\n")
    path.chmod(path.stat().st_mode | stat.S_IXUSR)
    return str(path)


def test_missing_runsc_names_the_install_command() -> None:
    check = runtime_check("runsc", RUNC_ONLY)
    assert not check.ok
    assert "runsc (SANDBOX_RUNTIME) is not registered" in check.detail
    assert "available: io.containerd.runc.v2, runc" in check.detail
    assert check.fix.startswith("SANDBOX_RUNTIME=runsc ./scripts/install")


def test_another_missing_runtime_says_where_to_register_it() -> None:
    check = runtime_check("kata", RUNC_ONLY)
    assert not check.ok
    assert "/etc/docker/daemon.json" in check.fix and "unset SANDBOX_RUNTIME" in check.fix


def test_registered_runsc_reports_its_command_line_and_version(tmp_path: Path) -> None:
    path = fake_runtime(tmp_path, "runsc", "runsc version 0.0~20221219.0")
    info = {
        **RUNC_ONLY,
        "Runtimes": {
            **RUNC_ONLY["Runtimes"],
            "runsc": {"path": path, "runtimeArgs": ["--platform=ptrace", "--network=none"]},
        },
    }
    check = runtime_check("runsc", info)
    assert check.ok
    assert check.detail.startswith(
        f"containers run under runsc (gVisor) (SANDBOX_RUNTIME): {path} --platform=ptrace --network=none;"
    )
    assert "runsc version 0.0~20221219.0;" in check.detail


def test_default_runtime_is_reported_with_runcs_commit() -> None:
    check = runtime_check(None, {**RUNC_ONLY, "Runtimes": {"runc": {"path": "/nonexistent/runc"}}})
    assert check.ok
    assert "containers run under runc (the engine's default): /nonexistent/runc; runc commit v1.1.5" in check.detail


def test_a_runtime_binary_not_on_this_host_is_reported_not_failed() -> None:
    info = {**RUNC_ONLY, "Runtimes": {"runsc": {"path": "/nonexistent/runsc"}}}
    check = runtime_check("runsc", info)
    assert check.ok and "version unknown (not on this host)" in check.detail


def test_kernel_check_tells_gvisor_from_the_host_kernel() -> None:
    assert kernel_check("runsc", "4.4.0", "6.1.0-18-amd64").ok
    assert "gVisor" in kernel_check("runsc", "4.4.0", "6.1.0-18-amd64").detail
    shared = kernel_check(None, "6.1.0-18-amd64", "6.1.0-18-amd64")
    assert shared.ok and "shares the host's kernel" in shared.detail
    not_gvisor = kernel_check("runsc", "6.1.0-18-amd64", "6.1.0-18-amd64")
    assert not not_gvisor.ok and "daemon.json" in not_gvisor.fix


def probe_saw(**seen: object) -> dict[str, object]:
    limits = resolve_limits(Limits(), Settings())
    memory = str(limits.memory_mb << 20)
    base: dict[str, object] = {
        "memory": memory,
        "swap": memory,
        "pids": str(limits.processes),
        "uid": 65534,
        "nofile": Settings().nofile,
        "kernel": "6.1.0",
        "memtotal_kb": str(limits.memory_mb << 10),
    }
    return {**base, **seen}


def test_limits_check_under_runc_reads_the_cgroup_files() -> None:
    limits, nofile = resolve_limits(Limits(), Settings()), Settings().nofile
    assert limits_check(probe_saw(), limits, nofile, None).ok
    assert not limits_check(probe_saw(pids="max"), limits, nofile, None).ok
    assert not limits_check(probe_saw(memory=None), limits, nofile, None).ok


def test_limits_check_under_gvisor_reads_memtotal() -> None:
    limits, nofile = resolve_limits(Limits(), Settings()), Settings().nofile
    hidden = probe_saw(memory=None, swap=None, pids=None)
    check = limits_check(hidden, limits, nofile, "runsc")
    assert check.ok and "gVisor's MemTotal" in check.detail and "host cgroup" in check.detail
    assert not limits_check({**hidden, "memtotal_kb": "8000000"}, limits, nofile, "runsc").ok
    assert not limits_check({**hidden, "uid": 0}, limits, nofile, "runsc").ok


def test_the_pools_check_reports_each_pools_bounds_and_the_shared_cap() -> None:
    catalog = ImageCatalog(PROJECT_ROOT / "images")
    check = pools_check(
        Settings(pool_languages=["py"], pool_overrides={"js": PoolBounds(min=0, max=3)}, pool_capacity=6), catalog
    )
    assert check.ok
    assert check.detail == (
        "javascript 0..3, python 4..12 (target: min..max by demand); at most 6 warm in all; "
        "other limits get a pool after 3 runs"
    )
    assert pools_check(Settings(pool_size=0), catalog).detail.startswith("off (SANDBOX_POOL_SIZE=0)")
    bad = pools_check(Settings(pool_overrides={"cobol": PoolBounds(max=1)}), catalog)
    assert not bad.ok and "unknown language 'cobol'" in bad.detail
