"""Host-side `docker inspect` of a live sandbox container (CIS Docker Benchmark 5.x style)."""

from __future__ import annotations

import pytest

from sandbox.engine.hardening import LABEL_EXPIRES, LABEL_MANAGED, LABEL_OWNER

pytestmark = pytest.mark.anyio

SECRET_LIKE = ("KEY", "TOKEN", "SECRET", "PASSWORD", "PASS", "CREDENTIAL")


@pytest.fixture
async def live_container(settings, service_factory, docker_client):
    """A warm container, started and waiting for a request, and its inspect data."""
    svc = service_factory(settings.model_copy(update={"pool_size": 1}), warm=True)
    async with svc:
        pool = svc.backend.pool(svc.planner.default_profile("python"))
        assert await pool.wait_ready(1, timeout=60)
        owner = svc.backend.owner
        (summary,) = docker_client.api.containers(filters={"label": f"{LABEL_OWNER}={owner}"})
        yield docker_client.api.inspect_container(summary["Id"])


async def test_hardening_options(live_container, settings) -> None:
    host = live_container["HostConfig"]
    config = live_container["Config"]
    assert live_container["State"]["Running"]
    assert host["Privileged"] is False  # 5.5
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]  # 5.4
    assert "no-new-privileges:true" in host["SecurityOpt"]  # 5.26
    assert not any("unconfined" in opt for opt in host["SecurityOpt"])  # 5.22
    assert host["ReadonlyRootfs"] is True  # 5.13
    assert host["NetworkMode"] == "none" and config.get("NetworkDisabled") is True  # 5.10
    for mode in ("PidMode", "IpcMode", "UTSMode", "UsernsMode", "CgroupnsMode"):
        assert host.get(mode, "") != "host", mode  # 5.16/5.17/5.21/5.31
    assert host["PidsLimit"] == settings.processes  # 5.29
    assert host["Memory"] == host["MemorySwap"] == settings.memory_mb << 20  # 5.11, no swap
    assert host["NanoCpus"] == int(settings.cpus * 1e9)  # 5.12
    assert not host["Init"]  # the runner is PID 1 (non-dumpable, unkillable from inside)
    assert host["OomKillDisable"] in (False, None)
    assert not host.get("Binds") and not live_container["Mounts"]  # 5.6, no docker.sock
    assert not host.get("Devices") and not host.get("DeviceCgroupRules")
    assert host["LogConfig"]["Type"] == "none"
    assert not host.get("PortBindings") and not host.get("ExtraHosts") and not host.get("Sysctls")
    ulimits = {u["Name"]: (u["Soft"], u["Hard"]) for u in host["Ulimits"]}
    assert ulimits["core"] == (0, 0)
    assert ulimits["nofile"] == (settings.nofile, settings.nofile)
    assert ulimits["fsize"] == (settings.workdir_mb << 20,) * 2
    for path, opts in host["Tmpfs"].items():
        assert {"noexec", "nosuid", "nodev", f"size={settings.workdir_mb}m"} <= set(opts.split(",")), path
    assert set(host["Tmpfs"]) == {"/workspace", "/tmp"}
    user = config["User"]
    assert user and user.split(":")[0] not in ("", "0", "root")
    labels = config["Labels"]
    assert labels[LABEL_MANAGED] == "1" and int(labels[LABEL_EXPIRES]) > 0


async def test_no_secret_like_environment(live_container) -> None:
    env = dict(item.split("=", 1) for item in live_container["Config"]["Env"])
    assert not [name for name in env if any(word in name.upper() for word in SECRET_LIKE)]
    assert not any(word in " ".join(live_container["Config"]["Cmd"]).upper() for word in SECRET_LIKE)
