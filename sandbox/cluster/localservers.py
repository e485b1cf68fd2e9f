"""Real PostgreSQL and Redis servers on loopback, for ``scripts/cluster`` and the tests.

Debian's packages (installed by ``scripts/install``) give the binaries; each server here is
started by us, as a child of nobody (``start_new_session``), with its data under a directory
we own and its pid in a file, so ``scripts/cluster down`` (another process) can stop it.
Not for production: no TLS, trust authentication on loopback, fsync off for PostgreSQL.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Debian runs PostgreSQL as this user; the server refuses to run as root.
PG_USER = "postgres"


class ServerError(RuntimeError):
    """A local server could not be found, started or stopped: the message says which and why."""


def free_port() -> int:
    """A TCP port on loopback that nothing listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


def _wait_until(check: Callable[[], bool], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise ServerError(f"{what} did not come up within {timeout_s:g} s")
        time.sleep(0.05)


def _pid_alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie does not: reaped here when it is our own child)."""
    with contextlib.suppress(ChildProcessError):
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    try:
        if Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z":
            return False
    except (OSError, IndexError):
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_pid(pid_file: Path, sig: int = signal.SIGTERM, timeout_s: float = 15.0) -> None:
    """Signal the pid in ``pid_file`` and wait until it is gone (SIGKILL after ``timeout_s``)."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
    deadline = time.monotonic() + timeout_s
    while _pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if _pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
        while _pid_alive(pid):
            time.sleep(0.05)
    with contextlib.suppress(OSError):
        pid_file.unlink()


def _reap(server: LocalRedis | LocalPostgres) -> None:
    if server.process is not None:
        with contextlib.suppress(subprocess.TimeoutExpired):
            server.process.wait(timeout=5)
        server.process = None


@dataclass
class LocalRedis:
    """``redis-server`` on ``127.0.0.1:port``, data dir ``root``: an append-only file, so a restart keeps the
    queue, the consumer group and the session directory (as a production Redis should)."""

    root: Path
    port: int
    #: The server we started (kept so it is waited for, not garbage-collected while it runs).
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def pid_file(self) -> Path:
        return self.root / "redis.pid"

    def start(self) -> LocalRedis:
        binary = shutil.which("redis-server")
        if binary is None:
            raise ServerError("redis-server is not installed: run scripts/install (Debian's redis-server package)")
        self.root.mkdir(parents=True, exist_ok=True)
        if self.running():
            return self
        command = [
            binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
            "--appendonly", "yes", "--appendfsync", "everysec",
            "--dir", str(self.root), "--pidfile", str(self.pid_file), "--daemonize", "no",
            "--logfile", str(self.root / "redis.log"), "--protected-mode", "yes",
        ]  # fmt: skip
        self.process = process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        self.pid_file.write_text(str(process.pid))
        _wait_until(lambda: _listening(self.port) or process.poll() is not None, 15, "redis-server")
        if process.poll() is not None:
            raise ServerError(f"redis-server exited with {process.returncode}; see {self.root / 'redis.log'}")
        return self

    def running(self) -> bool:
        return self.pid_file.exists() and _listening(self.port)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        _stop_pid(self.pid_file, sig)
        _reap(self)


def _pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise ServerError("PostgreSQL is not installed: run scripts/install (Debian's postgresql package)")
    return found[-1]  # the newest major version


