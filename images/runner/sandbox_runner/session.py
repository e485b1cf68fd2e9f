"""Sessions: one interpreter kept alive between requests, like a notebook kernel.

The interpreter is a forked child prepared like a one-shot Python program
(``program.child_setup`` and ``program.become_program``). It reads cells from
a private control pipe and answers each on a private result pipe (see
``wire.write_message``), while its stdout and stderr stay on the two pipes the
runner forwards as frames for every cell. The host's side of a session (the
``exec``, ``put``, ``get`` and ``close`` messages) is in the package docstring.

What holds between calls:

- Nothing of the program runs. When a call is answered, every other process
  in the container is stopped (``processes.stop_everything_else``: SIGSTOP,
  which no program can catch, and a check that all stay stopped); the next
  cell continues them. Threads and processes a cell left running therefore
  run only while a later cell runs, under its wall and CPU limits. File
  operations run with the program stopped. A program that cannot be stopped
  (it keeps continuing itself) is killed and its session ends.
- The session's CPU is held to its lifetime budget (the opening request's
  ``session.cpu_s``): the container's cgroup CPU since the session opened,
  checked while a cell runs and after it; past the budget, every process is
  killed and the session ends (``session_end: "cpu_budget"``). The
  interpreter's hard RLIMIT_CPU, two seconds past the budget, is a backstop.
- The result pipe is the program's too (it runs in the interpreter): the
  runner reads it without blocking and takes only this cell's well-formed
  reply (``wire.ReplyReader``); anything else kills the interpreter and ends
  the session (``session_end: "reply"``).

Imported only when a session opens, so one-shot containers never load it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sys
import time

from . import imports, processes, program, pump, wire, workspace

# The interpreter's ends of its control and result pipes; it keeps no other descriptor above stdio.
CONTROL_FD, RESULT_FD = 3, 4
#: The interpreter's hard RLIMIT_CPU is the session's CPU budget plus this many seconds.
BACKSTOP_S = 2


class Session:
    """The runner's side of one session: the interpreter, its pipes, the budget, the freeze."""

    def __init__(self, request: wire.Request) -> None:
        options = request.get("session") or {}
        self.freeze = bool(options.get("freeze", True))
        self.budget_s = max(int(options.get("cpu_s", 0)), 0)
        self.cpu_base = processes.container_cpu_ns() or 0
        # Under an enforcing policy: the digests of the validated sources the interpreter may import
        # from the workdir (see ``imports``); an upload adds its own, passed on with the next cell.
        digests = imports.validated_digests(request.get("files") or []) if request.get("validated_imports") else None
        self.digests = digests
        self.uploaded: list[str] = []
        ctl_r, self.ctl = os.pipe()
        res_r, res_w = os.pipe()
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        null = os.open(os.devnull, os.O_RDONLY)
        pid = os.fork()
        if pid == 0:
            try:
                os.dup2(ctl_r, CONTROL_FD)
                os.dup2(res_w, RESULT_FD)
                env = program.child_setup(request, null, out_w, err_w, keep=RESULT_FD + 1)
                session_child(env, CONTROL_FD, RESULT_FD, digests)
            finally:
                os._exit(127)
        for fd in (ctl_r, res_w, out_w, err_w, null):
            os.close(fd)
        self.pid = pid
        self.replies = wire.ReplyReader(res_r)
        self.out = {out_r: "O", err_r: "E"}
        self.alive = True
        self.cell = 0
        if self.budget_s:
            # A backstop for the interpreter itself, past the budget: the cgroup checks come first and
            # say why (measured: the kernel's RLIMIT_CPU fired ~0.3 s before the process's own clock).
            hard = self.budget_s + BACKSTOP_S
            resource.prlimit(pid, resource.RLIMIT_CPU, (hard, hard))

    def put(self, path: str, data: str) -> None:
        """An upload into the workdir (the host validated it if the policy enforces)."""
        upload = {"path": path, "data": data, "mode": 0o644}
        workspace.write_files([upload])
        if self.digests is not None:
            self.uploaded.extend(imports.validated_digests([upload]))

    def cpu_used_ns(self) -> int:
        """The container's CPU since the session opened."""
        now = processes.container_cpu_ns()
        return max(now - self.cpu_base, 0) if now is not None else 0

    def execute(self, code: str, limits: wire.JSONObject) -> dict[str, object]:
        """One cell, with the program continued for it and stopped again after it."""
        self.cell += 1
        if self.freeze:
            processes.continue_everything_else()
        limit_ns = self.cpu_base + self.budget_s * 10**9 if self.budget_s else None
        validated, self.uploaded = self.uploaded, []
        result = run_cell(self.pid, self.ctl, self.replies, self.out, code, self.cell, limits, limit_ns, validated)
        end = result.pop("end")
        used_ns = self.cpu_used_ns()
        if end is None and self.budget_s and used_ns >= self.budget_s * 10**9:
            end = "cpu_budget"
        if end is None and not result["session_ended"] and self.freeze and not processes.stop_everything_else():
            end = "unfreezable"
        if end is not None or result["session_ended"]:
            # The interpreter is gone or must go: nothing the program started may outlive it.
            processes.kill_everything_else()
            processes.reap_children(self.pid)
            result["session_ended"] = True
        if end == "cpu_budget":
            result["cpu_limit_hit"] = True
        self.alive = not result["session_ended"]
        result["session_end"] = end
        result["session_cpu_ms"] = used_ns // 10**6
        return result


