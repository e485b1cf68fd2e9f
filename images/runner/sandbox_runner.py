"""In-container runner: one request in, framed output and one result out.

Stdlib only: this file is copied into every runtime image, compiled to byte code
there, and imported by ``python3 -I -S -B -c "...; import sandbox_runner; sys.exit(
sandbox_runner.main())"`` (see ``RUNNER_COMMAND``). It is the container's PID 1
and its only process until a request arrives. Being PID 1 is deliberate: the
kernel ignores signals sent to a namespace's init from inside it, so the program
cannot kill or stop the runner; and the runner is non-dumpable, so the program
cannot ptrace it or open its descriptors (the container's stdin and stdout, the
protocol channel). As init it also reaps orphaned processes.

Protocol, version 1
===================

Host -> runner (container stdin), exactly one message::

    b"SBX1" | u32 big-endian length N | N bytes of UTF-8 JSON

    {"v": 1,
     "mode": "python" | "restricted" | "exec",   # python: fork this pre-initialised interpreter;
                                     # restricted: the same, compiled and run under RestrictedPython
     "allowed_modules": ["math", ...],  # restricted only: what the program may import
     "argv": ["python3", "main.py", ...],   # exec: program argv; python: argv[1:] -> sys.argv
     "files": [{"path": "main.py", "data": "<base64>", "mode": 420}],
     "stdin": "<base64>",
     "env": {"NAME": "value"},
     "limits": {"wall_ms": int, "cpu_s": int, "fsize_bytes": int, "nofile": int,
                "stdout_bytes": int, "stderr_bytes": int}}

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

The program runs as the container's (non-root) uid in its own session, with
rlimits applied, stdin/stdout/stderr on pipes owned by the runner. When it exits,
times out or overflows a stream cap, every other process in the container is
SIGKILLed. The host still treats every frame as untrusted.
"""

from __future__ import annotations

import binascii
import contextlib
import json
import os
import resource
import select
import signal
import struct
import sys
import time

PROTOCOL_VERSION = 1
MAGIC = b"SBX1"
MAX_REQUEST_BYTES = 96 << 20
WORKDIR = os.environ.get("SANDBOX_WORKDIR", "/workspace")
CHUNK = 64 << 10
RESTRICTED_LIB = "/opt/sandbox/lib"
FRAME_HEADER = struct.Struct(">cI")
BASE_ENV = {
    "PATH": "/usr/local/bin:/usr/bin:/bin",
    "HOME": WORKDIR,
    "LANG": "C.UTF-8",
    "TMPDIR": "/tmp",
}


# --------------------------------------------------------------------- framing
def write_frame(kind: bytes, payload: bytes) -> None:
    data = FRAME_HEADER.pack(kind, len(payload)) + payload
    view = memoryview(data)
    while view:
        try:
            n = os.write(1, view)
        except InterruptedError:
            continue
        view = view[n:]


def read_exact(fd: int, n: int) -> bytes:
    parts = []
    while n:
        try:
            chunk = os.read(fd, min(n, 1 << 20))
        except InterruptedError:
            continue
        if not chunk:
            raise EOFError("stdin closed before the request was complete")
        parts.append(chunk)
        n -= len(chunk)
    return b"".join(parts)


def read_request() -> dict:
    header = read_exact(0, 8)
    if header[:4] != MAGIC:
        raise ValueError("bad magic: not a sandbox protocol v1 request")
    (length,) = struct.unpack(">I", header[4:])
    if length > MAX_REQUEST_BYTES:
        raise ValueError(f"request of {length} bytes exceeds {MAX_REQUEST_BYTES}")
    request = json.loads(read_exact(0, length))
    if request.get("v") != PROTOCOL_VERSION:
        raise ValueError(f"unsupported protocol version {request.get('v')!r}")
    return request


# ------------------------------------------------------------------- workspace
def safe_relpath(path: str) -> str:
    if not path or "\x00" in path or path.startswith("/"):
        raise ValueError(f"invalid file path {path!r}")
    parts = path.split("/")
    if any(p in ("", ".", "..") for p in parts):
        raise ValueError(f"invalid file path {path!r}")
    return path


