"""The runner's restricted mode on the host: what ordinary strict code may do, and what it may not.

Each program runs in its own interpreter (the audit hook cannot be removed once
installed), compiled and guarded by ``sandbox_runner.restricted`` as in the container.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.unit.helpers import RUNNER_DIR

ALLOWED = "math,itertools,functools,operator,collections,string,typing,json,re,dataclasses"
DRIVER = """
import sys, types
sys.path.insert(0, sys.argv[1])
from sandbox_runner import restricted
module = types.ModuleType("__main__")
sys.modules["__main__"] = module
code = restricted.restricted_namespace(module.__dict__, sys.argv[2].split(","), "main.py", sys.stdin.buffer.read())
exec(code, module.__dict__)
"""

ORDINARY = """
from collections import Counter, defaultdict
import dataclasses, functools, itertools, operator
counts = {}
for c in "hello":
    counts[c] = counts.get(c, 0)
    counts[c] += 1
by_letter = defaultdict(list)
by_letter["a"] += [1]
class Account:
    opened = 0
    def __init__(self):
        self.balance = 0
        Account.opened += 1
    def deposit(self, amount):
        self.balance += amount
        return self.balance
class Savings(Account):
    def deposit(self, amount):
        return super().deposit(amount) + 1
@dataclasses.dataclass
class Point:
    x: int
    y: int = 0
account = Savings()
assert account.deposit(5) == 6 and Account.opened == 1
grid = [[0] * 3 for _ in range(3)]
grid[1][2] += 5
grid[0][0:2] += [9]
assert list("abc") == ["a", "b", "c"] and tuple("ab") == ("a", "b") and dict(a=1) == {"a": 1}
assert (bin(5), hex(255), oct(8), chr(65), ord("A")) == ("0b101", "0xff", "0o10", "A", 65)
assert "{:>4}|{}".format(3, "x") == "   3|x" and "{0[a]}".format({"a": 1}) == "1" and "{a}".format_map({"a": 2}) == "2"
assert sorted([Account(), account], key=operator.attrgetter("balance"))[0].balance == 0
assert type(1) is int and isinstance(account, Account) and issubclass(Savings, Account)
assert Counter("aab").most_common(1) == [("a", 2)] and functools.reduce(operator.add, range(5)) == 10
assert len(list(itertools.permutations([1, 2, 3]))) == 6 and dataclasses.asdict(Point(1)) == {"x": 1, "y": 0}
assert getattr(account, "balance") == 5 and hasattr(account, "balance") and not hasattr(account, "nope")
first, *rest = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
n = 10
n //= 3
assert (divmod(7, 2), pow(2, 10, 7), round(2.5), abs(-1), min(3, 1), max("ab"), sum([1, 2]), any([0, 1])) == (
    (3, 1), 2, 2, 1, 1, "b", 3, True
)
with open("data.txt", "w") as f:
    f.write("hi")
assert open("data.txt").read() == "hi"
print(f"{n!r:>3}", first, rest[0], ascii("é"))
"""

DENIED = {
    "format_field_walk": ("'{0.__class__}'.format(1)", "attribute '__class__' is not allowed"),
    "module_attribute": ("import typing\ntyping.sys", "module 'sys' is not allowed"),
    "from_import_module": ("from typing import sys", "module 'sys' is not allowed"),
    "getattr_module": ("import typing\ngetattr(typing, 'sys')", "module 'sys' is not allowed"),
    "attrgetter_dunder": ("import operator\noperator.attrgetter('__class__')(1)", "'__class__' is not allowed"),
    "methodcaller_dunder": ("import operator\noperator.methodcaller('__reduce__')", "'__reduce__' is not allowed"),
    "generator_frame": ("g = (x for x in [1])\ngetattr(g, 'gi_frame')", "'gi_frame' is not allowed"),
    "type_three_arguments": ("type('X', (), {})", "takes 1 positional argument"),
    "string_formatter": ("import string\nstring.Formatter", "string.Formatter is not allowed"),
    "from_string_formatter": ("from string import Formatter", "from string import Formatter: not allowed"),
    "write_to_a_module": ("import math\nmath.pi = 3", "may not be changed"),
    "write_to_a_library_class": ("import collections\ncollections.Counter.x = 1", "may not be changed"),
    "augmented_write_to_a_module": ("import math\nmath.tau += 1", "may not be changed"),
    "open_outside": ("open('../outside.txt', 'w')", "outside the workspace"),
    "import_outside_allowlist": ("import os", "import of 'os' is not allowed"),
    "no_eval_by_another_name": ("e = eval", "name 'eval' is not defined"),
    "annotation_eval_to_os": (
        "import typing\n"
        "def f(x: \"[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
        ".__init__.__globals__['system']('echo PWNED') and int\"): pass\n"
        "typing.get_type_hints(f)",
        "os.system is not allowed by the strict policy",
    ),
}


def run(source: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-I", "-c", DRIVER, str(RUNNER_DIR), ALLOWED],
        input=source,
        capture_output=True,
        text=True,
        cwd=workdir,
        env={"SANDBOX_WORKDIR": str(workdir)},
        timeout=30,
        check=False,
    )


def test_ordinary_code_runs(tmp_path: Path) -> None:
    completed = run(ORDINARY, tmp_path)
    assert completed.returncode == 0, completed.stderr
    assert completed.stdout == "  3 ('l', 2) ('e', 1) '\\xe9'\n"


@pytest.mark.parametrize("case", sorted(DENIED))
def test_denied(tmp_path: Path, case: str) -> None:
    source, expected = DENIED[case]
    completed = run(source + "\nprint('not stopped')\n", tmp_path)
    assert completed.returncode != 0 and "not stopped" not in completed.stdout
    assert "PWNED" not in completed.stdout
    assert expected in completed.stderr, completed.stderr[-500:]
