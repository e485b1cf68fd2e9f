"""This server process as others can recognise it: the instance id its containers and sessions carry.

A process that dies without cleaning up (SIGKILL, OOM, power loss) leaves
containers and open session records behind. Each carries the creating
instance's identity (``Instance.label``): a random id, the host name, the
machine id, the boot id, the pid namespace, the pid and the pid's start time.
A later process can tell for sure that the creator is gone (``alive`` is
False) only when it sees the same machine, boot and pid namespace, so that the
pid means the same process: then no process with that pid and start time means
gone, and so does another boot of the same machine. Anything else (another
machine sharing the engine, another pid namespace such as a container with
``--network host``, a ``/proc`` it cannot read) is unknown (``None``), and the
creator's leftovers wait for their expiry label instead. A wrong "dead" would
remove a live server's containers; a wrong "unknown" only delays a cleanup.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path

FIELDS = 7


@dataclass(frozen=True)
class Instance:
    """One server process: ``label`` is what it writes on what it creates."""

    id: str
    host: str
    machine: str  # /etc/machine-id ("" when unknown)
    boot: str  # the kernel's boot id ("" when unknown)
    pidns: str  # the inode of this process's pid namespace ("" when unknown)
    pid: int
    started: str  # the pid's start time in clock ticks since boot ("" when unknown)

    @property
    def label(self) -> str:
        return "/".join((self.id, self.host, self.machine, self.boot, self.pidns, str(self.pid), self.started))

    @classmethod
    def parse(cls, label: str) -> Instance | None:
        """The instance a label names; ``None`` for a garbled or foreign label."""
        parts = label.split("/")
        if len(parts) != FIELDS or not parts[5].isdigit():
            return None
        return cls(parts[0], parts[1], parts[2], parts[3], parts[4], int(parts[5]), parts[6])

    def alive(self) -> bool | None:
        """True or False when this process can tell for sure; ``None`` otherwise (see the module docstring)."""
        me = current()
        if self == me:
            return True
        if not (self.machine and self.machine == me.machine and self.host == me.host):
            return None
        if self.boot and me.boot and self.boot != me.boot:
            return False  # this machine booted again: every process of that boot is gone
        if not (self.boot and self.boot == me.boot and self.pidns and self.pidns == me.pidns and self.started):
            return None
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            pass  # a process we may not signal exists: compare start times
        started = _start_time(self.pid)
        if started is None:
            return None  # /proc hidden (hidepid) or gone between the two checks: not sure
        return started == self.started


@cache
def current() -> Instance:
    """This process (computed once; a forked child computes its own, see ``reset``)."""
    pid = os.getpid()
    return Instance(
        uuid.uuid4().hex[:12],
        socket.gethostname()[:64].replace("/", "_"),
        _read("/etc/machine-id")[:32],
        _read("/proc/sys/kernel/random/boot_id").replace("-", "")[:32],
        _pidns(),
        pid,
        _start_time(pid) or "",
    )


def reset() -> None:
    """Forget the cached identity: a forked child is another instance."""
    current.cache_clear()


os.register_at_fork(after_in_child=reset)


def _read(path: str) -> str:
    try:
        return Path(path).read_text().strip()
    except OSError:
        return ""


def _pidns() -> str:
    try:
        return str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:
        return ""


def _start_time(pid: int) -> str | None:
    """Field 22 of /proc/<pid>/stat (after the parenthesised name, which may hold spaces)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat.rpartition(")")[2].split()
    return fields[19] if len(fields) > 19 else None
