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

A cell runs like a notebook's (``run_source``): its last statement, if an
expression, is displayed (text on stdout, a figure or a ``_repr_png_`` object as
a PNG under ``out/``), and the figures it left open are saved. At its wall limit
a cell is interrupted (``KeyboardInterrupt``) when the host gives a grace
(``interrupt_grace_ms`` in its limits, see ``pump``): an interpreter that answers
in time keeps the session and its state; one that does not is killed.

Imported only when a session opens, so one-shot containers never load it; it
imports ``ast`` (for cells) then, before the fork, like the rest of the warm-up.
"""

from __future__ import annotations

import ast
import contextlib
import os
import resource
import stat
import sys
import time

from . import artifacts, imports, processes, program, pump, wire, workspace

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    import signal
else:  # the C module: ``signal`` itself imports ``enum`` (milliseconds of every container's start)
    import _signal as signal
if TYPE_CHECKING:
    from types import CodeType, FrameType

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
        # A cell's artifacts are what is new or changed since the last cell (or the opening's files).
        self.collector = artifacts.Collector(request.get("artifacts") or {})
        self.collector.mark_seen()
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

    def execute(self, code: str, limits: wire.JSONObject, collect: wire.JSONObject | None = None) -> dict[str, object]:
        """One cell, with the program continued for it and stopped again after it.

        ``collect``: the artifacts' caps for this cell; what the cell left new or changed is sent
        (``A`` and ``F`` frames) before its result.
        """
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
        if collect is not None:  # the program is stopped (or gone): nothing changes under the walk
            self.collector.configure(collect)
            self.collector.collect()
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
                code, limits = message.get("code", ""), message.get("limits") or {}
                wire.write_json(b"R", session.execute(code, limits, message.get("artifacts")))
            elif op == "put":
                session.put(message["path"], message.get("data", ""))
                wire.write_json(b"R", {"ok": True})
            elif op == "get":
                wire.write_frame(b"F", workspace.read_file(message["path"]))
                wire.write_json(b"R", {"ok": True})
            elif op == "list":
                listing = list_files(int(message.get("max_entries", LIST_MAX_ENTRIES)))
                wire.write_frame(b"F", wire.dumps(listing).encode())
                wire.write_json(b"R", {"ok": True})
            elif op == "close":
                break
            else:
                reason = "the session has ended" if op == "exec" else f"unknown operation {op!r}"
                wire.write_error(reason)
        except FileNotFoundError:  # the host answers 404, not a refusal
            wire.write_json(b"X", {"error": f"no file {message.get('path')!r} in the session", "missing": True})
        except Exception as exc:
            wire.write_error(f"{type(exc).__name__}: {exc}")
    processes.kill_everything_else()
    return 0


#: The most entries one ``list`` answers with, and the most it looks at (links are never followed).
LIST_MAX_ENTRIES = 1000
LIST_MAX_SCANNED = 20000
LIST_MAX_PATH = 4096


def list_files(max_entries: int) -> dict[str, object]:
    """The workdir's entries, directory by directory in name order: ``{"entries": [...], "truncated": bool}``.

    Each entry is ``{"path", "type", "size"}``: the path relative to the workdir, ``"file"``,
    ``"dir"``, ``"link"`` or ``"other"``, and ``lstat``'s size. Links are listed, never followed
    (nor descended into); at most ``max_entries`` are listed and ``LIST_MAX_SCANNED`` looked at.
    Runs with the program stopped, as every file operation does.
    """
    limit = max(0, min(max_entries, LIST_MAX_ENTRIES))
    entries: list[dict[str, object]] = []
    scanned = 0
    pending = [""]
    while pending:
        relative = pending.pop()
        try:
            with os.scandir(os.path.join(workspace.WORKDIR, relative)) as found:
                children = sorted(found, key=lambda entry: entry.name)
        except OSError:
            continue  # gone, or unreadable: listed, not walked
        subdirectories = []
        for child in children:
            scanned += 1
            if len(entries) >= limit or scanned > LIST_MAX_SCANNED:
                return {"entries": entries, "truncated": True}
            path = relative + child.name
            if len(path) > LIST_MAX_PATH:
                continue  # deeper than any path the host can name
            try:
                info = child.stat(follow_symlinks=False)
            except OSError:
                continue
            kind = (
                "link"
                if stat.S_ISLNK(info.st_mode)
                else "dir"
                if stat.S_ISDIR(info.st_mode)
                else "file"
                if stat.S_ISREG(info.st_mode)
                else "other"
            )
            entries.append({"path": path, "type": kind, "size": info.st_size})
            if kind == "dir":
                subdirectories.append(path + "/")
        pending.extend(reversed(subdirectories))
    return {"entries": entries, "truncated": False}


def session_child(env: dict[str, str], ctl: int, res: int, digests: set[str] | None = None) -> None:
    """The session's interpreter: run cells in one __main__ namespace until told to stop."""
    module = program.become_program(env, [""])
    guard = imports.install(digests) if digests is not None else None
    signal.signal(signal.SIGINT, _interrupt)
    program.hide_runner()
    while True:
        message = wire.read_message(ctl)
        if message is None:
            os._exit(program.finish_interpreter(0))
        if guard is not None:
            guard.digests.update(message.get("validated") or ())
        status = run_source(message["code"], message["cell"], module.__dict__)
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        wire.write_message(res, {"cell": message["cell"], "exit_code": status})


