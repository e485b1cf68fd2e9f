"""The text a scrape of ``/metrics`` gets, in one process or summed over several.

One process (the default): the default registry, with prometheus-client's
process, platform and garbage-collector collectors beside ``sandbox_*``.

Several worker processes (``sandbox serve --workers N``): prometheus-client's
multiprocess mode. ``prepare_multiprocess`` makes a fresh directory and the CLI
puts it in ``PROMETHEUS_MULTIPROC_DIR`` before any worker starts (the library
reads the variable when it is first imported and then keeps every value in a
file per process there); a scrape, answered by whichever worker, sums the files
of every process. Counters and histograms of a worker that died still count;
its live gauges (pool sizes, sessions, containers, breaker state) are dropped
when it stops (``process_stopped``) or, after a crash, at the next scrape. The
per-process ``process_*`` figures do not exist in that mode (a library limit).
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Callable
from pathlib import Path

from prometheus_client import REGISTRY, CollectorRegistry, generate_latest, multiprocess, values
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4

#: The variable prometheus-client reads to choose multiprocess mode.
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: The classic text format: every Prometheus version reads it (our names need nothing newer).
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
_LIVE_FILE = re.compile(r"gauge_live\w+_(\d+)\.db")
_refreshers: list[Callable[[], None]] = []
# prometheus_client.multiprocess has no annotations: the two calls used here, typed.
_mark_process_dead: Callable[[int, str], None] = multiprocess.mark_process_dead
_collect_files: Callable[[CollectorRegistry, str], object] = multiprocess.MultiProcessCollector


def multiprocess_mode() -> bool:
    """True when values live in per-process files (prometheus-client chose it at import)."""
    return values.ValueClass is not values.MutexValue


def prepare_multiprocess(directory: Path) -> Path:
    """Empty (or create) ``directory`` for a new server's worker processes; returns it.

    Files left by an earlier server would otherwise be summed into this one's figures.
    """
    shutil.rmtree(directory, ignore_errors=True)
    directory.mkdir(parents=True)
    return directory


def on_scrape(refresh: Callable[[], None]) -> Callable[[], None]:
    """Run ``refresh`` before each scrape this process answers; returns the call that stops it.

    For figures read rather than counted (a pool's ready containers): in
    multiprocess mode each process also refreshes them on its own timer.
    """
    _refreshers.append(refresh)
    return lambda: _refreshers.remove(refresh) if refresh in _refreshers else None


def refresh() -> None:
    """Run every ``on_scrape`` callback (on the event loop's thread: they read live objects)."""
    for callback in list(_refreshers):
        callback()


def render() -> bytes:
    """The exposition text: this process's registry, or every process's files summed."""
    if not multiprocess_mode():
        return generate_latest(REGISTRY)
    directory = _directory()
    _forget_dead_processes(directory)
    registry = CollectorRegistry()
    _collect_files(registry, directory)
    return generate_latest(registry)


def process_stopped() -> None:
    """This process is done: its live gauges stop counting (multiprocess mode; a no-op otherwise)."""
    if multiprocess_mode():
        _mark_process_dead(os.getpid(), _directory())


def _directory() -> str:
    # The library also honours the variable's old lower-case spelling.
    return os.environ.get(MULTIPROC_ENV) or os.environ["prometheus_multiproc_dir"]  # noqa: SIM112


def _forget_dead_processes(directory: str) -> None:
    """Drop the live gauges of processes that are gone (a worker killed before ``process_stopped``)."""
    pids = {int(m.group(1)) for name in os.listdir(directory) if (m := _LIVE_FILE.fullmatch(name))}
    for pid in pids - {os.getpid()}:
        if not _alive(pid):
            _mark_process_dead(pid, directory)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