@dataclass
class LocalPostgres:
    """A PostgreSQL cluster of our own under ``root`` on ``127.0.0.1:port`` (database ``sandbox``)."""

    root: Path
    port: int
    database: str = "sandbox"
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False, compare=False)

    @property
    def url(self) -> str:
        return f"postgresql+psycopg://{PG_USER}@127.0.0.1:{self.port}/{self.database}"

    @property
    def data(self) -> Path:
        """The cluster's files: under ``root``, or (root only) a link from there to where the postgres user
        can reach them: a state directory under ``/root`` or a private temporary one is closed to it."""
        return self.root / "data"

    def _place_data(self) -> None:
        if self.data.exists() or os.geteuid() != 0:
            self.data.mkdir(parents=True, exist_ok=True)
            return
        reachable = subprocess.run(["test", "-x", str(self.root)], check=False, **self._as_pg())
        if reachable.returncode == 0:
            self.data.mkdir(parents=True, exist_ok=True)
            return
        home = Path(pwd.getpwnam(PG_USER).pw_dir) / "sandbox-clusters"
        elsewhere = home / f"{self.root.name}-{os.urandom(6).hex()}"
        elsewhere.mkdir(parents=True)
        entry = pwd.getpwnam(PG_USER)
        for path in (home, elsewhere):
            os.chown(path, entry.pw_uid, entry.pw_gid)
        self.data.symlink_to(elsewhere, target_is_directory=True)

    def remove(self) -> None:
        """Delete the cluster's files (stopped first), wherever they are."""
        self.stop()
        if self.data.is_symlink():
            shutil.rmtree(self.data.resolve(), ignore_errors=True)
            self.data.unlink()
        shutil.rmtree(self.root, ignore_errors=True)

    def _as_pg(self) -> dict[str, Any]:
        """Run a child as the postgres user when we are root (initdb and postgres refuse root)."""
        if os.geteuid() != 0:
            return {}
        entry = pwd.getpwnam(PG_USER)
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _own(self) -> None:
        if os.geteuid() == 0:
            entry = pwd.getpwnam(PG_USER)
            for path in (self.data,):
                if path.exists() and not path.is_symlink():
                    os.chown(path, entry.pw_uid, entry.pw_gid)

    def start(self) -> LocalPostgres:
        self.root.mkdir(parents=True, exist_ok=True)
        if self.running():
            return self
        if not (self.data / "PG_VERSION").exists():
            self._place_data()
            self._own()
            os.chmod(self.data, 0o700)
            subprocess.run(
                [_pg_bin("initdb"), "-D", str(self.data.resolve()), "-U", PG_USER, "--auth=trust", "--no-sync"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, **self._as_pg(),
            )  # fmt: skip
        self._own()
        data = self.data.resolve()  # the postgres user may reach it only by its real path
        log = data / "postgres.log"
        with contextlib.suppress(OSError):
            log.touch()
            if os.geteuid() == 0:
                entry = pwd.getpwnam(PG_USER)
                os.chown(log, entry.pw_uid, entry.pw_gid)
        options = [
            "-D", str(data), "-p", str(self.port), "-c", "listen_addresses=127.0.0.1",
            "-c", f"unix_socket_directories={data}", "-c", "fsync=off", "-c", "synchronous_commit=off",
            "-c", "full_page_writes=off", "-c", "max_connections=200",
        ]  # fmt: skip
        with open(log, "ab") as out:
            self.process = process = subprocess.Popen(
                [_pg_bin("postgres"), *options],
                stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True,
                **self._as_pg(),
            )  # fmt: skip
        (self.root / "postgres.pid").write_text(str(process.pid))
        _wait_until(lambda: self._accepts() or process.poll() is not None, 30, "postgres")
        if process.poll() is not None:
            raise ServerError(f"postgres exited with {process.returncode}; see {log}")
        self._create_database()
        return self

    def _accepts(self) -> bool:
        if not _listening(self.port):
            return False
        probe = subprocess.run(
            [_pg_bin("pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        return probe.returncode == 0

    def _create_database(self) -> None:
        psql = [_pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.port), "-U", PG_USER, "-d", "postgres", "-tAc"]
        exists = subprocess.run(
            [*psql, f"SELECT 1 FROM pg_database WHERE datname = '{self.database}'"],
            capture_output=True, text=True, check=True,
        )  # fmt: skip
        if exists.stdout.strip() != "1":
            subprocess.run([*psql, f'CREATE DATABASE "{self.database}"'], capture_output=True, check=True)

    def running(self) -> bool:
        return (self.root / "postgres.pid").exists() and self._accepts()

    def stop(self, sig: int = signal.SIGINT) -> None:
        """SIGINT: PostgreSQL's fast shutdown (clients are disconnected, nothing is lost)."""
        _stop_pid(self.root / "postgres.pid", sig, timeout_s=30)
        _reap(self)
