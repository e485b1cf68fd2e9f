"""This server process as others can recognise it: the instance id its containers and sessions carry.

A process that dies without cleaning up (SIGKILL, OOM, power loss) leaves
containers and open session records behind. Each carries the creating
instance's identity (``Instance.label``): a random id, the host name, the
boot id, the pid and the pid's start time. Any later process on the same host
can then tell for sure whether that instance is gone (``alive``): another boot,
or no process with that pid and start time. An instance on another host (or in
another pid namespace with another host name) is unknown (``None``): its
leftovers wait for their expiry label instead.
"""

from __future__ import annotations

import os
import socket
import uuid
from dataclasses import dataclass
from functools import cache
from pathlib import Path


@dataclass(frozen=True)
class Instance:
    """One server process: ``label`` is what it writes on what it creates."""

    id: str
    host: str
    boot: str
    pid: int
    started: str  # the pid's start time in clock ticks since boot ("" when unknown)

    @property
    def label(self) -> str:
        return f"{self.id}/{self.host}/{self.boot}/{self.pid}/{self.started}"

    @classmethod
    def parse(cls, label: str) -> Instance | None:
        """The instance a label names; ``None`` for a garbled or foreign label."""
        parts = label.split("/")
        if len(parts) != 5 or not parts[3].isdigit():
            return None
        return cls(parts[0], parts[1], parts[2], int(parts[3]), parts[4])

    def alive(self) -> bool | None:
        """True or False when this host can tell; ``None`` for an instance of another host."""
        me = current()
        if self.host != me.host:
            return None
        if self.boot != me.boot:
            return False  # same host, another boot: every process of that boot is gone
        if self == me:
            return True
        started = _start_time(self.pid)
        return started is not None and started == self.started


@cache
def current() -> Instance:
    """This process (computed once; a forked worker calls ``reset`` to become itself)."""
    pid = os.getpid()
    return Instance(uuid.uuid4().hex[:12], socket.gethostname()[:64], _boot_id(), pid, _start_time(pid) or "")


def reset() -> None:
    """Forget the cached identity (after a fork, the child is another instance)."""
    current.cache_clear()


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip().replace("-", "")[:16]
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
