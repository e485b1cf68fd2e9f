"""Sessions: one interpreter kept alive between requests, like a notebook kernel.

The interpreter is a forked child prepared like a one-shot Python program
(``program.child_setup`` and ``program.become_program``). It reads cells from
a private control pipe and answers each on a private result pipe (see
``wire.write_message``), while its stdout and stderr stay on the two pipes the
runner forwards as frames for every cell. The host's side of a session (the
``exec``, ``put``, ``get`` and ``close`` messages) is in the package docstring.

Imported only when a session opens, so one-shot containers never load it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import sys
import time

from . import processes, program, pump, wire, workspace

# The interpreter's ends of its control and result pipes; it keeps no other descriptor above stdio.
CONTROL_FD, RESULT_FD = 3, 4


def serve_session(request: wire.Request) -> int:
    """Keep one interpreter for the container's life; see the module docstring."""
    ctl_r, ctl_w = os.pipe()
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
            session_child(env, CONTROL_FD, RESULT_FD)
        finally:
            os._exit(127)
    for fd in (ctl_r, res_w, out_w, err_w, null):
        os.close(fd)
    out = {out_r: "O", err_r: "E"}
    wire.write_json(b"R", {"exit_code": 0, "session": "open"})
    alive, cell = True, 0
    while True:
        try:
            message = wire.read_request()
        except (EOFError, ValueError):
            break
        op = message.get("op")
        try:
            if op == "exec" and alive:
                cell += 1
                result = run_cell(pid, ctl_w, res_r, out, message.get("code", ""), cell, message.get("limits") or {})
                alive = not result["session_ended"]
                wire.write_json(b"R", result)
            elif op == "put":
                workspace.write_files([{"path": message["path"], "data": message.get("data", ""), "mode": 0o644}])
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


def session_child(env: dict[str, str], ctl: int, res: int) -> None:
    """The session's interpreter: run cells in one __main__ namespace until told to stop."""
    module = program.become_program(env, [""])
    while True:
        message = wire.read_message(ctl)
        if message is None:
            os._exit(program.finish_interpreter(0))
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
        wire.write_message(res, {"exit_code": status})


def run_cell(
    pid: int, ctl: int, res: int, out: dict[int, str], code: str, cell: int, limits: wire.JSONObject
) -> dict[str, object]:
    """Send one cell to the session's interpreter and forward its output until it reports back.

    The interpreter survives a cell that reports back within its caps; a cell
    that times out, overflows a cap or kills it ends the session.
    """
    cpu_before = processes.process_cpu_s(pid)
    cpu = int(limits.get("cpu_s", 0))
    if cpu > 0:
        # Soft limit only: the hard limit cannot be raised again for the next cell.
        soft = int(cpu_before) + 1 + cpu
        resource.prlimit(pid, resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
    oom_before = processes.read_oom_kills()
    start = time.monotonic()
    wire.write_message(ctl, {"code": code, "cell": cell})
    run = pump.Pump(pid, out, limits, start, reply_fd=res).run()
    ended = run.status is not None  # the pump stopped the interpreter, or it died
    if run.reply is not None:  # the cell completed, whatever became of the interpreter after
        exit_code, sig = run.reply["exit_code"], None
    else:
        status = run.status
        assert status is not None, "without a reply the pump waits for the interpreter"
        exit_code = os.WEXITSTATUS(status) if os.WIFEXITED(status) else None
        sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    cpu_used = processes.process_cpu_s(pid) if not ended else 0.0
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
    }
