"""Adversarial program shapes for validation cost: each one a function from a size in bytes to a program.

Each shape stresses one place where the validator's work could grow faster than
the source: long attribute chains through a module, long dotted aliases used many
times, many star imports times many names, deep nesting, long operator chains,
format fields and dotted strings, and many findings. ``tests/unit/validation/
test_cost.py`` asserts near-linear growth per shape; ``bench/validation_growth.py``
prints the growth table.
"""

from __future__ import annotations

from collections.abc import Callable


def _fill(head: str, unit: Callable[[int], str], size: int, tail: str = "") -> str:
    parts, total, i = [head], len(head) + len(tail), 0
    while total < size:
        piece = unit(i)
        parts.append(piece)
        total += len(piece)
        i += 1
    parts.append(tail)
    return "".join(parts)


def attribute_chain(size: int) -> str:
    """One chain ``os.a.a.a...`` (every link resolves through the import)."""
    return _fill("import os\nx = os", lambda i: ".a", size, "\n")


def attribute_chains_denied_inside(size: int) -> str:
    """One chain that passes through a denied name again and again: ``os.system.os.system...``."""
    return _fill("import os\nx = os", lambda i: ".system.os", size, "\n")


def long_alias_used_often(size: int) -> str:
    """A long dotted alias (half the program), then many uses of it."""
    half = size // 2
    head = _fill("import os\na = os", lambda i: ".b", half, "\n")
    return _fill(head, lambda i: "a.c\n", size)


def long_import_alias_used_often(size: int) -> str:
    """``import a.a.a... as x`` (half the program), then many uses of ``x``."""
    half = size // 2
    head = _fill("import a", lambda i: ".a", half, " as x\n")
    return _fill(head, lambda i: "x\n", size)


def star_imports_times_names(size: int) -> str:
    """Half distinct star imports, half distinct names."""
    half = size // 2
    head = _fill("", lambda i: f"from m{i} import *\n", half)
    return _fill(head, lambda i: f"n{i}\n", size)


def alias_assignments(size: int) -> str:
    """``a1 = a0`` chains, written last-first, through an import."""
    count = max(1, size // 12)
    lines = [f"a{i} = a{i - 1}\n" for i in range(count, 0, -1)]
    return "import os\na0 = os\n" + "".join(lines) + f"a{count}.system('x')\n"


def many_imports(size: int) -> str:
    """Many imports of distinct modules, each used."""
    return _fill("", lambda i: f"import m{i}\nm{i}.f()\n", size)


def nested_brackets(size: int) -> str:
    """Many statements of brackets nested as deep as the parser allows."""
    unit = "x = " + "[" * 90 + "1" + "]" * 90 + "\n"
    return _fill("", lambda i: unit, size)


def nested_calls_over_lines(size: int) -> str:
    """Calls nested 90 deep whose innermost argument spans many lines (bandit's line ranges)."""
    head = "import os\n" + "f(\n" * 90
    return _fill(head, lambda i: "1,\n", size, ")" * 90 + "\n")


def deep_blocks(size: int) -> str:
    """Many functions, each with ``if`` blocks nested 60 deep."""
    unit = "def f():\n" + "".join(" " * (d + 1) + "if x:\n" for d in range(60)) + " " * 61 + "pass\n"
    return _fill("", lambda i: unit, size)


def operator_chain(size: int) -> str:
    """One long ``1+1+1...`` expression per 4 KiB line (deep left-nested trees)."""
    unit = "x = 1" + "+1" * 900 + "\n"
    return _fill("", lambda i: unit, size)


def boolean_chain(size: int) -> str:
    """One long ``a and a and ...`` expression (a wide BoolOp)."""
    return _fill("x = a", lambda i: " and a", size, "\n")


def format_strings(size: int) -> str:
    """String constants full of format fields with attribute paths."""
    return _fill("", lambda i: 's = "' + "{0.a.b}" * 40 + '"\n', size)


def dotted_strings(size: int) -> str:
    """Long dotted strings that almost match a denied qualified name."""
    return _fill("s = 'os.setx", lambda i: ".os.setx", size, "'\n")


def open_format_field(size: int) -> str:
    """A string with many ``{`` and no closing brace."""
    return _fill("s = '", lambda i: "{a", size, "'\n")


def getattr_long_name(size: int) -> str:
    """``getattr(os, "a.a.a...")``: a long computed qualified name from a string."""
    return _fill("import os\nx = getattr(os, 'a", lambda i: ".a", size, "')\n")


def expression_literal(size: int) -> str:
    """A pandas-style ``query`` given one long literal (the expression regexes)."""
    return _fill("x = df.query('a", lambda i: "a", size, "')\n")


def literal_bindings_queried(size: int) -> str:
    """A name bound to many literals, then queried many times (each query reads every literal)."""
    half = size // 2
    head = _fill("", lambda i: f"q = 'a{i}'\n", half)
    return _fill(head, lambda i: "df.query(q)\n", size)


def many_findings(size: int) -> str:
    """A finding (or two) per line."""
    return _fill("import os\n", lambda i: "os.system\n", size)


def many_calls(size: int) -> str:
    """Many calls bandit's tests look at."""
    return _fill("import subprocess\n", lambda i: "subprocess.call(x, shell=True)\n", size)


def realistic(size: int) -> str:
    """Ordinary code, for comparison."""
    unit = (
        "def f{i}(items):\n    total = 0\n    for item in items:\n        total += item.price * 2\n    return total\n"
    )
    return _fill("import math\n", lambda i: unit.format(i=i), size)


SHAPES: dict[str, Callable[[int], str]] = {
    f.__name__: f
    for f in (
        attribute_chain,
        attribute_chains_denied_inside,
        long_alias_used_often,
        long_import_alias_used_often,
        star_imports_times_names,
        alias_assignments,
        many_imports,
        nested_brackets,
        nested_calls_over_lines,
        deep_blocks,
        operator_chain,
        boolean_chain,
        format_strings,
        dotted_strings,
        open_format_field,
        getattr_long_name,
        expression_literal,
        literal_bindings_queried,
        many_findings,
        many_calls,
        realistic,
    )
}