# ---------------------------------------------------------------- in the interpreter: one cell, like a notebook
#: True while a cell runs: the runner's SIGINT (its wall limit) interrupts a cell, never the protocol.
_running = False
#: The first bytes of every PNG file.
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _interrupt(signum: int, frame: FrameType | None) -> None:
    """The interpreter's SIGINT handler: KeyboardInterrupt in the cell, nothing between cells (a late signal)."""
    if _running:
        signal.default_int_handler(signum, frame)  # raises from C: no runner frame in the traceback


def run_source(source: str, cell: int, namespace: dict[str, object]) -> int:
    """Run one cell; its exit status (0, 1 for an uncaught exception, ``SystemExit``'s status).

    Like a notebook: the last statement, if an expression, is displayed (``display``), and figures
    left open are saved under ``out/`` (only if the image's matplotlib backend is loaded: a cell
    that did not plot never imports matplotlib).
    """
    global _running
    status = 1
    try:
        _running = True
        status = _run_cell_code(source, cell, namespace)
    except KeyboardInterrupt:  # the interrupt landed in the runner's own lines, after the cell's code
        with contextlib.suppress(Exception):
            sys.stderr.write("KeyboardInterrupt\n")
    finally:
        _running = False
    return status


def _run_cell_code(source: str, cell: int, namespace: dict[str, object]) -> int:
    interrupted = False
    try:
        body, last = compile_cell(source, f"<cell {cell}>")
        exec(body, namespace)
        if last is not None:
            display(eval(last, namespace), cell)
        status = 0
    except SystemExit as exc:
        status = program.exit_status(exc)
    except BaseException as exc:
        report(exc)
        status, interrupted = 1, isinstance(exc, KeyboardInterrupt)
    figures = sys.modules.get("sandbox_figures")
    if figures is not None and not interrupted:  # an interrupted cell leaves them for the next one
        try:
            figures.save_open_figures()
        except BaseException as exc:  # a figure that cannot be drawn fails its cell, as plt.show() would
            report(exc)
            status = status or 1
    return status


def compile_cell(source: str, name: str) -> tuple[CodeType, CodeType | None]:
    """The cell's code, and its last statement apart when that is an expression to display.

    Compiled from the parsed tree, so line numbers, and tracebacks in ``<cell N>``, are the cell's
    own. A cell ending in ``;`` displays nothing (as in IPython).
    """
    tree = ast.parse(source, name)
    last = tree.body[-1] if tree.body else None
    if not isinstance(last, ast.Expr) or source.rstrip().endswith(";"):
        return compile(tree, name, "exec", dont_inherit=True), None
    del tree.body[-1]
    expression = ast.Expression(last.value)
    return compile(tree, name, "exec", dont_inherit=True), compile(expression, name, "eval", dont_inherit=True)