def serve_session(request: wire.Request) -> int:
    """Keep one interpreter for the container's life; see the module docstring."""
    session = Session(request)
    if session.freeze and not processes.stop_everything_else():
        processes.kill_everything_else()
        session.alive = False
    wire.write_json(b"R", {"exit_code": 0, "session": "open"})
    while True:
        try:
            message = wire.read_request()
        except (EOFError, ValueError):
            break
        op = message.get("op")
        try:
            if op == "exec" and session.alive:
                wire.write_json(b"R", session.execute(message.get("code", ""), message.get("limits") or {}))
            elif op == "put":
                session.put(message["path"], message.get("data", ""))
                wire.write_json(b"R", {"ok": True})
            elif op == "get":
                wire.write_frame(b"F", workspace.read_file(message["path"]))
                wire.write_json(b"R", {"ok": True})
            elif op == "close":
                break
            else:
                reason = "the session has ended" if op == "exec" else f"unknown operation {op!r}"
                wire.write_error(reason)
        except Exception as exc:
            wire.write_error(f"{type(exc).__name__}: {exc}")
    processes.kill_everything_else()
    return 0


def session_child(env: dict[str, str], ctl: int, res: int, digests: set[str] | None = None) -> None:
    """The session's interpreter: run cells in one __main__ namespace until told to stop."""
    module = program.become_program(env, [""])
    guard = imports.install(digests) if digests is not None else None
    while True:
        message = wire.read_message(ctl)
        if message is None:
            os._exit(program.finish_interpreter(0))
        if guard is not None:
            guard.digests.update(message.get("validated") or ())
        try:
            code = compile(message["code"], f"<cell {message['cell']}>", "exec", dont_inherit=True)
            exec(code, module.__dict__)
            status = 0
        except SystemExit as exc:
            status = program.exit_status(exc)
        except BaseException as exc:
            program.report(exc)
            status = 1
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        wire.write_message(res, {"cell": message["cell"], "exit_code": status})


def run_cell(
    pid: int,
    ctl: int,
    replies: wire.ReplyReader,
    out: dict[int, str],
    code: str,
    cell: int,
    limits: wire.JSONObject,
    cpu_limit_ns: int | None = None,
    validated: list[str] | None = None,
) -> dict[str, object]:
    """Send one cell to the session's interpreter and forward its output until it reports back.

    The interpreter survives a cell that reports back within its caps; a cell
    that times out, overflows a cap, passes the CPU budget, breaks the result
    pipe or kills the interpreter ends the session. ``end`` in the result says
    why when the runner ended it for the session's sake (``"cpu_budget"``, ``"reply"``).
    """
    cpu_before = processes.process_cpu_s(pid)
    cpu = int(limits.get("cpu_s", 0))
    if cpu > 0:
        # Soft limit only: the hard limit cannot be raised again for the next cell.
        hard = resource.prlimit(pid, resource.RLIMIT_CPU)[1]
        soft = int(cpu_before) + 1 + cpu
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.prlimit(pid, resource.RLIMIT_CPU, (soft, hard))
    oom_before = processes.read_oom_kills()
    start = time.monotonic()
    run = pump.Pump(
        pid,
        out,
        limits,
        start,
        stdin=wire.encode_message({"code": code, "cell": cell, "validated": validated or []}),
        stdin_fd=ctl,
        keep_stdin=True,
        replies=replies,
        cell=cell,
        cpu_limit_ns=cpu_limit_ns,
    ).run()
    ended = run.status is not None  # the pump stopped the interpreter, or it died
    if run.reply is not None and not run.broken:  # the cell completed, whatever became of the interpreter after
        exit_code, sig = run.reply["exit_code"], None
    else:
        status = run.status
        assert status is not None, "without a reply the pump waits for the interpreter, or stops it"
        exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    cpu_used = processes.process_cpu_s(pid) if not ended else 0.0
    end = "cpu_budget" if run.cpu_exhausted else "reply" if run.broken else None
    return {
        "exit_code": exit_code,
        "signal": sig,
        "wall_ms": int((time.monotonic() - start) * 1000),
        "cpu_ms": int(max(cpu_used - cpu_before, 0) * 1000),
        "peak_memory_bytes": processes.process_peak_rss(pid) if not ended else 0,
        **run.flags(),
        "cpu_limit_hit": sig == signal.SIGXCPU or (cpu > 0 and sig == signal.SIGKILL and cpu_used >= cpu),
        "oom_killed": processes.read_oom_kills() > oom_before,
        "session_ended": ended,
        "end": end,
    }