def write_files(files: list) -> None:
    dirfd = os.open(WORKDIR, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for spec in files:
            rel = safe_relpath(spec["path"])
            parent = dirfd
            opened = []
            try:
                # Walk directory by directory with O_NOFOLLOW: never follow a link.
                for part in rel.split("/")[:-1]:
                    with contextlib.suppress(FileExistsError):
                        os.mkdir(part, 0o755, dir_fd=parent)
                    parent = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=parent)
                    opened.append(parent)
                name = rel.rsplit("/", 1)[-1]
                flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW
                fd = os.open(name, flags, int(spec.get("mode", 0o644)) & 0o777, dir_fd=parent)
                try:
                    data = memoryview(binascii.a2b_base64(spec.get("data", "")))
                    while data:
                        data = data[os.write(fd, data) :]
                finally:
                    os.close(fd)
            finally:
                for fd_ in opened:
                    os.close(fd_)
    finally:
        os.close(dirfd)


# ----------------------------------------------------------------------- child
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


def install_seccomp() -> None:
    program = seccomp_filter()
    if program is None:
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    buffer = ctypes.create_string_buffer(program)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(program) // 8, ctypes.addressof(buffer))
    libc.prctl(38, 1, 0, 0, 0)  # PR_SET_NO_NEW_PRIVS (Docker has set it already)
    if libc.prctl(22, 2, ctypes.byref(fprog), 0, 0) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        raise OSError(ctypes.get_errno(), "cannot install the seccomp filter")


def set_child_limits(limits: dict) -> None:
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
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("1000")
    except OSError:
        pass


def child_setup(request: dict, stdin_r: int, stdout_w: int, stderr_w: int, keep: int = 3) -> dict:
    """In the forked child: own session, stdio on the runner's pipes, descriptors >= ``keep`` closed."""
    os.setsid()
    os.dup2(stdin_r, 0)
    os.dup2(stdout_w, 1)
    os.dup2(stderr_w, 2)
    os.closerange(keep, 1 << 16)
    for sig in (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGXCPU, signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_DFL)
    os.chdir(WORKDIR)
    env = dict(BASE_ENV)
    env.update({str(k): str(v) for k, v in (request.get("env") or {}).items()})
    set_child_limits(request.get("limits") or {})
    install_seccomp()
    return env


def run_python_child(request: dict, env: dict) -> None:
    """Become ``python3 main.py`` without paying for a new interpreter."""
    import importlib.machinery

    argv = list(request.get("argv") or ["python3", "main.py"])[1:]
    path = os.path.join(WORKDIR, argv[0])
    module = become_program(env, argv)
    module.__file__ = path
    module.__cached__ = None
    module.__loader__ = importlib.machinery.SourceFileLoader("__main__", path)
    with open(path, "rb") as f:
        source = f.read()
    try:
        if request.get("mode") == "restricted":
            code = restricted_namespace(module.__dict__, request.get("allowed_modules") or [], path, source)
        else:
            code = compile(source, path, "exec", dont_inherit=True)
        exec(code, module.__dict__)
        status = 0
    except SystemExit as exc:
        status = exit_status(exc)
    except BaseException as exc:
        report(exc)
        status = 1
    os._exit(finish_interpreter(status))


def become_program(env: dict, argv: list):
    """In a forked child: the process state ``python3`` gives a program; returns a fresh ``__main__``."""
    import io
    import types

    set_dumpable(True)
    os.environ.clear()
    os.environ.update(env)
    sys.argv = argv
    sys.path.insert(0, WORKDIR)
    add_site_packages()
    sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)))
    sys.stdout = sys.__stdout__ = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)))
    sys.stderr = sys.__stderr__ = io.TextIOWrapper(
        io.BufferedWriter(io.FileIO(2, "w", closefd=False)), errors="backslashreplace", line_buffering=True
    )
    module = types.ModuleType("__main__")
    sys.modules["__main__"] = module
    return module


def report(exc: BaseException) -> None:
    """Print an uncaught exception as the interpreter would, starting in the program's code."""
    tb = exc.__traceback__
    if isinstance(exc, SyntaxError):
        tb = None
    elif tb is not None:
        tb = tb.tb_next  # drop the runner's frame
    sys.excepthook(type(exc), exc.with_traceback(tb), tb)


def add_site_packages() -> None:
    """The site-packages directories ``python3`` would have (the runner starts with -S).

    Skipping ``site`` at start-up saves every container several milliseconds of
    CPU (its .pth processing imports importlib.util); only the program needs
    these paths, and namespace packages work without the legacy .pth shims.
    """
    import site

    for directory in site.getsitepackages():
        if os.path.isdir(directory) and directory not in sys.path:
            sys.path.append(directory)


