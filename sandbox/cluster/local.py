"""A whole cluster on this machine, on loopback: PostgreSQL, Redis, API replicas and workers.

``scripts/cluster up`` (``python -m sandbox.cluster.local up``) starts a ``LocalPostgres`` and a
``LocalRedis`` (``localservers.py``), then ``sandbox serve`` replicas and ``sandbox worker``s as
detached processes (their own session: they outlive the command that started them). Everything
lives under ``<state_dir>/cluster/``: the servers' data, one log per process, the shared KEK file,
the state directory every replica and worker shares (artifacts written by a worker are read by
any replica), the API key, and ``cluster.json`` holding pids, ports and owners, which is how
``down`` and ``status`` (other processes) find what ``up`` started.

Each worker labels its containers with an owner of its own (``<cluster id>-worker-N``), so
``down`` can check, and clean, exactly this cluster's containers. For development and the
end-to-end tests only: trust authentication, no TLS, fsync off.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import httpx

from sandbox.cluster.localservers import LocalPostgres, LocalRedis, ServerError, _pid_alive, free_port

log = logging.getLogger(__name__)

#: What ``up`` starts when not told otherwise.
DEFAULT_REPLICAS = 2
DEFAULT_WORKERS = 2
#: How long a replica or worker has to answer /healthz after its start.
START_TIMEOUT_S = 120.0
#: How long a replica or worker has to exit after SIGTERM (a worker drains its runs) before SIGKILL.
STOP_GRACE_S = 30.0


class ClusterError(ServerError):
    """The local cluster could not be started, found or stopped: the message says what and why."""


@dataclass
class Member:
    """One replica or worker process: how to reach it and what it labels its containers with."""

    name: str
    kind: str  # "replica" or "worker"
    port: int
    owner: str
    log: str
    pid: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def alive(self) -> bool:
        return self.pid > 0 and _pid_alive(self.pid)


@dataclass
class Layout:
    """``cluster.json``: what ``up`` started, read back by ``down``, ``status`` and tests."""

    cluster_id: str
    postgres_port: int
    redis_port: int
    settings: dict[str, str] = field(default_factory=dict)  # extra SANDBOX_* for every member
    members: list[Member] = field(default_factory=list)

    @classmethod
    def load(cls, path: Path) -> Layout | None:
        try:
            raw = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise ClusterError(
                f"{path} cannot be read ({exc}): remove it after stopping the processes it names"
            ) from None
        members = [Member(**member) for member in raw.pop("members", [])]
        return cls(**raw, members=members)

    def save(self, path: Path) -> None:
        temporary = path.with_suffix(".tmp")
        temporary.write_text(json.dumps(asdict(self), indent=2) + "\n")
        temporary.replace(path)

    def of_kind(self, kind: str) -> list[Member]:
        return [member for member in self.members if member.kind == kind]


class LocalCluster:
    """The cluster under ``state_dir/cluster`` (see the module docstring).

    ``settings`` are extra ``SANDBOX_<NAME>`` values for every replica and worker (``pool_size``,
    ``janitor_interval_s``...), recorded by ``up`` so a restarted member gets the same ones.
    ``inherit_env=False``: the members get none of this process's own ``SANDBOX_*`` variables (tests).
    """

    def __init__(
        self, state_dir: Path, settings: Mapping[str, object] | None = None, *, inherit_env: bool = True
    ) -> None:
        self.root = Path(state_dir).resolve() / "cluster"
        self._settings = {f"SANDBOX_{name.upper()}": str(value) for name, value in (settings or {}).items()}
        self._inherit_env = inherit_env
        # What this process started, kept until it has exited and been waited for (a Popen
        # dropped while its process runs is a ResourceWarning, and never reaped).
        self._children: dict[int, subprocess.Popen[bytes]] = {}
        self._servers: dict[str, LocalPostgres | LocalRedis] = {}

    # ------------------------------------------------------------------ places
    @property
    def layout_file(self) -> Path:
        return self.root / "cluster.json"

    @property
    def key_file(self) -> Path:
        return self.root / "api-key"

    @property
    def kek_file(self) -> Path:
        return self.root / "secrets.kek"

    @property
    def shared_state(self) -> Path:
        """The SANDBOX_STATE_DIR of every member: artifacts written by one are read by the others."""
        return self.root / "state"

    def layout(self) -> Layout | None:
        return Layout.load(self.layout_file)

    def _layout(self) -> Layout:
        layout = self.layout()
        if layout is None:
            raise ClusterError(f"no cluster under {self.root}: start one with `scripts/cluster up`")
        return layout

    def postgres(self, layout: Layout | None = None) -> LocalPostgres:
        port = (layout or self._layout()).postgres_port
        server = self._servers.get("postgres")
        if not isinstance(server, LocalPostgres) or server.port != port:
            server = self._servers["postgres"] = LocalPostgres(self.root / "postgres", port)
        return server

    def redis(self, layout: Layout | None = None) -> LocalRedis:
        port = (layout or self._layout()).redis_port
        server = self._servers.get("redis")
        if not isinstance(server, LocalRedis) or server.port != port:
            server = self._servers["redis"] = LocalRedis(self.root / "redis", port)
        return server

    @property
    def database_url(self) -> str:
        return self.postgres().url

    @property
    def redis_url(self) -> str:
        return self.redis().url

    def replicas(self) -> list[Member]:
        return self._layout().of_kind("replica")

    def workers(self) -> list[Member]:
        return self._layout().of_kind("worker")

    def owners(self) -> list[str]:
        """Every owner label this cluster's members put on their containers."""
        return [member.owner for member in self._layout().members]

    # -------------------------------------------------------------------- up
    def up(self, replicas: int = DEFAULT_REPLICAS, workers: int = DEFAULT_WORKERS) -> Layout:
        """Start whatever is not running yet and wait until each member answers /healthz.

        Idempotent: members already running are kept (and counted), never doubled; a layout left
        by a stopped cluster is reused (same ports, same database, same key).
        """
        self.root.mkdir(parents=True, exist_ok=True)
        layout = self.layout()
        if layout is None:
            layout = Layout(uuid.uuid4().hex[:8], free_port(), free_port(), dict(self._settings))
        elif self._settings:
            layout.settings.update(self._settings)
        self._ensure_kek()
        self.postgres(layout).start()
        self.redis(layout).start()
        layout.save(self.layout_file)
        self.key()  # creates the schema (and the cluster's key) before replicas start together
        for kind, count in (("replica", replicas), ("worker", workers)):
            for index in range(1, count + 1):
                self._ensure_member(layout, kind, f"{kind}-{index}")
        layout.save(self.layout_file)
        for member in layout.members:
            self._wait_healthy(member)
        return layout

    def _ensure_kek(self) -> None:
        """One KEK file for every member: a secret stored through one replica is opened by any worker."""
        if self.kek_file.exists():
            return
        from sandbox.secrets.keys import new_kek_line

        fd = os.open(self.kek_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(new_kek_line() + "\n")

    def _ensure_member(self, layout: Layout, kind: str, name: str) -> Member:
        member = next((m for m in layout.members if m.name == name), None)
        if member is None:
            member = Member(
                name, kind, free_port(), f"cluster-{layout.cluster_id}-{name}", str(self.root / f"{name}.log")
            )
            layout.members.append(member)
        if not member.alive():
            self._start(layout, member)
        return member

    def _environment(self, layout: Layout, member: Member) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if self._inherit_env or not k.startswith("SANDBOX_")}
        env.update(layout.settings)
        env.update(
            SANDBOX_STATE_DIR=str(self.shared_state),
            SANDBOX_DATABASE_URL=self.postgres(layout).url,
            SANDBOX_REDIS_URL=self.redis(layout).url,
            SANDBOX_SECRETS_KEK_FILE=str(self.kek_file),
            SANDBOX_OWNER=member.owner,
            SANDBOX_LOG_FORMAT=env.get("SANDBOX_LOG_FORMAT", "text"),
            PYTHONUNBUFFERED="1",
        )
        env.pop("SANDBOX_SECRETS_KEK", None)  # the file above is the cluster's one KEK
        if member.kind == "worker":
            env.update(SANDBOX_WORKER_NAME=member.name, SANDBOX_WORKER_PORT=str(member.port))
        return env

    def _start(self, layout: Layout, member: Member) -> None:
        if member.kind == "replica":
            command = [sys.executable, "-m", "sandbox.cli", "serve", "--host", "127.0.0.1", "--port", str(member.port)]
        else:
            command = [sys.executable, "-m", "sandbox.cli", "worker"]
        self.shared_state.mkdir(parents=True, exist_ok=True)
        with open(member.log, "ab") as out:
            process = subprocess.Popen(
                command,
                env=self._environment(layout, member),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # detached: it outlives `up`, and `down` stops its whole group
            )
        member.pid = process.pid
        self._children[process.pid] = process
        log.info("started %s (pid %d, port %d)", member.name, member.pid, member.port)

    def _wait_healthy(self, member: Member, timeout_s: float = START_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        last = "no answer"
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                if not member.alive():
                    raise ClusterError(f"{member.name} exited during its start; see {member.log}:\n{_tail(member.log)}")
                try:
                    response = client.get(f"{member.url}/healthz")
                except httpx.HTTPError as exc:
                    last = repr(exc)
                else:
                    if response.status_code == 200:
                        return
                    last = f"{response.status_code} {response.text[:200]}"
                time.sleep(0.1)
        raise ClusterError(
            f"{member.name} did not answer /healthz within {timeout_s:g} s (last: {last}); see {member.log}"
        )

    # ------------------------------------------------------------------ down
    def down(self, grace_s: float = STOP_GRACE_S) -> list[str]:
        """Stop the members (SIGTERM, SIGKILL after ``grace_s``), then Redis and PostgreSQL; the short ids
        of the containers of this cluster's owners that were still there and are now removed."""
        layout = self.layout()
        if layout is None:
            return []
        for member in layout.members:
            self.stop_member(member, grace_s=grace_s)
        layout.save(self.layout_file)
        self.redis(layout).stop()
        self.postgres(layout).stop()
        return self.remove_leftovers(layout)

    def stop_member(self, member: Member, sig: int = signal.SIGTERM, grace_s: float = STOP_GRACE_S) -> None:
        """Signal ``member``'s process group and wait until it has gone (SIGKILL after ``grace_s``)."""
        if member.pid <= 0:
            return
        _signal_group(member.pid, sig)
        deadline = time.monotonic() + grace_s
        while member.alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        _signal_group(member.pid, signal.SIGKILL)  # what is left of its group (validation workers)
        while member.alive():
            time.sleep(0.05)
        child = self._children.pop(member.pid, None)
        if child is not None:
            child.wait()
        member.pid = 0

    def kill_worker(self, name: str) -> Member:
        """SIGKILL one worker (no drain: it vanishes as a crashed host would); its entry stays, not running."""
        layout = self._layout()
        member = self._named(layout, name)
        self.stop_member(member, signal.SIGKILL, grace_s=0)
        layout.save(self.layout_file)
        return member

    def stop_worker(self, name: str, grace_s: float = STOP_GRACE_S) -> Member:
        """SIGTERM one worker (it drains) and wait until it has gone."""
        layout = self._layout()
        member = self._named(layout, name)
        self.stop_member(member, grace_s=grace_s)
        layout.save(self.layout_file)
        return member

    def start_member(self, name: str) -> Member:
        """Start a stopped member again (same port, same owner) and wait until it answers /healthz."""
        layout = self._layout()
        member = self._named(layout, name)
        if not member.alive():
            self._start(layout, member)
            layout.save(self.layout_file)
        self._wait_healthy(member)
        return member

    @staticmethod
    def _named(layout: Layout, name: str) -> Member:
        for member in layout.members:
            if member.name == name:
                return member
        raise ClusterError(f"no member {name!r} in this cluster: {', '.join(m.name for m in layout.members)}")

    def remove_leftovers(self, layout: Layout | None = None) -> list[str]:
        """Remove (and name) the containers still labelled with this cluster's owners."""
        from sandbox.engine import remove_owned_containers

        return remove_owned_containers(member.owner for member in (layout or self._layout()).members)

    # ------------------------------------------------------------ key, status
    def key(self) -> str:
        """The cluster's API key: created once on the cluster's database, kept 0600 in ``api-key``."""
        with contextlib.suppress(FileNotFoundError):
            return self.key_file.read_text().strip()
        from sandbox.config import Settings
        from sandbox.store import Store

        defaults = Settings(state_dir=self.shared_state)
        store = Store(self.database_url)
        try:
            _, plaintext = store.create_key(
                f"cluster-{self._layout().cluster_id}",
                defaults.default_policy,
                defaults.default_key_concurrency,
                defaults.default_key_rate_per_min,
                ops=True,
            )
        finally:
            store.close()
        fd = os.open(self.key_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(plaintext + "\n")
        return plaintext

    def status(self) -> dict[str, Any]:
        """What runs: each member's URL, pid and liveness, the servers' URLs, the key (if made)."""
        layout = self._layout()
        postgres, redis = self.postgres(layout), self.redis(layout)
        key = self.key_file.read_text().strip() if self.key_file.exists() else None
        return {
            "cluster": layout.cluster_id,
            "root": str(self.root),
            "postgres": {"url": postgres.url, "running": postgres.running()},
            "redis": {"url": redis.url, "running": redis.running()},
            "replicas": [
                {"name": m.name, "url": m.url, "pid": m.pid, "alive": m.alive(), "log": m.log}
                for m in layout.of_kind("replica")
            ],
            "workers": [
                {"name": m.name, "pid": m.pid, "alive": m.alive(), "health": m.url, "owner": m.owner, "log": m.log}
                for m in layout.of_kind("worker")
            ],
            "key": key,
        }


def _signal_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _tail(path: str, lines: int = 30) -> str:
    try:
        return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""


def _print_status(status: dict[str, Any]) -> None:
    print(f"cluster {status['cluster']} under {status['root']}")
    for member in status["replicas"]:
        state = "alive" if member["alive"] else "not running"
        print(f"  replica {member['name']}: {member['url']}  pid {member['pid']} {state}")
    for member in status["workers"]:
        state = "alive" if member["alive"] else "not running"
        print(f"  worker  {member['name']}: pid {member['pid']} {state}  (health {member['health']}/healthz)")
    for server in ("postgres", "redis"):
        state = "running" if status[server]["running"] else "not running"
        print(f"  {server}: {status[server]['url']}  {state}")
    print(f"  key: {status['key'] or '(none yet: `scripts/cluster key`)'}")


def main(argv: list[str] | None = None) -> int:
    """`python -m sandbox.cluster.local up|down|status|key` (``scripts/cluster``)."""
    import argparse

    from sandbox.config import Settings

    parser = argparse.ArgumentParser(prog="scripts/cluster", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    up = commands.add_parser("up", help="start PostgreSQL, Redis, the replicas and the workers (idempotent)")
    up.add_argument("--replicas", type=int, default=DEFAULT_REPLICAS, help="API replicas (`sandbox serve`)")
    up.add_argument("--workers", type=int, default=DEFAULT_WORKERS, help="workers (`sandbox worker`)")
    down = commands.add_parser("down", help="stop everything and remove the cluster's leftover containers")
    down.add_argument("--grace", type=float, default=STOP_GRACE_S, help="seconds between SIGTERM and SIGKILL")
    status = commands.add_parser("status", help="what runs, where, and the key")
    status.add_argument("--json", action="store_true", help="print the status as JSON")
    commands.add_parser("key", help="print the cluster's API key (created on first use)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not one line per /healthz probe

    cluster = LocalCluster(Settings().state_dir)
    try:
        if args.command == "up":
            cluster.up(args.replicas, args.workers)
            _print_status(cluster.status())
        elif args.command == "down":
            left = cluster.down(args.grace)
            if left:
                print(f"removed {len(left)} leftover container(s): {' '.join(left)}")
            print("cluster stopped")
        elif args.command == "status":
            report = cluster.status()
            print(json.dumps(report, indent=2)) if args.json else _print_status(report)
        else:
            cluster._layout()  # a key needs the cluster's database
            print(cluster.key())
    except ServerError as exc:
        print(f"scripts/cluster {args.command}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
