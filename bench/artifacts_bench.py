"""What a plot costs now: matplotlib's font cache built with the image against rebuilt by every run.

Run from the project root: ``.venv/bin/python bench/artifacts_bench.py [--runs 15]``.

One service in-process (warm pool of the default profile), one interleaved run of three programs:

- ``plot (image cache)``: a figure left open, saved by the image's backend and returned as a PNG
  artifact; matplotlib finds its font list in /tmp, copied from the image while the container waited;
- ``plot (cache rebuilt)``: the same program setting ``MPLCONFIGDIR`` to an empty directory first, so
  matplotlib builds its font list first, as every plot did before the cache came with the image;
- ``hello world``: for scale, the warm path with no artifact.

Each round runs the three in a shuffled order; medians of the caller's end-to-end time and of the
program's own wall time. The section "Artifacts: a plot" of bench/RESULTS.md is replaced.
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

from sandbox.config import Settings
from sandbox.models import ExecutionRequest
from sandbox.service import build_service

ROOT = Path(__file__).resolve().parent.parent
PLOT = "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2, 4])\nplt.title('bench')\n"
PROGRAMS = {
    "plot (image cache)": ExecutionRequest(code=PLOT, policy="permissive"),
    # MPL* variables are not accepted in a request's env: the program points matplotlib elsewhere itself.
    "plot (cache rebuilt)": ExecutionRequest(
        code="import os\nos.environ['MPLCONFIGDIR'] = '/tmp/matplotlib-empty'\n" + PLOT, policy="permissive"
    ),
    "hello world": ExecutionRequest(code="print('hello world')", policy="permissive"),
}
SECTION = "## Artifacts: a plot"


async def measure(runs: int) -> dict[str, list[tuple[float, int, int]]]:
    settings = Settings(pool_size=2, validation_workers=0, owner="bench-artifacts")
    found: dict[str, list[tuple[float, int, int]]] = {name: [] for name in PROGRAMS}
    async with build_service(settings) as service:
        for name, request in PROGRAMS.items():  # warm-up, and a check that each does what it says
            result = await service.execute(request)
            assert result.status.value == "ok", (name, result)
            assert ("plot" in name) == bool(result.artifacts), (name, result.artifacts)
        for _ in range(runs):
            order = list(PROGRAMS)
            random.shuffle(order)
            for name in order:
                await asyncio.sleep(0.3)  # the pool refilled, the last container removed
                start = time.perf_counter()
                result = await service.execute(PROGRAMS[name])
                took = (time.perf_counter() - start) * 1000
                size = sum(a.size for a in result.artifacts)
                found[name].append((took, result.wall_ms, size))
    return found


def report(found: dict[str, list[tuple[float, int, int]]], runs: int) -> str:
    head = subprocess.run(["git", "describe", "--always", "--dirty"], capture_output=True, text=True, cwd=ROOT)
    lines = [
        SECTION,
        "",
        f"- {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, `.venv/bin/python bench/artifacts_bench.py --runs {runs}`, "
        f"code `{head.stdout.strip()}`; one interleaved run, shuffled order per round, medians",
        "",
        "| program | n | end-to-end p50 ms | program wall p50 ms | artifact bytes |",
        "|---|---|---|---|---|",
    ]
    for name, samples in found.items():
        e2e = statistics.median(s[0] for s in samples)
        wall = statistics.median(s[1] for s in samples)
        size = statistics.median(s[2] for s in samples)
        lines.append(f"| {name} | {len(samples)} | {e2e:.0f} | {wall:.0f} | {size:.0f} |")
    cached = statistics.median(s[0] for s in found["plot (image cache)"])
    rebuilt = statistics.median(s[0] for s in found["plot (cache rebuilt)"])
    saved = f"The cache built with the image saves {rebuilt - cached:.0f} ms a plot ({rebuilt / cached:.2f}x)."
    lines += ["", saved, ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    args = parser.parse_args()
    text = report(asyncio.run(measure(args.runs)), args.runs)
    print(text)
    results = ROOT / "bench" / "RESULTS.md"
    current = results.read_text()
    if SECTION in current:
        start = current.index(SECTION)
        end = current.find("\n## ", start + len(SECTION))
        current = current[:start] + current[end + 1 :] if end >= 0 else current[:start]
    results.write_text(current.rstrip("\n") + "\n\n" + text)


if __name__ == "__main__":
    main()
