"""Validation cost grows near-linearly with the program, for every adversarial shape and tier.

A shape (``shapes.py``) that grew quadratically or worse made one key's program hold a
validation worker for seconds (a 3 KB attribute chain: 15 s). Each is timed at a size
and at 8x that size, CPU time, best of several runs with the cyclic GC off (as in the
workers): near-linear is about 8x, quadratic 64x; the bound is 12x, retried once.
"""

from __future__ import annotations

import gc
import time

import pytest

from sandbox.validation import Policy, SourceFile, validate_files, warm_up
from sandbox.validation.rules import EXPRESSION_REACH, MAX_CHAIN
from tests.unit.validation.shapes import SHAPES
from tests.unit.validation.util import PERMISSIVE, STANDARD, STRICT, findings

SMALL, LARGE = 2 << 10, 16 << 10
BOUND = 12
FLOOR_S = 0.002  # below this, the small run's time is mostly noise: compare against the floor


def cpu_time(code: str, policy: Policy, runs: int) -> float:
    best = float("inf")
    files = [SourceFile("main.py", code)]
    for _ in range(runs):
        gc.collect()
        gc.disable()
        try:
            started = time.process_time()
            validate_files(files, "python", policy)
            best = min(best, time.process_time() - started)
        finally:
            gc.enable()
    return best


def growth(shape: str, policy: Policy) -> tuple[float, float]:
    small = cpu_time(SHAPES[shape](SMALL), policy, runs=5)
    large = cpu_time(SHAPES[shape](LARGE), policy, runs=3)
    return small, large


@pytest.mark.parametrize("policy", [PERMISSIVE, STANDARD, STRICT], ids=lambda p: p.name)
@pytest.mark.parametrize("shape", SHAPES)
def test_validation_cost_is_near_linear(shape: str, policy: Policy) -> None:
    warm_up(policy.bandit)
    for _attempt in range(3):  # a loaded machine: two more tries before calling it a regression
        small, large = growth(shape, policy)
        if large <= BOUND * max(small, FLOOR_S):
            return
    pytest.fail(f"{shape} under {policy.name}: {small * 1000:.1f} ms at 2 KiB, {large * 1000:.1f} ms at 16 KiB")


def test_a_chain_too_long_to_check_is_denied() -> None:
    chain = "import os\nx = os" + ".path" * (MAX_CHAIN + 1) + "\n"
    assert findings(chain, STANDARD, "source.too_complex")
    assert not findings("import os\nx = os" + ".path" * (MAX_CHAIN - 1) + "\n", STANDARD, "source.too_complex")


def test_a_long_dotted_import_is_refused_before_parsing() -> None:
    found = findings("import " + ".".join(["a"] * (MAX_CHAIN + 1)) + " as x\nx\n", STANDARD)
    assert [f.rule_id for f in found] == ["source.too_complex"]


def test_a_chain_through_a_denied_name_is_still_found_within_the_cap() -> None:
    assert findings("import shutil\nshutil.os.system('id')", STANDARD, "name.qualified_denied")


def test_too_many_star_imports_are_denied() -> None:
    code = "".join(f"from m{i} import *\n" for i in range(20)) + "x\n"
    assert findings(code, STANDARD, "source.too_complex")


@pytest.mark.parametrize(
    ("text", "reaches"),
    [("a.b", True), ("a . b", True), ("12a3.b", True), ("12.b", False), ("x + 1", False), ("@x", True)],
)
def test_the_linear_expression_pattern_matches_as_before(text: str, reaches: bool) -> None:
    assert bool(EXPRESSION_REACH.search(text)) is reaches