def restricted_namespace(namespace: dict, allowed_modules: list, path: str, source: bytes):
    """Compile ``source`` with RestrictedPython and fill ``namespace`` with its guards.

    A second line behind the host's validation, not a boundary: the container is.
    Imports are limited to ``allowed_modules`` (and their submodules).
    """
    sys.path.insert(0, RESTRICTED_LIB)
    from RestrictedPython import compile_restricted, safe_builtins, utility_builtins
    from RestrictedPython.Eval import default_guarded_getitem, default_guarded_getiter
    from RestrictedPython.Guards import guarded_iter_unpack_sequence, guarded_unpack_sequence, safer_getattr
    from RestrictedPython.Limits import limited_builtins

    sys.path.remove(RESTRICTED_LIB)
    real_import = __import__

    def guarded_import(name, globals=None, locals=None, fromlist=(), level=0):
        if level or not any(name == m or name.startswith(m + ".") for m in allowed_modules):
            raise ImportError(f"import of {name!r} is not allowed by the strict policy")
        return real_import(name, globals, locals, fromlist, level)

    class StdoutPrint:
        """``print`` under RestrictedPython, writing to stdout as usual."""

        def __init__(self, _getattr_=None):
            pass

        def _call_print(self, *objects, **kwargs):
            print(*objects, **kwargs)

    builtins = dict(safe_builtins)
    builtins.update(utility_builtins)
    builtins.update(limited_builtins)
    builtins.update(__import__=guarded_import, __build_class__=__build_class__)
    import builtins as real_builtins

    for name in ("min", "max", "sum", "all", "any", "enumerate", "map", "filter", "reversed", "iter", "next"):
        builtins[name] = getattr(real_builtins, name)
    namespace.update(
        __builtins__=builtins,
        __metaclass__=type,
        _getattr_=safer_getattr,
        _getitem_=default_guarded_getitem,
        _getiter_=default_guarded_getiter,
        _iter_unpack_sequence_=guarded_iter_unpack_sequence,
        _unpack_sequence_=guarded_unpack_sequence,
        _write_=lambda obj: obj,
        _inplacevar_=_inplace,
        _apply_=lambda f, *a, **kw: f(*a, **kw),
        _print_=StdoutPrint,
    )
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # "never reads 'printed'": we print to stdout
        return compile_restricted(source.decode("utf-8"), path, "exec")


def _inplace(op: str, x, y):
    import operator

    return {
        "+=": operator.iadd,
        "-=": operator.isub,
        "*=": operator.imul,
        "/=": operator.itruediv,
        "//=": operator.ifloordiv,
        "%=": operator.imod,
        "**=": operator.ipow,
        "<<=": operator.ilshift,
        ">>=": operator.irshift,
        "&=": operator.iand,
        "|=": operator.ior,
        "^=": operator.ixor,
        "@=": operator.imatmul,
    }[op](x, y)


