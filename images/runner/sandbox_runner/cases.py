"""Tests mode: the program (compiled once) run once per test case, each case in a fresh workdir.

Each case gets the request's limits, its own stdin and extra arguments, and
the workdir as it was before the first case (a copy taken after the compile:
what one case writes, the next does not see); /tmp is emptied and every
process of the previous case is gone (``runs.run_program`` clears the
container after each run). Its output is kept by the runner: the heads
(``head_bytes``) go to the host in the case's ``T`` frame, and the whole of
stdout (within the request's cap) is normalised and hashed: the case's frame
carries ``stdout_sha256``, and the host compares it with the expected output's.
The expected outputs never enter the container: a program (a Python case is a
fork of the runner, with the request in its memory) cannot read its answers.

The comparison (``normalise``, the same on the host): trailing whitespace at
the end of every line and blank lines at the end are ignored; everything else,
leading spaces and blank lines in between included, must match byte for byte.

Between cases, what a case could leave for the next outside the workdir and
/tmp goes too (``reset_shared_state``): /dev/shm, POSIX message queues, System V
shared memory, queues and semaphores (the container has its own IPC namespace),
and the extended attributes of the workdir itself.

A workdir that cannot be reset (a tree deeper than the runner follows) ends
the run: the remaining cases are reported as not run.
"""

from __future__ import annotations

import binascii
import os

from . import imports, preload, runs, wire, workspace

DEFAULT_HEAD = 8 << 10
#: Where a case can leave IPC objects for the next: cleared with the workdir.
SHARED_DIRS = ("/dev/shm", "/dev/mqueue")
SYSV_IPC = ("shm", "msg", "sem")


def normalise(output: bytes) -> bytes:
    """What the comparison sees of an output: see the module docstring."""
    lines = output.replace(b"\r\n", b"\n").split(b"\n")
    return b"\n".join(line.rstrip() for line in lines).rstrip(b"\n")


def run_cases(request: wire.Request, waiting: preload.Preload | None = None) -> dict[str, object]:
    """Run every case (a ``T`` frame each); the result frame's fields (``cases``: how many ran).

    ``waiting``: a preload for the first case (later cases are spawned: a preload started after a
    case would not be ready before the next one, and its start-up would be that case's CPU).
    """
    tests = request["tests"]
    head = int(request.get("head_bytes", DEFAULT_HEAD))
    saved: list[tuple[str, int, bytes | bytearray | None]] = []
    unsaved = ""
    if len(tests) > 1:
        try:
            saved = workspace.snapshot()
        except (OSError, ValueError) as exc:  # a file the compile made unreadable, or one that changed
            unsaved = f"the workdir could not be copied for the next cases: {exc}"
    base_argv = list(request.get("argv") or [])
    ran = 0
    if not tests and waiting is not None:
        waiting.kill()
    for index, case in enumerate(tests):
        if index:
            if unsaved:
                return {"cases": ran, "reset_failed": unsaved}
            try:
                workspace.clear(workspace.WORKDIR)
                workspace.reset_tmp()
                reset_shared_state()
                workspace.restore(saved)
            except (OSError, ValueError) as exc:
                return {"cases": ran, "reset_failed": f"the workdir could not be reset after case {index - 1}: {exc}"}
        output: dict[str, bytearray] = {"O": bytearray(), "E": bytearray()}

        def keep(kind: str, data: bytes, output: dict[str, bytearray] = output) -> None:
            # stdout is kept whole (the pump's cap bounds it) for the comparison; stderr only its head
            if kind == "O" or len(output["E"]) < head:
                output[kind].extend(data if kind == "O" else data[: head - len(output["E"])])

        run = {**request, "argv": [*base_argv, *(str(a) for a in case.get("args") or [])]}
        stdin = binascii.a2b_base64(case.get("stdin") or "")
        fields = runs.run_program(run, stdin, sink=keep, waiting=waiting if index == 0 else None)
        digest = imports.digest(normalise(bytes(output["O"])))
        wire.write_json(
            b"T",
            {
                "index": index,
                **fields,
                "stdout": binascii.b2a_base64(bytes(output["O"][:head]), newline=False).decode(),
                "stderr": binascii.b2a_base64(bytes(output["E"]), newline=False).decode(),
                "stdout_bytes": len(output["O"]),
                "stdout_sha256": digest,
            },
        )
        ran += 1
    return {"cases": ran}


def reset_shared_state() -> None:
    """Remove what a case could leave for the next besides files: IPC objects, the workdir's xattrs.

    Every process of the case is gone. Where a kernel (gVisor) has none of these, nothing is done.
    """
    for directory in SHARED_DIRS:
        if os.path.isdir(directory):
            workspace.clear(directory)
    for kind in SYSV_IPC:
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                ids = [int(line.split()[1]) for line in list(table)[1:] if line.strip()]
        except (OSError, ValueError, IndexError):
            continue
        if ids:
            import ctypes

            libc = ctypes.CDLL(None, use_errno=True)
            remove = {"shm": libc.shmctl, "msg": libc.msgctl, "sem": libc.semctl}[kind]
            for number in ids:
                remove(number, 0, 0)  # IPC_RMID (semctl's second argument is the semaphore number: any)
    try:
        for name in os.listxattr(workspace.WORKDIR, follow_symlinks=False):
            os.removexattr(workspace.WORKDIR, name, follow_symlinks=False)
    except OSError:
        pass
