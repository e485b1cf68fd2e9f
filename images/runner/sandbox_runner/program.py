"""Starting the program: a forked child on the runner's pipes, confined, then exec or Python.

``exec`` mode runs ``argv``. ``python`` and ``restricted`` mode skip a second
interpreter start-up: the forked child already is an initialised ``python3``
and only has to become ``python3 main.py`` (``__name__ == "__main__"``, argv,
cwd, stdio, site-packages, exit status, tracebacks that start in the program).
A session's interpreter is prepared the same way (``become_program``) and
reports its cells' exceptions with the same ``report``.

What the child would otherwise do first, and pay for in every run, the runner
does once before the fork while the container waits (``warm_up``): ``site``
(see ``boot``), the modules the child uses, one throw-away ``compile`` (the
first compile of an interpreter costs ~1.7 ms, the next ~0.03 ms). Just before
the program's first line the child hides all the runner loaded that
``python3 main.py`` would not have (``hide_runner``), so the program sees the
modules, ``sys.path`` and ``__main__`` of ``python3 main.py``.
"""

from __future__ import annotations

import _frozen_importlib_external
import atexit
import io
import os
import sys

from . import boot, confinement, imports, restricted, workspace

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    import signal
    from types import ModuleType

    from . import wire
else:  # the C module: ``signal`` itself imports ``enum`` (milliseconds of every container's start)
    import _signal as signal

    ModuleType = type(sys)  # types.ModuleType, without importing types

#: Where the runner's package lives (``/opt/sandbox`` in the images): on the runner's path, never the program's.
RUNNER_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
#: Compiled once before the fork: a little of everything a program is made of.
WARM_UP_SOURCE = """
import sys
def f(a, *b, c=1, **d):
    for i in range(a):
        if i % 2 == 0 and not c:
            yield f"{i!r:>4}", [x * 2 for x in b], {k: v for k, v in d.items()}
class C(object):
    x: int = 0
    def m(self):
        try:
            return sys.argv[0], lambda y: y + 1.5
        except (KeyError, IndexError) as exc:
            raise ValueError("no") from exc
        finally:
            pass
print("hello world")
"""
#: The modules ``hide_runner`` took out of ``sys.modules``: kept, since freeing them would cost the child time.
_hidden: list[ModuleType] = []


def warm_up() -> None:
    """Before the fork, once: the first-use work of a forked Python child (see the module docstring)."""
    boot.finish_startup()
    compile(WARM_UP_SOURCE, "<warm-up>", "exec", dont_inherit=True)


BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": workspace.WORKDIR,
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",
}


def child_setup(
    request: wire.Request, stdin_r: int, stdout_w: int, stderr_w: int, keep: int = 3, go_fd: int = -1
) -> dict[str, str]:
    """In the forked child: own session, stdio on the runner's pipes, descriptors >= ``keep`` closed.

    ``go_fd`` (a preload, see ``preload``): also kept, as descriptor 3, inherited across exec.
    """
    os.setsid()
    os.dup2(stdin_r, 0)
    os.dup2(stdout_w, 1)
    os.dup2(stderr_w, 2)
    if go_fd >= 0:
        os.dup2(go_fd, 3)
        os.set_inheritable(3, True)  # dup2(3, 3) would leave it close-on-exec
        keep = max(keep, 4)
    os.closerange(keep, 1 << 16)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGXCPU, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    os.chdir(workspace.WORKDIR)
    confinement.set_child_limits(request.get("limits") or {})
    confinement.install_seccomp()
    return program_env(request)


def program_env(request: wire.Request) -> dict[str, str]:
    """The program's environment: the base one and the request's variables."""
    env = dict(BASE_ENV)
    env.update({str(k): str(v) for k, v in (request.get("env") or {}).items()})
    return env


def spawn(request: wire.Request, *, merge_stderr: bool = False, go_fd: int = -1) -> tuple[int, int, int, int]:
    """Fork the program; (pid, its stdin's write end, its stdout's and stderr's read ends).

    ``merge_stderr`` (a compiler): stderr is the stdout pipe, and the stderr read end is -1.
    ``go_fd`` (a preload): the read end of its go pipe, its descriptor 3.
    """
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe() if not merge_stderr else (-1, stdout_w)
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            env = child_setup(request, stdin_r, stdout_w, stderr_w, go_fd=go_fd)
            if request.get("mode") in ("python", "restricted"):
                run_python_child(request, env)  # never returns
            argv = [str(a) for a in request["argv"]]
            os.execvpe(argv[0], argv, env)
        except SystemExit:
            raise
        except BaseException as exc:
            os.write(2, f"sandbox runner: cannot start program: {exc}\n".encode())
            os._exit(127)
    os.close(stdin_r)
    os.close(stdout_w)
    if not merge_stderr:
        os.close(stderr_w)
    return pid, stdin_w, stdout_r, stderr_r


