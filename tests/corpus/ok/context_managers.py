"""Context managers: a class-based timer, contextlib helpers and ExitStack."""

import contextlib
import io
import time


class Timer:
    def __init__(self, label):
        self.label = label
        self.elapsed = 0.0

    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, exc_type, exc, tb):
        self.elapsed = time.perf_counter() - self.start
        print(f"{self.label}: {'failed' if exc_type else 'ok'}")
        return False


@contextlib.contextmanager
def tag(name, log):
    log.append(f"<{name}>")
    try:
        yield log
    finally:
        log.append(f"</{name}>")


with Timer("sum") as t:
    total = sum(range(100_000))
print(total, t.elapsed >= 0)

log = []
with tag("html", log), tag("body", log):
    log.append("hello")
print("".join(log))

with contextlib.suppress(ZeroDivisionError):
    print(1 / 0)
print("suppressed the ZeroDivisionError")

buffer = io.StringIO()
with contextlib.redirect_stdout(buffer):
    print("captured line")
print("captured:", buffer.getvalue().strip())

with contextlib.ExitStack() as stack:
    files = [stack.enter_context(open(f"part{i}.txt", "w", encoding="utf-8")) for i in range(3)]
    for i, fh in enumerate(files):
        fh.write(f"part {i}\n")
print(all(f.closed for f in files))
