"""What stopping a session's program between calls costs a cell: freeze on against off, interleaved.

Two sessions on the real Docker backend, one opened with ``session_freeze`` on
and one with it off; each round runs one cell (``x += 1``) in each, in
alternating order, and the paired difference of their times (caller's end to
end, through ``DockerSession``) is what the freeze adds: the runner's SIGCONT
before the cell, and the SIGSTOP and two scans of /proc after it (before the
result frame goes out).

    .venv/bin/python bench/session_freeze_bench.py --rounds 200 --repeat 3
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

from sandbox.config import Settings
from sandbox.engine import DockerBackend, RunFile, RunSpec
from sandbox.engine.images import ImageCatalog
from sandbox.models import EffectiveLimits

LIMITS = EffectiveLimits(
    wall_time_s=10,
    cpu_time_s=5,
    memory_mb=256,
    processes=64,
    workdir_mb=64,
    stdout_bytes=1 << 20,
    stderr_bytes=1 << 20,
    compile_wall_time_s=30,
    compile_cpu_time_s=20,
    compile_memory_mb=512,
)


async def one_run(rounds: int) -> list[float]:
    settings = Settings(pool_size=0, owner=f"bench-freeze-{uuid.uuid4().hex[:6]}")
    image = ImageCatalog(settings.images_dir).image_tag("python")
    opening = RunSpec(image=image, mode="session", argv=("python3",), files=(), limits=LIMITS)
    cell = RunSpec(image=image, mode="cell", argv=(), files=(RunFile("main.py", b"x += 1"),), limits=LIMITS)
    async with DockerBackend(settings) as backend:
        sessions = {}
        for freeze in (True, False):
            settings.session_freeze = freeze
            sessions[freeze] = await backend.open_session(opening, 600)
            async with sessions[freeze].acquire() as lease:
                await lease.run(
                    RunSpec(image=image, mode="cell", argv=(), files=(RunFile("main.py", b"x = 0"),), limits=LIMITS)
                )
        diffs = []
        for i in range(rounds):
            took = {}
            for freeze in (True, False) if i % 2 else (False, True):
                started = time.perf_counter()
                async with sessions[freeze].acquire() as lease:
                    outcome = await lease.run(cell)
                took[freeze] = (time.perf_counter() - started) * 1000
                assert outcome.status.value == "ok", outcome
            diffs.append(took[True] - took[False])
            samples.setdefault(True, []).append(took[True])
            samples.setdefault(False, []).append(took[False])
        for session in sessions.values():
            await session.close()
    return diffs


samples: dict[bool, list[float]] = {}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    every = []
    for run in range(args.repeat):
        diffs = asyncio.run(one_run(args.rounds))
        every += diffs
        print(f"run {run + 1}: paired p50 freeze - no freeze = {statistics.median(diffs):+.2f} ms")
    on, off = samples[True], samples[False]
    print(f"freeze on: p50 {statistics.median(on):.2f} ms, p95 {statistics.quantiles(on, n=20)[-1]:.2f} ms")
    print(f"freeze off: p50 {statistics.median(off):.2f} ms, p95 {statistics.quantiles(off, n=20)[-1]:.2f} ms")
    print(f"paired p50 over {len(every)} rounds: {statistics.median(every):+.2f} ms")


if __name__ == "__main__":
    main()
