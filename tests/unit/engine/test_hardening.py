"""The container options every sandbox gets; nothing here can be switched off by a request."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from sandbox.config import Settings
from sandbox.engine.hardening import (
    GVISOR_HOST_TASKS,
    GVISOR_TASKS_PER_PROCESS,
    LABEL_EXPIRES,
    LABEL_KIND,
    LABEL_MANAGED,
    LABEL_OWNER,
    RUNNER_COMMAND,
    WORKSPACE,
    ContainerOptions,
    container_options,
)

PROFILE = ("sandbox-python:0123456789ab", 300, 48, 20, 1.5)


def options(settings: Settings | None = None, profile: tuple = PROFILE, lifetime_s: float = 500) -> ContainerOptions:
    return container_options(profile, settings or Settings(), owner="owner-1", kind="warm", lifetime_s=lifetime_s)


def test_a_preload_goes_to_the_runner_as_an_environment_variable() -> None:
    """The runner starts it before the request comes (images/runner/sandbox_runner/preload.py)."""
    import json

    preload = ("node", "/opt/sandbox/preload/node.js")
    opts = options(profile=(*PROFILE, False, preload))
    assert json.loads(opts.create["environment"]["SANDBOX_PRELOAD"]) == list(preload)
    assert "SANDBOX_PRELOAD" not in options(profile=(*PROFILE, False, ())).create["environment"]
    assert "SANDBOX_PRELOAD" not in options().create["environment"]


def test_network_is_off() -> None:
    opts = options()
    assert opts.host["network_mode"] == "none"
    assert opts.create["network_disabled"] is True


def test_root_filesystem_read_only_and_all_capabilities_dropped() -> None:
    opts = options()
    assert opts.host["read_only"] is True
    assert opts.host["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in opts.host["security_opt"]


def test_resource_limits_follow_the_profile() -> None:
    host = options().host
    assert host["pids_limit"] == 48
    assert host["mem_limit"] == "300m"
    assert host["memswap_limit"] == host["mem_limit"], "swap must not extend the memory limit"
    assert host["nano_cpus"] == 1_500_000_000
    assert host["oom_kill_disable"] is False


def test_ulimits() -> None:
    ulimits = {u["name"]: (u["soft"], u["hard"]) for u in options(Settings(nofile=100)).host["ulimits"]}
    assert ulimits == {"nofile": (100, 100), "fsize": (20 << 20, 20 << 20), "core": (0, 0)}


def test_init_process_and_no_logs() -> None:
    host = options().host
    assert host["init"] is False  # the runner is PID 1
    assert host["log_config"]["type"] == "none"
    assert host["ipc_mode"] == "private"
    assert host["cgroupns"] == "private"


def test_tmpfs_mounts_are_noexec_nosuid_nodev_and_sized() -> None:
    tmpfs = options().host["tmpfs"]
    assert set(tmpfs) == {WORKSPACE, "/tmp"}
    for mount, opts in tmpfs.items():
        flags = opts.split(",")
        for flag in ("noexec", "nosuid", "nodev", "size=20m"):
            assert flag in flags, f"{mount}: {flag} missing from {opts}"
    assert "uid=65534" in tmpfs[WORKSPACE].split(",")
    assert "mode=0700" in tmpfs[WORKSPACE].split(",")


def test_runs_as_the_configured_non_root_user() -> None:
    create = options().create
    assert create["user"] == "65534:65534"
    assert create["user"].split(":")[0] not in ("0", "root", "")
    assert options(Settings(user="1000")).create["user"] == "1000:1000"
    assert options(Settings(user="1000:2000")).create["user"] == "1000:2000"


def test_container_basics() -> None:
    create = options().create
    assert create["image"] == PROFILE[0]
    assert create["command"] == RUNNER_COMMAND
    assert create["working_dir"] == WORKSPACE
    assert create["tty"] is False
    assert create["stdin_open"] is True


def test_labels_mark_it_ours_with_a_future_expiry() -> None:
    before = time.time()
    labels = options(lifetime_s=500).create["labels"]
    after = time.time()
    assert labels[LABEL_MANAGED] == "1"
    assert labels[LABEL_OWNER] == "owner-1"
    assert labels[LABEL_KIND] == "warm"
    expires = int(labels[LABEL_EXPIRES])
    assert int(before + 500) <= expires <= int(after + 500)
    assert expires > after
    assert all(isinstance(v, str) for v in labels.values())


@pytest.mark.parametrize(
    "key",
    [
        "privileged",
        "binds",
        "volumes",
        "volumes_from",
        "mounts",
        "devices",
        "device_requests",
        "cap_add",
        "pid_mode",
        "userns_mode",
        "uts_mode",
        "sysctls",
        "extra_hosts",
        "port_bindings",
        "links",
        "volume_driver",
    ],
)
def test_no_dangerous_keys_at_all(key: str) -> None:
    opts = options(Settings(runtime="runsc"))
    assert key not in opts.host
    assert key not in opts.create


def test_no_host_namespaces() -> None:
    opts = options()
    for key, value in {**opts.create, **opts.host}.items():
        assert value != "host", f"{key} shares a host namespace"


def test_runtime_only_when_configured() -> None:
    assert "runtime" not in options().host
    assert "runtime" not in options(Settings(runtime="")).host
    assert options(Settings(runtime="runsc")).host["runtime"] == "runsc"


def test_default_seccomp_when_unset() -> None:
    assert options().host["security_opt"] == ["no-new-privileges:true"]


def test_custom_seccomp_profile_text_is_passed(tmp_path: Path) -> None:
    profile = tmp_path / "seccomp.json"
    text = '{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": []}'
    profile.write_text(text)
    security_opt = options(Settings(seccomp_profile=profile)).host["security_opt"]
    assert "no-new-privileges:true" in security_opt
    assert f"seccomp={text}" in security_opt


def test_options_are_fresh_each_call() -> None:
    first, second = options(), options()
    first.host["cap_drop"].append("NET_RAW")
    assert second.host["cap_drop"] == ["ALL"]


def test_gvisor_limits_the_programs_tasks_inside_the_sandbox() -> None:
    """Under runsc the pids cgroup counts the Sentry's host tasks: the program's limit is RLIMIT_NPROC."""
    processes = PROFILE[2]
    for runtime in ("runsc", "runsc-kvm"):
        host = options(Settings(runtime=runtime)).host
        assert {"name": "nproc", "soft": processes, "hard": processes} in host["ulimits"]
        assert host["pids_limit"] == GVISOR_HOST_TASKS + GVISOR_TASKS_PER_PROCESS * processes


def test_runc_has_no_nproc_ulimit() -> None:
    """nproc is per uid across the host under runc: sandboxes sharing uid 65534 would starve each other."""
    host = options().host
    assert host["pids_limit"] == PROFILE[2]
    assert "nproc" not in {u["name"] for u in host["ulimits"]}