def display(value: object, cell: int) -> None:
    """Show a cell's last value: a figure or a PNG-capable object as an image under ``out/``, else its repr.

    The repr goes through ``sys.displayhook`` as in the REPL (``repr(value)`` and a newline on
    stdout, ``builtins._`` set); nothing for ``None``. A matplotlib figure (or an Axes or artist, or
    a list of them, whose figure is open) is saved as a PNG; an object whose ``_repr_png_()`` gives
    PNG bytes is written to ``out/display-N.png``, and one giving anything else is shown as text,
    with a note on stderr. Whatever these raise is the cell's exception.
    """
    if value is None:
        return
    figure = figure_of(value)
    if figure is not None:
        # The image's backend module (matplotlib is loaded already: a figure exists). Once imported,
        # the after-cell save takes the open figures, this one with them.
        saver = __import__("sandbox_figures")
        if not is_open(figure):
            saver.save_figure(figure)
        return
    method = getattr(value, "_repr_png_", None) if not isinstance(value, type) else None
    if callable(method):
        data = method()
        if isinstance(data, tuple) and len(data) == 2:  # IPython's (data, metadata)
            data = data[0]
        if isinstance(data, (bytes, bytearray)) and data.startswith(PNG_SIGNATURE):
            save_png(bytes(data))
            return
        if data is not None:
            what = "bytes that are not a PNG" if isinstance(data, (bytes, bytearray)) else type(data).__name__
            sys.stderr.write(f"<cell {cell}>: _repr_png_() returned {what}; shown as text\n")
    sys.displayhook(value)


def figure_of(value: object) -> object | None:
    """The matplotlib figure ``value`` shows, or None; never imports matplotlib."""
    figures, artists = sys.modules.get("matplotlib.figure"), sys.modules.get("matplotlib.artist")
    if figures is None or artists is None:
        return None
    figure_type: type = figures.Figure
    if isinstance(value, figure_type):
        return value
    items: list[object]
    items = list(value[:64]) if isinstance(value, (list, tuple)) and len(value) <= 64 else [value]
    artist_type: type = artists.Artist
    if not items or not all(isinstance(item, artist_type) for item in items):
        return None
    found = {id(getattr(item, "figure", None)): getattr(item, "figure", None) for item in items}
    figure: object = next(iter(found.values())) if len(found) == 1 else None
    return figure if isinstance(figure, figure_type) and is_open(figure) else None


def is_open(figure: object) -> bool:
    """Whether pyplot holds ``figure`` open (then the after-cell save takes it)."""
    helpers = sys.modules.get("matplotlib._pylab_helpers")
    return helpers is not None and any(m.canvas.figure is figure for m in helpers.Gcf.get_all_fig_managers())


def save_png(data: bytes) -> str:
    """``data`` as ``out/display-N.png`` (N: the first free number), created anew; its path."""
    out = os.path.join(workspace.WORKDIR, artifacts.OUT_DIR)
    os.makedirs(out, exist_ok=True)
    n = 1
    while True:
        path = os.path.join(out, f"display-{n}.png")
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
        except FileExistsError:
            n += 1
            continue
        with open(fd, "wb") as f:
            f.write(data)
        return path


def report(exc: BaseException) -> None:
    """Print a cell's uncaught exception as the interpreter would, from the cell's frames on.

    The runner's own frames that lead to it (running, displaying) are dropped: a traceback
    starts in ``<cell N>``, or in the ``__repr__`` that failed.
    """
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == _OWN_FILE:
        tb = tb.tb_next
    if isinstance(exc, SyntaxError):
        tb = None
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)


_OWN_FILE = report.__code__.co_filename


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

    The interpreter survives a cell that reports back within its caps, and one
    interrupted at its wall limit that reports back within ``interrupt_grace_ms``
    (``interrupted``, with ``timed_out``); a cell that times out otherwise, overflows
    a cap, passes the CPU budget, breaks the result pipe or kills the interpreter
    ends the session. ``end`` in the result says
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
        interrupt_grace_s=max(int(limits.get("interrupt_grace_ms", 0)), 0) / 1000,
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
        "interrupted": run.interrupted,
        "end": end,
    }
