"""Validation latency: AST rules + policy + bandit, for 20-, 200- and 2,000-line programs.

    .venv/bin/python bench/validation_bench.py [--runs 200]

Warm: the pipeline with bandit already loaded and the verdict cache bypassed
(``validate_files``), p50/p95 over ``--runs`` calls. Cached: the same request
again through ``Validator`` (what a retry costs). Cold: the first call in a fresh
interpreter, with and without ``warm_up`` at start-up (the service warms up), as
the median of 5 processes. Results go to stdout and bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.config import Settings  # noqa: E402
from sandbox.validation import PolicySet, SourceFile, Validator, validate_files, warm_up  # noqa: E402

BLOCK = '''
@dataclass
class Item{n}:
    name: str
    price: float
    tags: list[str] = field(default_factory=list)

    def total(self, quantity: int) -> float:
        """Price for a quantity, with a bulk discount."""
        discount = 0.9 if quantity >= 10 else 1.0
        return round(self.price * quantity * discount, 2)


def summarise{n}(items: list[Item{n}]) -> dict[str, float]:
    by_tag: dict[str, float] = defaultdict(float)
    for item in items:
        for tag in item.tags or ["untagged"]:
            by_tag[tag] += item.total(3)
    ranked = sorted(by_tag.items(), key=lambda kv: (-kv[1], kv[0]))
    return {{tag: value for tag, value in ranked if value > 0}}
'''
HEADER = "from collections import defaultdict\nfrom dataclasses import dataclass, field\nimport math, json\n"


def program(lines: int) -> str:
    """A realistic program of about ``lines`` lines."""
    parts, n = [HEADER], 0
    while sum(p.count("\n") for p in parts) < lines - 3:
        parts.append(BLOCK.format(n=n))
        n += 1
    parts.append(f"print(json.dumps(summarise0([Item0('a', {math_pi()}, ['x'])])))\n")
    return "".join(parts)


def math_pi() -> float:
    return 3.14


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


COLD_SNIPPET = """
import json, sys, time
sys.path.insert(0, {root!r})
from sandbox.config import Settings
from sandbox.validation import PolicySet, SourceFile, validate_files, warm_up
policy = PolicySet(Settings().policies_dir, "standard").get(None)
if {warm}:
    warm_up(policy.bandit)
code = open({path!r}).read()
start = time.perf_counter()
verdict = validate_files([SourceFile("main.py", code)], "python", policy)
print(json.dumps({{"ms": (time.perf_counter() - start) * 1000, "allowed": verdict.allowed}}))
"""


def cold_ms(code: str, warm: bool, tmp: Path) -> float:
    path = tmp / "cold.py"
    path.write_text(code)
    samples = []
    for _ in range(5):
        out = subprocess.run(
            [sys.executable, "-c", COLD_SNIPPET.format(root=str(ROOT), warm=warm, path=str(path))],
            capture_output=True,
            text=True,
            check=True,
        )
        samples.append(json.loads(out.stdout)["ms"])
    return statistics.median(samples)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    args = parser.parse_args()
    policy = PolicySet(Settings().policies_dir, "standard").get(None)
    warm_up(policy.bandit)
    tmp = ROOT / ".bench-tmp"
    tmp.mkdir(exist_ok=True)
    rows = []
    try:
        for lines in (20, 200, 2000):
            code = program(lines)
            files = [SourceFile("main.py", code)]
            verdict = validate_files(files, "python", policy)
            assert verdict.allowed, verdict.summary()
            warm = []
            for _ in range(args.runs):
                start = time.perf_counter()
                validate_files(files, "python", policy)
                warm.append((time.perf_counter() - start) * 1000)
            validator = Validator()
            validator.validate(files, "python", policy)
            cached = []
            for _ in range(args.runs):
                start = time.perf_counter()
                assert validator.validate(files, "python", policy).cached
                cached.append((time.perf_counter() - start) * 1000)
            rows.append(
                {
                    "lines": code.count("\n"),
                    "p50": statistics.median(warm),
                    "p95": percentile(warm, 0.95),
                    "cached_p50": statistics.median(cached),
                    "cold_started": cold_ms(code, True, tmp),
                    "cold_unwarmed": cold_ms(code, False, tmp),
                }
            )
    finally:
        for leftover in tmp.iterdir():
            leftover.unlink()
        tmp.rmdir()

    table = [
        "| program | warm p50 | warm p95 | cached p50 | first call, service started (bandit loaded) | "
        "first call, nothing loaded |",
        "|---|---|---|---|---|---|",
    ]
    for r in rows:
        table.append(
            f"| {r['lines']} lines | {r['p50']:.2f} ms | {r['p95']:.2f} ms | {r['cached_p50']:.3f} ms | "
            f"{r['cold_started']:.1f} ms | {r['cold_unwarmed']:.1f} ms |"
        )
    target = next(r for r in rows if 150 <= r["lines"] <= 250)
    verdict = "meets" if target["p95"] < 5 else "MISSES"
    text = "\n".join(table)
    print(text)
    print(f"\n200-line p95 = {target['p95']:.2f} ms: {verdict} the 5 ms target")
    section = (
        f"## Validation latency ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)\n\n"
        f"`.venv/bin/python bench/validation_bench.py --runs {args.runs}` on {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, policy `standard` (AST rules + bandit, in-process). "
        f"Warm = bandit loaded, verdict cache bypassed; {args.runs} runs each; cold = median of 5 fresh "
        f"processes.\n\n{text}\n\n200-line p95 = {target['p95']:.2f} ms ({verdict} the < 5 ms target).\n"
    )
    results = ROOT / "bench" / "RESULTS.md"
    existing = results.read_text() if results.exists() else "# Benchmark results\n\n"
    kept = [p for p in re.split(r"(?m)^(?=## )", existing) if p and not p.startswith("## Validation latency")]
    results.write_text("".join(kept).rstrip("\n") + "\n\n" + section)


if __name__ == "__main__":
    main()
