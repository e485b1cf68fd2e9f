"""The one output pump: a program's stdout and stderr, forwarded as frames until it is done.

A one-shot run and a session cell are the same job: forward what the program
writes as ``O``/``E`` frames, feed it its stdin (one-shot), stop at the wall
deadline or at the first byte past a stream's cap, and notice when the program
is done: it exited, or (a session) its interpreter reported the cell back on
the result pipe. What it wrote just before is then still in the pipes, and the
tail drain forwards it under the same caps, so a cap crossed there is reported
exactly like one crossed while it ran (``*_truncated`` and ``output_limit``).

A program that overflows a cap or outlives the deadline is SIGKILLed with its
process group, in the tail too, so a session whose cell overflowed has lost
its interpreter and ends. So is a session's interpreter whose container passes
the session's CPU budget (``cpu_limit_ns``, checked every ``CPU_CHECK_S``), or
whose result pipe carries something other than this cell's reply (``broken``).
The callers clear the rest of the container and measure CPU and memory.

A session cell past its wall limit is interrupted first when the cell asks for it
(``interrupt_grace_s``): SIGINT to the interpreter (a ``KeyboardInterrupt`` in the
cell), then up to the grace for its reply, forwarding output under the same caps.
A reply in time leaves the interpreter alive (``interrupted``; still ``timed_out``);
otherwise it is SIGKILLed as above. One-shot runs never ask: their program is killed
at the deadline.
"""

from __future__ import annotations

import os
import resource
import select
import time

from . import processes, wire

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing at start-up
if TYPE_CHECKING:
    import signal
else:  # the C module: ``signal`` itself imports ``enum`` (milliseconds of every container's start)
    import _signal as signal
if TYPE_CHECKING:
    from collections.abc import Callable

    #: Where output goes instead of the host: (frame type "O" or "E", bytes).
    Sink = Callable[[str, bytes], None]

CHUNK = 64 << 10
DEFAULT_WALL_MS = 10_000
DEFAULT_CAP = 1 << 20
STREAM_NAMES = {"O": "stdout", "E": "stderr"}
CPU_CHECK_S = 0.1


