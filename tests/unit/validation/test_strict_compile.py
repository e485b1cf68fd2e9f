"""The strict tier's compile policy: one file for host and container, and what it rewrites."""

from __future__ import annotations

import pytest

from sandbox.config import PROJECT_ROOT
from sandbox.validation.restricted import restricted_findings
from sandbox.validation.strict_compile import INPLACE_ATTR, INPLACE_ITEM, compile_strict


def test_the_host_validates_with_the_runner_s_own_file() -> None:
    host = PROJECT_ROOT / "sandbox" / "validation" / "strict_compile.py"
    runner = PROJECT_ROOT / "images" / "runner" / "sandbox_runner" / "strict_compile.py"
    assert host.is_symlink()
    assert host.resolve() == runner.resolve()


def run(source: str, **names: object) -> list[tuple[object, ...]]:
    """Execute ``source`` compiled by the policy with recording guards; returns the guard calls."""
    calls: list[tuple[object, ...]] = []
    result = compile_strict(source, "main.py")
    assert not result.errors, result.errors
    namespace = {
        INPLACE_ITEM: lambda *args: calls.append(("item", *args)),
        INPLACE_ATTR: lambda *args: calls.append(("attr", *args)),
        "_getattr_": getattr,
        "_getitem_": lambda obj, key: obj[key],
        **names,
    }
    exec(result.code, namespace)
    return calls


def test_augmented_assignment_to_an_item_becomes_a_guarded_call() -> None:
    d: dict[str, int] = {}
    assert run("d['a'] += 1", d=d) == [("item", d, "a", "+=", 1)]


def test_slices_and_tuples_of_slices_reach_the_guard_as_slice_objects() -> None:
    a: list[int] = []
    assert run("a[1:2, 3] *= 2", a=a) == [("item", a, (slice(1, 2, None), 3), "*=", 2)]


def test_augmented_assignment_to_an_attribute_becomes_a_guarded_call() -> None:
    class Box:
        inner = None

    box = Box()
    assert run("box.n -= 3", box=box) == [("attr", box, "n", "-=", 3)]


def test_the_object_of_a_nested_target_is_read_through_the_guards() -> None:
    class Box:
        items: dict[str, object] = {}

    box = Box()
    box.items = {"k": box}
    assert run("box.items['k'].n //= 2", box=box) == [("attr", box, "n", "//=", 2)]


@pytest.mark.parametrize(
    "source", ["self._count += 1", "x.__class__.n += 1", "x[0].__dict__['a'] += 1", "g.gi_frame.f_locals['a'] += 1"]
)
def test_the_target_is_still_checked(source: str) -> None:
    assert compile_strict(source, "main.py").errors


def test_strict_validation_accepts_ordinary_augmented_assignment() -> None:
    source = "counts = {}\nfor c in 'abca':\n    counts[c] = counts.get(c, 0)\n    counts[c] += 1\n"
    assert restricted_findings(source, "main.py") == []


def test_annotated_assignments_compile_with_their_annotation_guarded() -> None:
    assert not compile_strict("class Point:\n    x: int = 0\n    y: list[int]\n", "main.py").errors
    assert compile_strict("x: y.__class__ = 1\n", "main.py").errors
