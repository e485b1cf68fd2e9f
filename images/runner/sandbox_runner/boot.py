"""The runner's first moments: the hello frame, then the interpreter finished as ``python3`` would.

Imported first (by the package itself) and importing nothing the interpreter
has not loaded already (``sys``, ``posix``, ``_signal``), so two things hold:

- The hello frame goes out before the runner imports anything: the host waits
  for it, and a warm container's start-up work (imports, the preload, the
  warm-up before the fork) happens while it waits for a request instead.
- ``STARTUP_MODULES`` is exactly what the interpreter loaded before the runner,
  and ``finish_startup`` runs ``site`` (which ``-S`` skipped) before any other
  module of the runner is imported, so ``program_modules`` is exactly the set
  of modules ``python3 main.py`` has when its first line runs. A Python program
  forked from the runner is shown that set and nothing of the runner's
  (``program.hide_runner``).

No ``from __future__`` import here: it would load ``__future__`` before the snapshot.
"""

import posix
import sys

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing
if TYPE_CHECKING:
    import signal as _signal
    from typing import NoReturn
else:  # the C module, loaded already (``signal`` would import ``enum``)
    import _signal

PROTOCOL_VERSION = 1
PACKAGE = __name__.rpartition(".")[0]
#: The hello frame (type ``H``, u32 length, JSON ``{"v": 1}``), written by hand: ``json`` is not loaded yet.
HELLO_BODY = b'{"v": %d}' % PROTOCOL_VERSION
HELLO = b"H" + len(HELLO_BODY).to_bytes(4, "big") + HELLO_BODY
#: Set (to ``1``) in an image whose programs the runner forks as Python (``mode = "python"``):
#: ``finish_startup`` then runs while the container waits, not in each program's child.
WARM_ENV = b"SANDBOX_WARM_PYTHON"

#: What the interpreter had loaded before the runner's package (``__main__`` of ``-c`` included).
STARTUP_MODULES = frozenset(name for name in sys.modules if name != PACKAGE and not name.startswith(PACKAGE + "."))
#: The modules ``python3 main.py`` has at its first line, once ``finish_startup`` has run.
program_modules: frozenset[str] | None = None


def write_hello() -> None:
    """Ignore SIGPIPE (a host that went away is seen as EPIPE), then send the hello frame in full."""
    _signal.signal(_signal.SIGPIPE, _signal.SIG_IGN)
    view = memoryview(HELLO)
    while view:
        try:
            view = view[posix.write(1, view) :]
        except InterruptedError:
            continue


def leave(status: int) -> "NoReturn":
    """End the runner with ``status`` at once; its last frame is written (``os.write``: nothing buffered).

    The runner is the container's PID 1: its exit ends the container (the kernel kills whatever is
    left), so the host's removal finds it stopped and runc has nothing to kill. The interpreter's
    finalization (tearing down every module: a few ms of CPU) would only delay that. On the host,
    the tests' wrapper replaces this with ``sys.exit`` (its exit handlers clean up after the runner).
    """
    posix._exit(status)


def python_warm_up_wanted() -> bool:
    """Whether the image asks for the Python warm-up before the request (``WARM_ENV``)."""
    return posix.environ.get(WARM_ENV) == b"1"


def finish_startup() -> frozenset[str]:
    """What ``python3``'s start-up does and ``-S`` skipped: ``site`` (its paths, ``.pth`` files,
    ``sitecustomize``, the ``exit``/``help`` builtins); returns (and keeps) ``program_modules``.

    Idempotent. Run before any other module of the runner is imported, the modules it adds are
    exactly the ones ``site`` imports; run later (a child of an image without ``WARM_ENV``), those
    the runner had already loaded are missing from the set, and the program reloads them if it
    imports them: it still never sees the runner's.
    """
    global program_modules
    if program_modules is None:
        before = set(sys.modules)
        import site

        site.main()
        site.enablerlcompleter()  # only sets sys.__interactivehook__, as python3 does unless -I
        program_modules = STARTUP_MODULES | frozenset(name for name in sys.modules if name not in before)
    return program_modules
