"""LocalCluster's bookkeeping without servers: the layout file, each member's environment, stopping a
process group, and the command line's answers when there is no cluster. (Up and down against real
PostgreSQL, Redis and `sandbox serve`: tests/e2e/test_cluster.py.)"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.cluster.local import ClusterError, Layout, LocalCluster, Member, main


def layout() -> Layout:
    return Layout(
        "abcd1234",
        5432,
        6379,
        {"SANDBOX_POOL_SIZE": "1"},
        [
            Member("replica-1", "replica", 8001, "cluster-abcd1234-replica-1", "/tmp/r1.log", pid=11),
            Member("worker-1", "worker", 9001, "cluster-abcd1234-worker-1", "/tmp/w1.log"),
        ],
    )


def test_the_layout_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    layout().save(path)
    assert Layout.load(path) == layout()
    assert Layout.load(tmp_path / "missing.json") is None


def test_an_unreadable_layout_file_is_named_in_the_error(tmp_path: Path) -> None:
    path = tmp_path / "cluster.json"
    path.write_text("{not json")
    with pytest.raises(ClusterError, match=r"cluster\.json cannot be read"):
        Layout.load(path)


def test_a_worker_gets_the_cluster_servers_its_own_owner_name_and_port(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_RUNTIME", "from-the-shell")
    monkeypatch.setenv("SANDBOX_SECRETS_KEK", "never-passed-on")
    cluster = LocalCluster(tmp_path, {"janitor_interval_s": 2}, inherit_env=False)
    plan = layout()
    plan.settings.update({"SANDBOX_JANITOR_INTERVAL_S": "2"})
    worker = plan.of_kind("worker")[0]
    env = cluster._environment(plan, worker)
    assert env["SANDBOX_WORKER_NAME"] == "worker-1" and env["SANDBOX_WORKER_PORT"] == "9001"
    assert env["SANDBOX_OWNER"] == "cluster-abcd1234-worker-1"
    assert env["SANDBOX_DATABASE_URL"] == "postgresql+psycopg://postgres@127.0.0.1:5432/sandbox"
    assert env["SANDBOX_REDIS_URL"] == "redis://127.0.0.1:6379/0"
    assert env["SANDBOX_SECRETS_KEK_FILE"] == str(cluster.kek_file)
    assert env["SANDBOX_STATE_DIR"] == str(cluster.shared_state)  # one for all: artifacts are shared
    assert env["SANDBOX_POOL_SIZE"] == "1" and env["SANDBOX_JANITOR_INTERVAL_S"] == "2"
    assert "SANDBOX_RUNTIME" not in env and "SANDBOX_SECRETS_KEK" not in env
    replica = cluster._environment(plan, plan.of_kind("replica")[0])
    assert "SANDBOX_WORKER_NAME" not in replica and replica["SANDBOX_OWNER"].endswith("replica-1")


def test_the_shell_settings_reach_the_members_by_default_but_never_an_inline_kek(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SANDBOX_RUNTIME", "runsc")
    monkeypatch.setenv("SANDBOX_SECRETS_KEK", "never-passed-on")
    env = LocalCluster(tmp_path)._environment(layout(), layout().members[0])
    assert env["SANDBOX_RUNTIME"] == "runsc" and "SANDBOX_SECRETS_KEK" not in env


def test_stopping_a_member_ends_its_whole_process_group(tmp_path: Path) -> None:
    script = "import subprocess, time; subprocess.Popen(['sleep', '60']); time.sleep(60)"
    process = subprocess.Popen([sys.executable, "-c", script], start_new_session=True)
    member = Member("worker-1", "worker", 9001, "owner", str(tmp_path / "w.log"), pid=process.pid)
    assert member.alive()
    LocalCluster(tmp_path).stop_member(member, signal.SIGTERM, grace_s=5)
    assert member.pid == 0 and not member.alive()
    group = subprocess.run(["pgrep", "-g", str(process.pid)], capture_output=True, text=True)
    assert group.stdout.strip() == "", "the member's child outlived it"
    process.wait(timeout=5)  # reaped already (by the liveness check): this only settles the Popen


def test_status_and_key_without_a_cluster_say_how_to_start_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(ClusterError, match="scripts/cluster up"):
        LocalCluster(tmp_path).status()
    monkeypatch.setenv("SANDBOX_STATE_DIR", str(tmp_path))
    for command in ("status", "key"):
        assert main([command]) == 1
        assert "scripts/cluster up" in capsys.readouterr().err
    assert main(["down"]) == 0  # nothing to stop is not an error
