"""A pre-started runtime: the program's process, started while the container waits for its request.

Some runtimes spend most of a hello world starting themselves (Debian's Node.js
has no start-up snapshot: ``node -e 1`` costs ~200 ms of CPU). A language may
therefore declare a preload in its ``image.toml``, say
``preload = ["node", "/opt/sandbox/preload/node.js"]``: a command that starts
the runtime and then waits for one message naming the program to run. The host
passes it to the container as the environment variable ``SANDBOX_PRELOAD`` (a
JSON list of strings); the runner starts it right after the hello frame, so it
is ready when the request arrives (after the hello rather than before: the
hello, which the host waits for, is not delayed by the fork, and in a warm
container the runtime is up long before any request either way). Nothing here knows the language: a bootstrap
in the language's folder does its part (see ``images/javascript/preload.js``).

The preload is spawned exactly as a program is (``program.spawn``: own session,
stdio on fresh pipes, seccomp, OOM score, the workdir, the base environment,
no descriptor of the runner's), with one more: the read end of a private pipe
as descriptor ``GO_FD`` (3), on which it reads ONE message (``wire``'s private
format: u32 length, JSON) ``{"argv": [...], "env": {...}}``. It gets no
request-specific rlimit until the request is known. The runner only writes to
that pipe and closes it after the message, so nothing the program does can
reach the runner through it.

A request uses the preload (``take``) when it is an exec-mode run without a
compile stage whose ``argv[0]`` is the preload's and whose ``argv[1]`` is a
script, not an option (``node main.js ...``): the preload stands for
``<argv[0]> <script> [args...]``. Only the first run of a request does (in
tests mode: the first case; later cases are spawned normally). Any other
request kills the waiting preload first (``discard``), as does a preload that
has died, or cannot take the request's rlimits or message: the program is then
spawned normally. The go (``go``): the request's rlimits are set on the waiting
process with ``prlimit`` (CPU: the preload's whole seconds so far added, so
that the kernel's limit is never short of the program's own ``cpu_s``; the
pump sends SIGXCPU when the program's own CPU reaches ``cpu_s``), its CPU so
far is read (the result's ``cpu_ms`` leaves it out), and the message is
written; the run's wall time starts then.
"""

from __future__ import annotations

import os
import resource

from . import processes, program, wire

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    import signal
else:  # the C module: ``signal`` itself imports ``enum`` (milliseconds of every container's start)
    import _signal as signal

ENV_VAR = "SANDBOX_PRELOAD"
GO_FD = 3
#: A go message is written without blocking, in one piece: at most what a fresh pipe holds.
MAX_GO_BYTES = 64 << 10


class Preload:
    """A started preload: its pid, its stdio pipes and the write end of its go pipe."""

    def __init__(self, argv: list[str]) -> None:
        self.argv = argv
        go_r, self.go_w = os.pipe()
        try:
            self.pid, self.stdin_w, self.stdout_r, self.stderr_r = program.spawn(
                {"mode": "exec", "argv": argv}, go_fd=go_r
            )
        finally:
            os.close(go_r)
        #: Its CPU seconds when the go was sent: not the program's.
        self.cpu_before_go = 0.0

    def serves(self, request: wire.Request) -> bool:
        """Whether the request's program is ``<our argv[0]> <script> [args...]`` (see the module docstring)."""
        argv = request.get("argv") or []
        return (
            request.get("mode") == "exec"
            and not request.get("compile")
            and len(argv) >= 2
            and str(argv[0]) == self.argv[0]
            and not str(argv[1]).startswith("-")
        )

    def alive(self) -> bool:
        """Not exited (nothing reaps it before its run: the runner's only child until then)."""
        try:
            return os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None
        except ChildProcessError:
            return False

    def go(self, request: wire.Request, env: dict[str, str]) -> bool:
        """Set the request's rlimits on the preload and send it the program; False if it cannot take them."""
        limits = request.get("limits") or {}
        message = wire.encode_message({"argv": [str(a) for a in request["argv"]], "env": env})
        if len(message) > MAX_GO_BYTES or not self.alive():
            return False
        try:
            used = processes.process_cpu_s(self.pid)
            cpu = int(limits.get("cpu_s", 0))
            if cpu > 0:
                soft = cpu + int(used) + (used > int(used))  # whole seconds, rounded up
                resource.prlimit(self.pid, resource.RLIMIT_CPU, (soft, soft + 1))
            for name, limit in (("fsize_bytes", resource.RLIMIT_FSIZE), ("nofile", resource.RLIMIT_NOFILE)):
                value = int(limits.get(name, 0))
                if value > 0:
                    resource.prlimit(self.pid, limit, (value, value))
            self.cpu_before_go = processes.process_cpu_s_precise(self.pid)
            os.set_blocking(self.go_w, False)
            written = os.write(self.go_w, message)
        except (OSError, ValueError):  # gone meanwhile (EPIPE, ESRCH), a limit it may not have, a full pipe
            return False
        os.close(self.go_w)
        self.go_w = -1
        return written == len(message)

    def kill(self) -> None:
        """SIGKILL and reap it (it ran none of the program's code), and close the runner's ends."""
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(self.pid, 0)
        except ChildProcessError:
            pass
        for fd in (self.go_w, self.stdin_w, self.stdout_r, self.stderr_r):
            if fd >= 0:
                os.close(fd)
        self.go_w = -1


_waiting: Preload | None = None


def start() -> None:
    """Start the preload that ``SANDBOX_PRELOAD`` names, if any (a bad value: none)."""
    global _waiting
    value = os.environ.get(ENV_VAR)
    if not value or _waiting is not None:
        return
    try:
        argv = wire.loads(value)
        if not isinstance(argv, list) or not argv or not all(isinstance(a, str) and a for a in argv):
            return
        _waiting = Preload(argv)
    except (OSError, ValueError):
        _waiting = None


def take(request: wire.Request) -> Preload | None:
    """The waiting preload if it serves ``request`` and is alive; else None, and none waits any more."""
    global _waiting
    waiting, _waiting = _waiting, None
    if waiting is None:
        return None
    if waiting.serves(request) and waiting.alive():
        return waiting
    waiting.kill()
    return None


def discard() -> None:
    """Kill the waiting preload, if any (a request it does not serve)."""
    take({})
