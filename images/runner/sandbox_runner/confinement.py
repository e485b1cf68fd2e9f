"""What the program is held to and the runner is not: seccomp, rlimits, OOM score, dumpable flag.

Docker confines the whole container; these layers sit on top of it and apply to
the program only, set in its forked child before it runs. The runner itself
stays unlimited (it must outlive the program to report), and non-dumpable, so
the program can neither ptrace it nor open its descriptors through ``/proc``.

The filter is built once per container, before the request (``prepare_seccomp``:
the BPF program, ``ctypes`` and the ``sock_fprog`` structure that points at it),
so that a forked child only makes the two ``prctl`` calls.
"""

from __future__ import annotations

import os
import resource
import struct

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from ctypes import CDLL

    from . import wire

# A second seccomp layer, on top of Docker's profile, for the program only: syscalls
# the engine's default profile allows although sandboxed code has no use for them
# and they widen the kernel surface (io_uring) or reach other processes (ptrace).
DENIED_SYSCALLS = {
    # name: (x86_64, aarch64)
    "ptrace": (101, 117),
    "process_vm_readv": (310, 270),
    "process_vm_writev": (311, 271),
    "io_uring_setup": (425, 425),
    "io_uring_enter": (426, 426),
    "io_uring_register": (427, 427),
    "userfaultfd": (323, 282),
    "perf_event_open": (298, 241),
    "bpf": (321, 280),
    "keyctl": (250, 219),
    "add_key": (248, 217),
    "request_key": (249, 218),
}
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}


def seccomp_filter() -> bytes | None:
    """A classic-BPF seccomp program: EPERM for DENIED_SYSCALLS and for every other ABI
    (i386 via int 0x80, x32), allow the rest."""
    machine = os.uname().machine
    if machine not in AUDIT_ARCH:
        return None
    column = 0 if machine == "x86_64" else 1
    denied = sorted({numbers[column] for numbers in DENIED_SYSCALLS.values()})
    ld, jeq, jge, ret = 0x20, 0x15, 0x35, 0x06
    allow, eperm = 0x7FFF0000, 0x00050000 | 1
    checks = [(jge, len(denied) + 1, 0, 0x40000000)] if machine == "x86_64" else []  # x32: EPERM
    checks += [(jeq, len(denied) - index, 0, number) for index, number in enumerate(denied)]
    # [arch] [!= ours: to EPERM] [nr] checks... [allow] [eperm]
    prog = [(ld, 0, 0, 4), (jeq, 0, len(checks) + 2, AUDIT_ARCH[machine]), (ld, 0, 0, 0), *checks]
    prog += [(ret, 0, 0, allow), (ret, 0, 0, eperm)]
    return b"".join(struct.pack("HBBI", *instruction) for instruction in prog)


class _Prepared:
    """libc through ctypes, and the filter as ``prctl`` takes it (None: no filter for this machine)."""

    def __init__(self) -> None:
        import ctypes

        self.ctypes = ctypes
        self.libc: CDLL = ctypes.CDLL(None, use_errno=True)
        program = seccomp_filter()
        self.fprog_ref: object = None
        if program is not None:

            class SockFprog(ctypes.Structure):
                _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

            # Kept on the instance: the structure points into the buffer.
            self.buffer = ctypes.create_string_buffer(program)
            self.fprog = SockFprog(len(program) // 8, ctypes.addressof(self.buffer))
            self.fprog_ref = ctypes.byref(self.fprog)


_prepared: _Prepared | None = None


def prepare_seccomp() -> _Prepared:
    """Build the filter and load ctypes once, before any fork (idempotent)."""
    global _prepared
    if _prepared is None:
        _prepared = _Prepared()
    return _prepared


def install_seccomp() -> None:
    """Load ``seccomp_filter()`` into this process (the program's child) and everything it starts."""
    prepared = prepare_seccomp()
    if prepared.fprog_ref is None:
        return
    prepared.libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS (Docker has set it already)
    if prepared.libc.prctl(22, 2, prepared.fprog_ref, 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(prepared.ctypes.get_errno(), "cannot install the seccomp filter")


def set_child_limits(limits: wire.JSONObject) -> None:
    """The request's rlimits (CPU, file size, open files), no core dumps, first in line for the OOM killer."""
    cpu = int(limits.get("cpu_s", 0))
    if cpu > 0:
        # SIGXCPU at the soft limit, SIGKILL one second later at the hard limit.
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    fsize = int(limits.get("fsize_bytes", 0))
    if fsize > 0:
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize, fsize))
    nofile = int(limits.get("nofile", 0))
    if nofile > 0:
        resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    try:
        # Make the program, not the runner, the OOM killer's choice.
        fd = os.open("/proc/self/oom_score_adj", os.O_WRONLY)
        try:
            os.write(fd, b"1000")
        finally:
            os.close(fd)
    except OSError:
        pass


def set_dumpable(flag: bool) -> None:
    """PR_SET_DUMPABLE: off for the runner (no ptrace, no /proc/<runner>/fd), back on in the program."""
    try:
        prepare_seccomp().libc.prctl(4, 1 if flag else 0, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass
