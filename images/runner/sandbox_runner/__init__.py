"""In-container runner: one request in, framed output and one result out.

Stdlib only: this package is copied into every runtime image as
``/opt/sandbox/sandbox_runner/``, compiled to byte code there, and imported by
``python3 -I -S -B -c "...; import sandbox_runner; sys.exit(sandbox_runner.main())"``
(see ``RUNNER_COMMAND``). It is the container's PID 1 and its only process
until a request arrives. Being PID 1 is deliberate: the
kernel ignores signals sent to a namespace's init from inside it, so the program
cannot kill or stop the runner; and the runner is non-dumpable, so the program
cannot ptrace it or open its descriptors (the container's stdin and stdout, the
protocol channel). As init it also reaps orphaned processes. Once its last frame
is written it ends at once (``boot.leave``: no interpreter finalization), which
ends the container before the host comes to remove it.

Modules, one concept each
=========================

    boot         the hello frame, then ``site`` as ``python3`` runs it (before any other import)
    wire         frames to the host, the request, a session's private messages
    workspace    paths checked; files written and read without following links
    confinement  the program's seccomp filter, rlimits and OOM score; the dumpable flag
    program      starting the program: fork, stdio, exec or ``python3 main.py`` in the forked interpreter
    restricted   RestrictedPython for the strict tier (the one non-stdlib import, lazy)
    processes    PID 1's chores: reaping, clearing the container, OOM count, CPU and memory
    pump         the one output pump: O/E frames under the caps, deadline, stdin, the tail
    runs         one process run to its end and measured (program, compiler, test case)
    build        the compile stage
    cases        tests mode: one run per case, each in a fresh copy of the workdir
    artifacts    the files a run leaves for the caller (``out/``, ``outputs`` globs), as frames
    preload      a pre-started runtime (``SANDBOX_PRELOAD``) that becomes the program of an exec run
    oneshot      one request: compile if asked, then one run or one per case
    session      one interpreter kept between requests (imported only when a session opens)

Start-up, and the warm-up before the fork
=========================================

The runner's life before the request is ordered for the host's sake and for
the program's (see ``boot``):

1. The hello frame, written by hand before anything is imported.
2. In an image that forks Python programs (``SANDBOX_WARM_PYTHON=1`` in its
   Dockerfile), ``site``: what ``python3 main.py`` would have run, and the set of
   modules such a program sees at its first line.
3. The runner's modules (stdlib only, and as few as it can: no ``json``, ``re``,
   ``enum``, ``contextlib``), the dumpable flag off, the preload, the image's /tmp
   seed, and the program's seccomp filter built down to its ``prctl`` argument.
4. In such an image, the rest of the first-use work a forked Python child would
   pay: the modules it needs imported, one throw-away ``compile``, the site
   directories known (``program.warm_up``).

So a warm container has done all of it when the request arrives, and imports
nothing more for a one-shot run. The forked child then hides every module that
``python3 main.py`` would not have (``program.hide_runner``): a program never
sees the runner's modules, nor ``/opt/sandbox`` on its path. Modules reach
each other's functions through the module (``processes.kill_everything_else()``)
so that the host-side test wrapper can replace them.

Preload
=======

A language may declare a preload in its ``image.toml`` (``preload = [argv]``):
the host sets it on the container as ``SANDBOX_PRELOAD`` (JSON), and right
after the hello frame the runner starts it, confined exactly like a program,
to wait on descriptor 3 for one message ``{"argv", "env"}``. A request whose
program is ``<its argv[0]> <script> [args...]`` (exec mode, no compile; in
tests mode the first case) is run by it: the request's rlimits are set on it
(``prlimit``), the message sent, and from then on it is the program (wall time
from the message; the preload's own start-up CPU is not counted). Any other
request, or a preload that died, gets a normal spawn. See ``preload``.

Protocol, version 1
===================

Host -> runner (container stdin), exactly one message::

    b"SBX1" | u32 big-endian length N | N bytes of UTF-8 JSON

    {"v": 1,
     "mode": "python" | "restricted" | "exec" | "session",
                                     # python: fork this pre-initialised interpreter;
                                     # restricted: the same, compiled and run under RestrictedPython;
                                     # session: see Sessions below
     "allowed_modules": ["math", ...],  # restricted only: what the program may import
     "argv": ["python3", "main.py", ...],   # exec: program argv; python: argv[1:] -> sys.argv
     "files": [{"path": "main.py", "data": "<base64>", "mode": 420}],
     "stdin": "<base64>",
     "env": {"NAME": "value"},
     "limits": {"wall_ms": int, "cpu_s": int, "fsize_bytes": int, "nofile": int,
                "stdout_bytes": int, "stderr_bytes": int},
     "compile": {"argv": [...], "env": {...}, "limits": {...}, "output_head": int,
                 "await_go": bool},      # optional: a compiled language (see build)
     "tests": [{"stdin": "<base64>", "args": [...]}],   # never the expected outputs
     "head_bytes": int,                  # optional: tests mode (see cases)
     "artifacts": {"globs": [...], "max_files": int, "max_bytes": int,
                   "max_entries": int}}  # optional: files to send back (see artifacts)

With ``artifacts`` (not in tests mode), once the program has ended, each file
under ``out/`` or matching a glob is an ``A`` frame (JSON ``{"name", "size"}``,
or ``{"name", "size", "skipped": reason}``) followed, unless skipped, by an
``F`` frame with its bytes; the ``R`` frame comes after them.

With ``compile``, the compiler runs first and its outcome is one ``C`` frame
(the result fields plus ``output``, base64, ``output_truncated`` and
``workdir_bytes``, the size of what the compile left in the workdir). A failed
compile ends the run there: no ``R`` follows. With ``await_go``, after a good
compile the runner waits for a second message, ``{"v": 1, "op": "run"}``: the
host sets the run's memory limit on the container in between. With ``tests``,
each case is one ``T`` frame (the result fields plus ``index``, ``stdout`` and
``stderr`` heads in base64, ``stdout_bytes`` and ``stdout_sha256``, the digest
of the normalised stdout that the host compares with the expected one), and the
``R`` frame that ends the run says only ``{"cases": n}`` (and ``reset_failed``
when the workdir could not be reset for the next case).

Runner -> host (container stdout), a sequence of frames::

    type (1 byte) | u32 big-endian length N | N bytes payload

    b"H"  hello, JSON {"v": 1}: sent once at start-up, before the request is read;
          the host waits for it before sending, so a dead container is detected
          before any program runs
    b"O"  a chunk of the program's stdout (raw bytes)
    b"E"  a chunk of the program's stderr (raw bytes)
    b"R"  final result, JSON, always the last frame:
          {"exit_code", "signal", "wall_ms", "cpu_ms", "peak_memory_bytes",
           "stdout_truncated", "stderr_truncated", "timed_out", "output_limit",
           "cpu_limit_hit", "oom_killed"}
    b"X"  the runner could not run the request, JSON {"error": message}; last frame
    b"C"  the compile's outcome (with ``compile`` only)
    b"T"  one test case's outcome (tests mode only)
    b"A"  an artifact's name and size (or why it was skipped); its bytes follow as ``F``

Sessions
--------

A session keeps one interpreter alive between requests (like a notebook
kernel). After the opening request (``"mode": "session"``, answered by
``R {"exit_code": 0, "session": "open"}``), the host sends more messages on
stdin, each answered by frames ending in R (or X)::

    {"v": 1, "op": "exec", "code": "...", "limits": {...},
     "artifacts": {...}}                                       output frames, artifacts, then R
    {"v": 1, "op": "put", "path": "...", "data": "<base64>"}  R {"ok": true}
    {"v": 1, "op": "get", "path": "..."}                       F (file bytes), then R
    {"v": 1, "op": "list", "max_entries": n}                   F (JSON listing), then R
    {"v": 1, "op": "close"}                                    the container ends

b"F" carries the file's raw bytes, or for ``list`` the JSON ``{"entries":
[{"path", "type": "file"|"dir"|"link"|"other", "size"}], "truncated": bool}``
(links listed, never followed; at most 1000 entries). A ``get`` of a path that
does not exist is answered ``X {"error", "missing": true}``. An exec's R frame
has the fields above plus "session_ended" and "interrupted". A cell's limits
may carry "interrupt_grace_ms": at its wall limit the interpreter gets SIGINT
(``KeyboardInterrupt`` in the cell) and that long to report back; if it does,
the R frame says "timed_out": true, "interrupted": true and the session goes on.
A cell that times out otherwise, overflows a cap or kills the interpreter
ends the session: its R frame says "session_ended": true, and later exec
requests get X. Caps, the truncation flags and "output_limit" mean the same
for a cell as for a one-shot run (see ``pump``), also when the cap is crossed
by output the cell left in the pipes as it reported back. A cell's last
expression is displayed as in a notebook (see ``session``).

The program runs as the container's (non-root) uid in its own session, with
rlimits applied, stdin/stdout/stderr on pipes owned by the runner. When it exits,
times out or overflows a stream cap, every other process in the container is
SIGKILLed. The host still treats every frame as untrusted.
"""

# No ``from __future__`` import: see ``boot``, which must be the first module imported.
from . import boot
from .boot import PROTOCOL_VERSION

__all__ = ["PROTOCOL_VERSION", "main"]


def main() -> int:
    """The runner's life; it ends the process (``boot.leave``) with its exit status."""
    boot.leave(serve())


def serve() -> int:
    """Hello, warm-up, one request, then one run (or a session until it closes); the exit status."""
    boot.write_hello()
    warm_python = boot.python_warm_up_wanted()
    if warm_python:
        boot.finish_startup()
    from . import confinement, oneshot, preload, program, wire, workspace

    confinement.set_dumpable(False)  # before any fork: nothing the program runs may ptrace the runner
    preload.start()  # if the host named one: the runtime starts while the request is on its way
    workspace.seed_tmp()  # the image's caches, while a warm container waits
    confinement.prepare_seccomp()
    if warm_python:
        program.warm_up()
    try:
        request = wire.read_request()
        workspace.write_files(request.get("files") or [])
    except Exception as exc:
        wire.write_error(f"{type(exc).__name__}: {exc}")
        return 2
    if request.get("mode") == "session":
        from . import session

        preload.discard()
        return session.serve_session(request)
    try:
        result = oneshot.supervise(request)
    except Exception as exc:  # a broken go-ahead, a workdir the runner cannot read back
        wire.write_error(f"{type(exc).__name__}: {exc}")
        return 2
    if result is not None:  # None: the compile failed, and its C frame was the last
        wire.write_json(b"R", result)
    return 0
