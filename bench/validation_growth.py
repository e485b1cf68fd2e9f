"""Validation cost growth per adversarial shape: time at 1, 2, 4 ... KiB, per tier.

    .venv/bin/python bench/validation_growth.py [--max-kib 64] [--tiers standard,strict] [--shapes a,b]

Each shape (tests/unit/validation/shapes.py) is validated in-process with
``validate_files`` (bandit loaded, no cache), best of 3 runs per size; a shape
stops growing once one validation takes longer than ``--budget-s``. The last
column is time(8x) / time(x) for the largest 8x pair measured: near-linear is
about 8, quadratic 64, cubic 512. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from sandbox.config import Settings  # noqa: E402
from sandbox.validation import PolicySet, SourceFile, validate_files, warm_up  # noqa: E402
from tests.unit.validation.shapes import SHAPES  # noqa: E402


def best_of(code: str, policy: object, runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        started = time.process_time()
        validate_files([SourceFile("main.py", code)], "python", policy)  # type: ignore[arg-type]
        best = min(best, time.process_time() - started)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--max-kib", type=int, default=64)
    parser.add_argument("--tiers", default="permissive,standard,strict")
    parser.add_argument("--shapes", default=",".join(SHAPES))
    parser.add_argument("--budget-s", type=float, default=3.0)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    policies = PolicySet(Settings().policies_dir, "standard")
    sizes = [1 << k for k in range(args.max_kib.bit_length()) if (1 << k) <= args.max_kib]
    header = " | ".join(f"{s} KiB" for s in sizes)
    print(f"| shape | tier | {header} | growth 8x |")
    print("|---|---|" + "---|" * len(sizes) + "---|")
    for tier in args.tiers.split(","):
        policy = policies.get(tier)
        warm_up(policy.bandit)
        for name in args.shapes.split(","):
            shape = SHAPES[name]
            times: dict[int, float] = {}
            for kib in sizes:
                took = best_of(shape(kib << 10), policy, args.runs)
                times[kib] = took
                if took > args.budget_s:
                    break
            cells = [f"{times[s] * 1000:.1f} ms" if s in times else "-" for s in sizes]
            pairs = [(s, s * 8) for s in times if s * 8 in times]
            growth = f"{times[pairs[-1][1]] / times[pairs[-1][0]]:.1f}" if pairs else "-"
            print(f"| {name} | {tier} | {' | '.join(cells)} | {growth} |", flush=True)


if __name__ == "__main__":
    main()