def run_python_child(request: wire.Request, env: dict[str, str]) -> None:
    """Become ``python3 main.py`` without paying for a new interpreter."""
    argv = list(request.get("argv") or ["python3", "main.py"])[1:]
    path = os.path.join(workspace.WORKDIR, argv[0])
    module = become_program(env, argv)
    sys.orig_argv = [sys.orig_argv[0] if sys.orig_argv else "python3", *argv]
    module.__file__ = path
    module.__cached__ = None  # type: ignore[attr-defined]  # not in typeshed; python3 main.py has it, None
    # importlib.machinery.SourceFileLoader, the loader python3 gives __main__, without importing importlib.
    module.__loader__ = _frozen_importlib_external.SourceFileLoader("__main__", path)
    with open(path, "rb") as f:
        source = f.read()
    if request.get("validated_imports"):
        imports.install(imports.validated_digests(request.get("files") or []))
    try:
        if request.get("mode") == "restricted":
            allowed = request.get("allowed_modules") or []
            code = restricted.restricted_namespace(module.__dict__, allowed, path, source)
        else:
            code = compile(source, path, "exec", dont_inherit=True)
        hide_runner()
        # The program's frames sit directly below this one: report() drops exactly this frame.
        exec(code, module.__dict__)
        status = 0
    except SystemExit as exc:
        status = exit_status(exc)
    except BaseException as exc:
        report(exc)
        status = 1
    os._exit(finish_interpreter(status))


def become_program(env: dict[str, str], argv: list[str]) -> ModuleType:
    """In a forked child: the process state ``python3`` gives a program; returns a fresh ``__main__``.

    The caller calls ``hide_runner`` once it has imported all it needs, before the program's first line.
    """
    confinement.set_dumpable(True)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = argv
    boot.finish_startup()  # done before the fork in a warm image: site's paths, .pth files, builtins
    while RUNNER_ROOT in sys.path:
        sys.path.remove(RUNNER_ROOT)
    sys.path_importer_cache.pop(RUNNER_ROOT, None)
    sys.path.insert(0, workspace.WORKDIR)
    # Encoded as the interpreter encoded its own (the same rules as python3's: the locale, UTF-8 mode).
    (in_enc, in_err), (out_enc, out_err), (err_enc, _) = (
        (stream.encoding, stream.errors) if stream is not None else (None, None)
        for stream in (sys.__stdin__, sys.__stdout__, sys.__stderr__)
    )
    # The program's original streams are these too; typeshed declares sys.__std*__ Final.
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(  # type: ignore[misc]
        io.BufferedReader(io.FileIO(0, "r", closefd=False)), encoding=in_enc, errors=in_err
    )
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(  # type: ignore[misc]
        io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding=out_enc, errors=out_err
    )
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(  # type: ignore[misc]
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
        encoding=err_enc,
        errors="backslashreplace",
        line_buffering=True,
    )
    module = ModuleType("__main__")
    module.__annotations__ = {}  # python3's __main__ starts with one
    module.__dict__["__builtins__"] = sys.modules["builtins"]  # the module, as python3 gives __main__ (exec: its dict)
    sys.modules["__main__"] = module
    return module


def hide_runner() -> None:
    """Take every module ``python3 main.py`` would not have (``boot.program_modules``) out of ``sys.modules``.

    Called in the child just before the program's first line, once the runner's code there has
    imported all it will use: the program imports its own copy of a module it wants, as
    ``python3 main.py`` would, and never finds the runner's (nor, on a package it has, the
    attribute of a submodule it did not import).
    """
    expected = boot.finish_startup()
    for name in [name for name in sys.modules if name not in expected and name != "__main__"]:
        module = sys.modules.pop(name)
        _hidden.append(module)
        parent, _, attribute = name.rpartition(".")
        if parent in expected and getattr(sys.modules.get(parent), attribute, None) is module:
            try:
                delattr(sys.modules[parent], attribute)
            except (AttributeError, TypeError):
                pass


def report(exc: BaseException) -> None:
    """Print an uncaught exception as the interpreter would, starting in the program's code.

    Called from the frame that ran ``exec(code, ...)``; that frame is the one dropped.
    """
    tb = exc.__traceback__
    if isinstance(exc, SyntaxError):
        tb = None
    elif tb is not None:
        tb = tb.tb_next  # drop the runner's frame
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def exit_status(exc: SystemExit) -> int:
    """The exit status ``python3 main.py`` would have for this SystemExit."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    try:
        sys.stderr.write(f"{code}\n")
    except Exception:
        pass
    return 1


def finish_interpreter(status: int) -> int:
    """What interpreter shutdown promises, without tearing down every module.

    Non-daemon threads are joined, atexit handlers run, stdio is flushed; then
    the caller leaves with ``os._exit``. A full finalization would add several
    milliseconds to every run for nothing the program can rely on.
    """
    threading = sys.modules.get("threading")
    if threading is not None:
        try:
            threading._shutdown()
        except BaseException:
            pass
    atexit._run_exitfuncs()  # the interpreter's handlers, whichever copy of the module registered them
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            status = status or 120
    return status