def exit_status(exc: SystemExit) -> int:
    """The exit status ``python3 main.py`` would have for this SystemExit."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF
    with contextlib.suppress(Exception):
        sys.stderr.write(f"{code}\n")
    return 1


def finish_interpreter(status: int) -> int:
    """What interpreter shutdown promises, without tearing down every module.

    Non-daemon threads are joined, atexit handlers run, stdio is flushed; then
    the caller leaves with ``os._exit``. A full finalization would add several
    milliseconds to every run for nothing the program can rely on.
    """
    threading = sys.modules.get("threading")
    if threading is not None:
        with contextlib.suppress(BaseException):
            threading._shutdown()
    import atexit

    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            status = status or 120
    return status


def spawn(request: dict):
    stdin_r, stdin_w = os.pipe()
    stdout_r, stdout_w = os.pipe()
    stderr_r, stderr_w = os.pipe()
    sys.stdout.flush()
    sys.stderr.flush()
    pid = os.fork()
    if pid == 0:
        try:
            env = child_setup(request, stdin_r, stdout_w, stderr_w)
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
    os.close(stderr_w)
    return pid, stdin_w, stdout_r, stderr_r


# ---------------------------------------------------------------- supervision
def set_dumpable(flag: bool) -> None:
    try:
        import ctypes

        ctypes.CDLL(None, use_errno=True).prctl(4, 1 if flag else 0, 0, 0, 0)  # PR_SET_DUMPABLE
    except Exception:
        pass


def reap_children(pid: int):
    """Reap every exited child (as PID 1, orphans are ours too); (status, rusage) if ``pid`` was one."""
    found = None
    while True:
        try:
            waited, status, rusage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            return found
        if waited == 0:
            return found
        if waited == pid:
            found = (status, rusage)


def kill_everything_else() -> None:
    """SIGKILL every other process in the container, and reap them."""
    me = os.getpid()
    for _ in range(50):
        found = False
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) not in (1, me):
                try:
                    os.kill(int(entry), signal.SIGKILL)
                    found = True
                except OSError:
                    pass
        reap_children(-1)
        if not found:
            return
        time.sleep(0.002)


def read_oom_kills() -> int:
    for path, key in (
        ("/sys/fs/cgroup/memory.events", "oom_kill"),
        ("/sys/fs/cgroup/memory/memory.oom_control", "oom_kill"),
    ):
        try:
            with open(path) as f:
                for line in f:
                    name, _, value = line.partition(" ")
                    if name == key:
                        return int(value)
        except (OSError, ValueError):
            continue
    return 0


def supervise(request: dict) -> dict:
    limits = request.get("limits") or {}
    wall_s = int(limits.get("wall_ms", 10_000)) / 1000
    caps = {"O": int(limits.get("stdout_bytes", 1 << 20)), "E": int(limits.get("stderr_bytes", 1 << 20))}
    stdin_data = memoryview(binascii.a2b_base64(request.get("stdin") or ""))
    oom_before = read_oom_kills()

    start = time.monotonic()
    pid, stdin_w, stdout_r, stderr_r = spawn(request)
    deadline = start + wall_s
    streams = {stdout_r: "O", stderr_r: "E"}
    sent = {"O": 0, "E": 0}
    truncated = {"O": False, "E": False}
    output_limit = None
    timed_out = False
    status = None
    rusage = None

    poller = select.poll()
    for fd in streams:
        poller.register(fd, select.POLLIN)
    if stdin_data:
        os.set_blocking(stdin_w, False)
        poller.register(stdin_w, select.POLLOUT)
    else:
        os.close(stdin_w)
        stdin_w = -1
    try:
        pidfd = os.pidfd_open(pid)
        poller.register(pidfd, select.POLLIN)
    except (AttributeError, OSError):
        pidfd = -1

    def finish_stdin() -> None:
        nonlocal stdin_w
        if stdin_w >= 0:
            poller.unregister(stdin_w)
            os.close(stdin_w)
            stdin_w = -1

    def take(fd: int) -> bool:
        """Forward one chunk; False at EOF."""
        nonlocal output_limit
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return True
        if not data:
            poller.unregister(fd)
            del streams[fd]
            os.close(fd)
            return False
        kind = streams[fd]
        room = caps[kind] - sent[kind]
        if len(data) > room:
            data = data[: max(room, 0)]
            truncated[kind] = True
            output_limit = output_limit or ("stdout" if kind == "O" else "stderr")
        if data:
            write_frame(kind.encode(), data)
            sent[kind] += len(data)
        return True

    while status is None:
        if output_limit or timed_out:
            # The group, and the child itself in case it has not called setsid() yet.
            for kill in (os.killpg, os.kill):
                with contextlib.suppress(ProcessLookupError):
                    kill(pid, signal.SIGKILL)
            _, status, rusage = os.wait4(pid, 0)
            break
        timeout_ms = max(0, int((deadline - time.monotonic()) * 1000))
        if timeout_ms == 0:
            timed_out = True
            continue
        events = poller.poll(min(timeout_ms, 1000 if pidfd >= 0 else 10))
        for fd, _ev in events:
            if fd == stdin_w:
                try:
                    n = os.write(stdin_w, stdin_data[:CHUNK])
                    stdin_data = stdin_data[n:]
                    if not stdin_data:
                        finish_stdin()
                except BlockingIOError:
                    pass
                except OSError:  # the program closed its stdin: EPIPE
                    finish_stdin()
            elif fd in streams:
                take(fd)
        reaped = reap_children(pid)
        if reaped is not None:
            status, rusage = reaped

    # The program is gone: keep what it already wrote, then clear the container.
    for fd in list(streams):
        os.set_blocking(fd, False)
        while fd in streams and not output_limit and take(fd):
            if not select.select([fd], [], [], 0)[0]:
                break
    finish_stdin()
    kill_everything_else()
    wall_ms = int((time.monotonic() - start) * 1000)

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu_s = children.ru_utime + children.ru_stime
    sig = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
    cpu_limit = int(limits.get("cpu_s", 0))
    return {
        "exit_code": os.WEXITSTATUS(status) if os.WIFEXITED(status) else None,
        "signal": sig,
        "wall_ms": wall_ms,
        "cpu_ms": int(cpu_s * 1000),
        "peak_memory_bytes": max(children.ru_maxrss, rusage.ru_maxrss if rusage else 0) * 1024,
        "stdout_truncated": truncated["O"],
        "stderr_truncated": truncated["E"],
        "timed_out": timed_out,
        "output_limit": output_limit,
        "cpu_limit_hit": sig == signal.SIGXCPU or (cpu_limit > 0 and sig == signal.SIGKILL and cpu_s >= cpu_limit),
        "oom_killed": read_oom_kills() > oom_before,
    }


# -------------------------------------------------------------------- sessions
# A session keeps one interpreter alive between requests (like a notebook
# kernel). After the opening request ({"mode": "session"}), the host sends more
# messages on stdin, each answered by frames ending in R (or X):
#   {"v": 1, "op": "exec", "code": "...", "limits": {...}}   output frames, then R
#   {"v": 1, "op": "put", "path": "...", "data": "<base64>"}  R {"ok": true}
#   {"v": 1, "op": "get", "path": "..."}                       F (file bytes), then R
#   {"v": 1, "op": "close"}                                    the container ends
# A cell that times out, overflows a cap or kills the interpreter ends the
# session: its R frame says "session_ended": true, and later requests get X.
MAX_FILE_BYTES = 32 << 20


def read_file(path: str) -> bytes:
    """A workdir file's bytes; never follows a symlink anywhere on the way."""
    parts = safe_relpath(path).split("/")
    fd = os.open(WORKDIR, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for part in parts[:-1]:
            next_fd = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = next_fd
        file_fd = os.open(parts[-1], os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK, dir_fd=fd)
    finally:
        os.close(fd)
    try:
        import stat

        info = os.fstat(file_fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError(f"{path!r} is not a regular file")
        if info.st_size > MAX_FILE_BYTES:
            raise ValueError(f"{path!r} is {info.st_size} bytes, over the {MAX_FILE_BYTES} byte cap")
        chunks = []
        while chunk := os.read(file_fd, 1 << 20):
            chunks.append(chunk)
        return b"".join(chunks)
    finally:
        os.close(file_fd)


def write_message(fd: int, body: dict) -> None:
    data = json.dumps(body).encode()
    data = struct.pack(">I", len(data)) + data
    while data:
        data = data[os.write(fd, data) :]


def read_message(fd: int):
    try:
        (length,) = struct.unpack(">I", read_exact(fd, 4))
        return json.loads(read_exact(fd, length))
    except EOFError:
        return None


def session_child(env: dict, ctl: int, res: int) -> None:
    """The session's interpreter: run cells in one __main__ namespace until told to stop."""
    module = become_program(env, [""])
    while True:
        message = read_message(ctl)
        if message is None:
            os._exit(finish_interpreter(0))
        try:
            code = compile(message["code"], f"<cell {message['cell']}>", "exec", dont_inherit=True)
            exec(code, module.__dict__)
            status = 0
        except SystemExit as exc:
            status = exit_status(exc)
        except BaseException as exc:
            report(exc)
            status = 1
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        write_message(res, {"exit_code": status})


def process_cpu_s(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def process_peak_rss(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def run_cell(pid: int, ctl: int, res: int, out: dict, code: str, cell: int, limits: dict) -> dict:
    """Send one cell to the session's interpreter and forward its output until it reports back."""
    caps = {"O": int(limits.get("stdout_bytes", 1 << 20)), "E": int(limits.get("stderr_bytes", 1 << 20))}
    cpu_before = process_cpu_s(pid)
    cpu = int(limits.get("cpu_s", 0))
    if cpu > 0:
        # Soft limit only: the hard limit cannot be raised again for the next cell.
        soft = int(cpu_before) + 1 + cpu
        resource.prlimit(pid, resource.RLIMIT_CPU, (soft, resource.RLIM_INFINITY))
    oom_before = read_oom_kills()
    start = time.monotonic()
    deadline = start + int(limits.get("wall_ms", 10_000)) / 1000
    write_message(ctl, {"code": code, "cell": cell})
    sent = {"O": 0, "E": 0}
    truncated = {"O": False, "E": False}
    output_limit = None
    timed_out = False
    reply = None
    status = None
    poller = select.poll()
    for fd in (*out, res):
        poller.register(fd, select.POLLIN)
    pidfd = os.pidfd_open(pid)
    poller.register(pidfd, select.POLLIN)
    try:
        while reply is None and status is None and not output_limit and not timed_out:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                timed_out = True
                break
            for fd, _ in poller.poll(int(remaining * 1000) + 1):
                if fd in out:
                    try:
                        data = os.read(fd, CHUNK)
                    except BlockingIOError:
                        continue
                    kind = out[fd]
                    room = caps[kind] - sent[kind]
                    if len(data) > room:
                        data, truncated[kind] = data[: max(room, 0)], True
                        output_limit = "stdout" if kind == "O" else "stderr"
                    if data:
                        write_frame(kind.encode(), data)
                        sent[kind] += len(data)
                elif fd == res:
                    reply = read_message(res)
                elif fd == pidfd:
                    reaped = reap_children(pid)
                    if reaped is not None:
                        status = reaped[0]
        # What the cell wrote before reporting back is already in the pipes.
        for fd, kind in out.items():
            while not output_limit and select.select([fd], [], [], 0)[0]:
                data = os.read(fd, CHUNK)[: caps[kind] - sent[kind]]
                if not data:
                    break
                write_frame(kind.encode(), data)
                sent[kind] += len(data)
    finally:
        os.close(pidfd)
    ended = reply is None
    if ended and status is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        _, status, _ = os.wait4(pid, 0)
    sig = os.WTERMSIG(status) if status is not None and os.WIFSIGNALED(status) else None
    cpu_used = process_cpu_s(pid) if not ended else 0.0
    return {
        "exit_code": reply["exit_code"] if reply else (os.WEXITSTATUS(status) if os.WIFEXITED(status) else None),
        "signal": sig,
        "wall_ms": int((time.monotonic() - start) * 1000),
        "cpu_ms": int(max(cpu_used - cpu_before, 0) * 1000),
        "peak_memory_bytes": process_peak_rss(pid) if not ended else 0,
        "stdout_truncated": truncated["O"],
        "stderr_truncated": truncated["E"],
        "timed_out": timed_out,
        "output_limit": output_limit,
        "cpu_limit_hit": sig == signal.SIGXCPU or (cpu > 0 and sig == signal.SIGKILL and cpu_used >= cpu),
        "oom_killed": read_oom_kills() > oom_before,
        "session_ended": ended,
    }


def serve_session(request: dict) -> int:
    """Keep one interpreter for the container's life; see the protocol note above."""
    ctl_r, ctl_w = os.pipe()
    res_r, res_w = os.pipe()
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    null = os.open(os.devnull, os.O_RDONLY)
    pid = os.fork()
    if pid == 0:
        try:
            os.dup2(ctl_r, 3)
            os.dup2(res_w, 4)
            env = child_setup(request, null, out_w, err_w, keep=5)
            session_child(env, 3, 4)
        finally:
            os._exit(127)
    for fd in (ctl_r, res_w, out_w, err_w, null):
        os.close(fd)
    out = {out_r: "O", err_r: "E"}
    write_frame(b"R", json.dumps({"exit_code": 0, "session": "open"}).encode())
    alive, cell = True, 0
    while True:
        try:
            message = read_request()
        except (EOFError, ValueError):
            break
        op = message.get("op")
        try:
            if op == "exec" and alive:
                cell += 1
                result = run_cell(pid, ctl_w, res_r, out, message.get("code", ""), cell, message.get("limits") or {})
                alive = not result["session_ended"]
                write_frame(b"R", json.dumps(result).encode())
            elif op == "put":
                write_files([{"path": message["path"], "data": message.get("data", ""), "mode": 0o644}])
                write_frame(b"R", b'{"ok": true}')
            elif op == "get":
                write_frame(b"F", read_file(message["path"]))
                write_frame(b"R", b'{"ok": true}')
            elif op == "close":
                break
            else:
                reason = "the session has ended" if op == "exec" else f"unknown operation {op!r}"
                write_frame(b"X", json.dumps({"error": reason}).encode())
        except Exception as exc:
            write_frame(b"X", json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
    kill_everything_else()
    return 0


def main() -> int:
    set_dumpable(False)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    write_frame(b"H", json.dumps({"v": PROTOCOL_VERSION}).encode())
    try:
        request = read_request()
        write_files(request.get("files") or [])
    except Exception as exc:
        write_frame(b"X", json.dumps({"error": f"{type(exc).__name__}: {exc}"}).encode())
        return 2
    if request.get("mode") == "session":
        return serve_session(request)
    result = supervise(request)
    write_frame(b"R", json.dumps(result).encode())
    return 0


if __name__ == "__main__":
    sys.exit(main())
