"""Multiprocess mode for real: worker processes share a directory and any of them answers for all.

Each worker is a fresh interpreter with ``PROMETHEUS_MULTIPROC_DIR`` set before it
imports anything, as ``sandbox serve --workers N`` starts them. Counters and
histograms of every worker count, gone ones included; live gauges count only
the workers still running, whether they stopped cleanly or were killed.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

from sandbox.config import PROJECT_ROOT
from sandbox.observability import exposition

WORKER = """
import os, sys
from sandbox.observability import exposition, metrics
runs, ending = int(sys.argv[1]), sys.argv[2]
metrics.known_names({"python": "python"}, ["standard"])
for _ in range(runs):
    metrics.stage_finished("record", "python", "standard", {"duration_s": 0.002, "status": "ok"})
metrics.session_opened()
metrics.pool_observed("python/256m", ready=1, target=2, hits=runs, misses=0, created=2, failures=0)
print("ready", flush=True)
if ending == "stop":
    exposition.process_stopped()
elif ending == "crash":
    os._exit(0)  # no clean stop: its live gauge files stay behind
else:  # serve: answer one scrape for everybody
    sys.stdin.readline()
    sys.stdout.write(exposition.render().decode())
"""


def start(directory: Path, runs: int, ending: str) -> subprocess.Popen[str]:
    env = {**os.environ, exposition.MULTIPROC_ENV: str(directory)}
    return subprocess.Popen(
        [sys.executable, "-c", WORKER, str(runs), ending],
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def test_several_processes_add_up_and_gone_ones_leave_the_live_gauges(tmp_path: Path) -> None:
    directory = exposition.prepare_multiprocess(tmp_path / "metrics")
    serving = start(directory, 3, "serve")
    assert serving.stdout is not None and serving.stdout.readline().strip() == "ready"
    for runs, ending in ((2, "stop"), (4, "crash")):
        worker = start(directory, runs, ending)
        assert worker.communicate(timeout=60)[0].strip() == "ready" and worker.returncode == 0
    out, _ = serving.communicate("scrape\n", timeout=60)
    got = samples(out)
    ok = (("language", "python"), ("policy", "standard"), ("status", "ok"))
    pool = (("pool", "python/256m"),)
    assert got[("sandbox_executions_total", ok)] == 3 + 2 + 4  # every worker's, gone ones too
    assert got[("sandbox_pool_hits_total", pool)] == 3 + 2 + 4
    assert got[("sandbox_stage_duration_seconds_count", (("language", "python"), ("stage", "record")))] == 9
    assert got[("sandbox_sessions_open", ())] == 1  # only the worker still running
    assert got[("sandbox_pool_target", pool)] == 2


def test_prepare_empties_what_an_earlier_server_left(tmp_path: Path) -> None:
    directory = tmp_path / "metrics"
    directory.mkdir()
    (directory / "counter_123.db").write_bytes(b"old")
    assert exposition.prepare_multiprocess(directory) == directory
    assert list(directory.iterdir()) == []


def test_one_process_exposes_its_own_registry_with_process_figures() -> None:
    assert not exposition.multiprocess_mode()
    text = exposition.render().decode()
    assert "process_resident_memory_bytes" in text and "sandbox_breaker_state" in text
    assert "_created" not in text  # disabled: no panel or rule reads them
