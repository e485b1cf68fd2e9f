"""The strict tier's audit hook: capabilities a strict program may not reach, even through a library.

RestrictedPython guards the program's own code; an allowed library can still do
what the program may not: ``numpy.load(..., allow_pickle=True)`` and
``pandas.read_pickle`` unpickle (and so call any function), a ``read_csv`` of a
URL opens a socket, ``platform`` starts ``uname``. ``sys.addaudithook`` sees
those operations whoever performs them, so under the strict tier the program's
process raises on them. Installed last before the program runs (``restricted``),
never in other modes; a second line, not a boundary: the container is.

Denied (``PermissionError``, an ``OSError`` libraries already expect):
unpickling a global (``pickle.find_class``), ``marshal`` outside the import
system, processes (``subprocess.Popen``, ``os.system``/``exec``/``spawn``/
``posix_spawn``/``fork``/``forkpty``, ``os.kill``), sockets and name lookups,
``ctypes`` beyond its own import (loading a library, looking up or calling a
symbol, raw memory), tracing, ``gc`` object walks, new audit hooks, ``chdir``
and links, ``exec``/``compile`` called from the program's own code, and opening
for writing outside the workspace and ``/tmp``. Imports of ``DENIED_IMPORTS``
raise ``ImportError`` (libraries treat them as optional). Not seen by any audit
event, so left to the attribute guards and the container: ``_posixsubprocess``'s
``fork_exec`` and ``os.open`` relative to a directory descriptor.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    from collections.abc import Callable, Sequence

DENIED_EVENTS = frozenset(
    {
        "pickle.find_class", "marshal.load", "marshal.loads", "marshal.dumps",
        "subprocess.Popen", "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork", "os.forkpty",
        "os.kill", "os.killpg", "pty.spawn", "signal.pthread_kill", "os.startfile",
        "socket.__new__", "socket.bind", "socket.connect", "socket.getaddrinfo", "socket.gethostbyaddr",
        "socket.gethostbyname", "socket.gethostname", "socket.getnameinfo", "socket.getservbyname",
        "socket.getservbyport", "socket.sendmsg", "socket.sendto", "socket.sethostname",
        "ctypes.dlopen", "ctypes.dlsym", "ctypes.dlsym/handle", "ctypes.call_function", "ctypes.cdata",
        "ctypes.cdata/buffer", "ctypes.string_at", "ctypes.wstring_at", "ctypes.addressof",
        "ctypes.PyObj_FromPtr", "ctypes.set_errno", "ctypes.set_exception",
        "sys.settrace", "sys.setprofile", "sys._current_frames", "sys._current_exceptions", "sys.addaudithook",
        "gc.get_objects", "gc.get_referrers", "gc.get_referents",
        "os.chdir", "os.symlink", "os.link", "resource.setrlimit", "resource.prlimit",
        "urllib.Request", "http.client.connect", "webbrowser.open",
    }
)  # fmt: skip
#: Events the hook looks at further.
CHECKED_EVENTS = frozenset({"open", "import", "exec", "compile"})
#: Modules whose import is refused: networking, interpreters and debuggers, native code, processes.
DENIED_IMPORTS = frozenset(
    {
        "pdb", "bdb", "code", "codeop", "pty", "tty", "multiprocessing", "_multiprocessing", "_posixshmem",
        "webbrowser", "http", "socketserver", "urllib.request", "ftplib", "smtplib", "poplib", "imaplib",
        "telnetlib", "xmlrpc", "cffi", "_cffi_backend", "_testcapi", "_testinternalcapi", "_xxsubinterpreters",
        "_xxinterpchannels", "sqlite3", "_sqlite3", "shelve", "dbm", "ensurepip", "venv", "idlelib", "tkinter",
    }
)  # fmt: skip
#: Where a strict program (or a library for it) may open files for writing.
WRITABLE = ("/workspace/", "/tmp/")
#: The frame of the import system that unmarshals byte code (``marshal.loads`` there is allowed).
IMPORT_SYSTEM = "importlib._bootstrap_external"


def install(program_globals: dict[str, object], writable: Sequence[str] = WRITABLE) -> None:
    """Install the hook in this process (it cannot be removed); ``program_globals`` names the program's frames."""
    sys.addaudithook(make_hook(program_globals, tuple(writable)))


def make_hook(
    program_globals: dict[str, object], writable: tuple[str, ...]
) -> Callable[[str, tuple[object, ...]], None]:
    """The hook. Everything it uses is bound here, so code that later rebinds builtins or module
    globals cannot change its verdicts; nothing else keeps a reference to it.
    """
    import os

    denied, checked, denied_imports = DENIED_EVENTS, CHECKED_EVENTS, DENIED_IMPORTS
    getframe, type_, str_, bytes_, int_ = sys._getframe, type, str, bytes, int
    permission_error, import_error = PermissionError, ImportError
    write_flags = os.O_WRONLY | os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_TRUNC
    import_system = IMPORT_SYSTEM

    def may_write(path: object, raw: bool) -> bool:
        kind = type_(path)
        if kind is int_:
            return True
        if kind is bytes_:
            text = bytes_.decode(path, "utf-8", "surrogateescape")  # type: ignore[arg-type]
        elif kind is str_:
            text = path  # type: ignore[assignment]
        else:  # a PathLike could answer differently when open() asks again
            return False
        if text == "/dev/null":
            return True
        if "/../" in text + "/" or text.startswith("../") or text == "..":
            return False
        if not text.startswith("/"):
            # Relative to the working directory, which cannot change (os.chdir is denied); os.open
            # could be relative to a directory descriptor the event does not show.
            return not raw
        return text.startswith(writable)

    def hook(event: str, args: tuple[object, ...]) -> None:
        if event in checked:
            if event == "open":
                path, mode, flags = args
                raw = mode is None  # os.open
                writes = (int_(flags) & write_flags) if raw else any(c in str_(mode) for c in "wax+")  # type: ignore[call-overload]
                if writes and not may_write(path, raw):
                    raise permission_error(f"opening {path!r} for writing is not allowed by the strict policy")
            elif event == "import":
                name = str_(args[0])
                if name in denied_imports or name.partition(".")[0] in denied_imports:
                    raise import_error(f"import of {name!r} is not allowed by the strict policy")
            elif getframe(1).f_globals is program_globals:  # exec/compile called by the program itself
                raise permission_error(f"{event}() is not allowed by the strict policy")
            return
        if event in denied:
            if event == "ctypes.dlopen" and args[0] is None:
                return  # ctypes' own import opens the interpreter's symbols; using them is denied
            if event in ("marshal.loads", "marshal.load") and getframe(1).f_globals.get("__name__") == import_system:
                return
            raise permission_error(f"{event} is not allowed by the strict policy")

    return hook