class Pump:
    """Forwards one program's output until it is done; ``run()`` leaves the outcome on the pump.

    ``streams`` maps the read ends of the program's stdout and stderr pipes to
    their frame types (``"O"``, ``"E"``). A pipe at end of file is closed and
    removed from the mapping, so a session that keeps it never polls it again.
    ``stdin`` is written to ``stdin_fd``, which is closed once written (at once
    if there is nothing to write), unless ``keep_stdin`` (a session's control
    pipe: the cell's message is written the same way, so a interpreter that
    does not read cannot stall the runner). ``replies`` is a session's result
    pipe: the reply to ``cell`` ends the pump with the interpreter still alive.
    ``cpu_limit_ns``: stop once the container's CPU (``processes.container_cpu_ns``)
    reaches it. ``sink`` takes the output instead of the host (a compile's or a test
    case's output is kept by the runner and reported in its frame): called with the
    frame type and the bytes, under the same caps. ``xcpu_at``: a preloaded program (see
    ``preload``), whose kernel CPU limit counts whole seconds of its start-up too, is sent
    SIGXCPU once its process's CPU seconds reach this (checked every ``CPU_CHECK_S``).
    ``interrupt_grace_s`` (a session cell, with ``replies``): at the deadline, SIGINT and this
    long for the reply before the kill (see the module docstring).
    """

    def __init__(
        self,
        pid: int,
        streams: dict[int, str],
        limits: wire.JSONObject,
        start: float,
        *,
        stdin: bytes = b"",
        stdin_fd: int = -1,
        keep_stdin: bool = False,
        replies: wire.ReplyReader | None = None,
        cell: int = 0,
        cpu_limit_ns: int | None = None,
        sink: Sink | None = None,
        xcpu_at: float | None = None,
        interrupt_grace_s: float = 0.0,
    ) -> None:
        self.pid = pid
        self.streams = streams
        self.caps = {
            "O": int(limits.get("stdout_bytes", DEFAULT_CAP)),
            "E": int(limits.get("stderr_bytes", DEFAULT_CAP)),
        }
        self.deadline = start + int(limits.get("wall_ms", DEFAULT_WALL_MS)) / 1000
        self.sent = {"O": 0, "E": 0}
        self.truncated = {"O": False, "E": False}
        self.output_limit: str | None = None
        self.timed_out = False
        self.status: int | None = None  # the wait status, once the program is reaped
        self.rusage: resource.struct_rusage | None = None
        self.reply: wire.JSONObject | None = None
        self.broken: str | None = None  # why the result pipe cannot be trusted any more
        self.cpu_exhausted = False
        self.interrupted = False  # past the deadline, the interpreter answered SIGINT within the grace
        self._grace_s = interrupt_grace_s if replies is not None else 0.0
        self._stdin = memoryview(stdin)
        self._stdin_fd = stdin_fd
        self._keep_stdin = keep_stdin
        self._replies = replies
        self.reply_fd = replies.fd if replies is not None else -1  # -1 once the interpreter has closed it
        self._cell = cell
        self._cpu_limit_ns = cpu_limit_ns
        self._xcpu_at = xcpu_at
        self._cpu_checked = 0.0
        self._pidfd = -1
        self._poller = select.poll()
        self._sink = sink

    @property
    def done(self) -> bool:
        """The program exited or reported back, or has to be stopped."""
        return (
            self.status is not None
            or self.reply is not None
            or self.timed_out
            or self.output_limit is not None
            or self.broken is not None
            or self.cpu_exhausted
        )

    def flags(self) -> dict[str, bool | str | None]:
        """The result fields the pump decides, in the protocol's order."""
        return {
            "stdout_truncated": self.truncated["O"],
            "stderr_truncated": self.truncated["E"],
            "timed_out": self.timed_out,
            "output_limit": self.output_limit,
        }

    def run(self) -> Pump:
        """Watch the program until it is done, then forward what it left in the pipes."""
        self._register()
        try:
            self._watch()
            if self.timed_out and self._grace_s > 0:
                self._interrupt()
            if (self.timed_out and not self.interrupted) or self.broken or self.cpu_exhausted:
                self._stop_program()
            if not self.output_limit:
                self._drain()
            if self.output_limit:
                self.interrupted = False
                self._stop_program()
        finally:
            self._close_stdin()
            if self._pidfd >= 0:
                os.close(self._pidfd)
        return self

    # ------------------------------------------------------------------ private
    def _register(self) -> None:
        for fd in self.streams:
            os.set_blocking(fd, False)
            self._poller.register(fd, select.POLLIN)
        if self._stdin:
            os.set_blocking(self._stdin_fd, False)
            self._poller.register(self._stdin_fd, select.POLLOUT)
        else:
            self._close_stdin()
        if self.reply_fd >= 0:
            self._poller.register(self.reply_fd, select.POLLIN)
        try:
            self._pidfd = os.pidfd_open(self.pid)
            self._poller.register(self._pidfd, select.POLLIN)
        except (AttributeError, OSError):
            self._pidfd = -1  # no pidfd: poll every 10 ms for the exit instead

    def _watch(self) -> None:
        """Forward output and stdin until the program is done.

        In each round the program's end is checked first: output that is ready in
        the same round is left to the tail drain, which forwards it the same way.
        """
        while not self.done:
            timeout_ms = max(0, int((self.deadline - time.monotonic()) * 1000))
            if timeout_ms == 0:
                self.timed_out = True
                return
            wait_ms = 1000 if self._pidfd >= 0 else 10
            if self._cpu_limit_ns is not None or self._xcpu_at is not None:
                wait_ms = min(wait_ms, int(CPU_CHECK_S * 1000))
            ready = [fd for fd, _ in self._poller.poll(min(timeout_ms, wait_ms))]
            if self.reply_fd in ready:
                self._read_reply()
            self._check_cpu()
            reaped = processes.reap_children(self.pid)  # as PID 1, orphans too
            if reaped is not None:
                self.status, self.rusage = reaped
            if self.done:
                return
            for fd in ready:
                if fd == self._stdin_fd:
                    self._feed_stdin()
                elif fd in self.streams:
                    self._take(fd)

    def _interrupt(self) -> None:
        """Past the deadline: SIGINT to the interpreter alone, then watch up to the grace for its reply."""
        if self.status is not None:
            return
        if self.reply_fd >= 0:
            self._read_reply()  # it may have answered just as the deadline passed: no signal needed
        if self.reply is None and not self.broken:
            try:
                os.kill(self.pid, signal.SIGINT)
            except ProcessLookupError:
                pass
            self.timed_out = False
            self.deadline = time.monotonic() + self._grace_s
            self._watch()
            self.timed_out = True
        self.interrupted = (
            self.reply is not None
            and self.status is None
            and not (self.broken or self.cpu_exhausted or self.output_limit)
        )

    def _drain(self) -> None:
        """Forward what the program wrote before it was done, under the same caps."""
        for fd in list(self.streams):
            while fd in self.streams and not self.output_limit and self._take(fd):
                pass

    def _take(self, fd: int) -> bool:
        """Forward one chunk of ``fd`` within its cap; False when it has nothing more for now."""
        try:
            data = os.read(fd, CHUNK)
        except BlockingIOError:
            return False
        if not data:
            self._poller.unregister(fd)
            del self.streams[fd]
            os.close(fd)
            return False
        kind = self.streams[fd]
        room = self.caps[kind] - self.sent[kind]
        if len(data) > room:
            data = data[: max(room, 0)]
            self.truncated[kind] = True
            self.output_limit = self.output_limit or STREAM_NAMES[kind]
        if data:
            if self._sink is not None:
                self._sink(kind, data)
            else:
                wire.write_frame(kind.encode(), data)
            self.sent[kind] += len(data)
        return True

    def _feed_stdin(self) -> None:
        try:
            n = os.write(self._stdin_fd, self._stdin[:CHUNK])
        except BlockingIOError:
            return
        except OSError:  # the program closed its stdin: EPIPE
            self._close_stdin()
            return
        self._stdin = self._stdin[n:]
        if not self._stdin:
            self._close_stdin()

    def _close_stdin(self) -> None:
        if self._stdin_fd >= 0:
            try:
                self._poller.unregister(self._stdin_fd)
            except KeyError:
                pass
            if not self._keep_stdin:
                os.close(self._stdin_fd)
            self._stdin_fd = -1

    def _read_reply(self) -> None:
        assert self._replies is not None, "a reply pipe is polled only when given"
        try:
            messages = self._replies.read()
            if messages is None:  # the interpreter is gone; its exit status follows
                self._poller.unregister(self.reply_fd)
                self.reply_fd = -1
                return
            for message in messages:
                if wire.check_reply(message, self._cell) and self.reply is None:
                    self.reply = message
        except ValueError as exc:
            self.broken = str(exc)

    def _check_cpu(self) -> None:
        if (self._cpu_limit_ns is None and self._xcpu_at is None) or time.monotonic() - self._cpu_checked < CPU_CHECK_S:
            return
        self._cpu_checked = time.monotonic()
        if self._cpu_limit_ns is not None:
            used = processes.container_cpu_ns()
            if used is not None and used >= self._cpu_limit_ns:
                self.cpu_exhausted = True
        if self._xcpu_at is not None:
            try:
                if processes.process_cpu_s(self.pid) >= self._xcpu_at:
                    self._xcpu_at = None  # once, as the kernel's soft limit would; its hard limit follows
                    os.kill(self.pid, signal.SIGXCPU)
            except (OSError, ValueError, IndexError):
                pass

    def _stop_program(self) -> None:
        """SIGKILL the program's group, and the program itself in case it has not called setsid() yet."""
        if self.status is not None:
            return
        for kill in (os.killpg, os.kill):
            try:
                kill(self.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        _, self.status, self.rusage = os.wait4(self.pid, 0)
