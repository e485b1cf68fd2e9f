"""AST rules (sandbox/validation/rules.py) under the shipped ``standard`` policy: one case per construct.

Each denial case names the exact rule id and the line/col of the node the rule
reports (``ast`` 1-based lines, 0-based columns). Bandit may add its own
findings for the same code; these tests look only at the AST rule's finding.
"""

from __future__ import annotations

import ast
import sys

import pytest

from sandbox.validation.rules import RuleChecker, flatten
from tests.unit.validation.util import STANDARD, STRICT, findings, verdict, where


def assert_denied(code: str, rule_id: str, line: int, col: int, policy=STANDARD) -> None:
    """``code`` is denied and one of its AST findings is ``rule_id`` at ``line``:``col``."""
    result = verdict(code, policy)
    assert not result.allowed, f"allowed: {code!r}"
    ast_findings = [f for f in result.findings if f.source == "ast"]
    assert (rule_id, "deny", line, col) in where(ast_findings), f"{code!r} -> {where(result.findings)}"


def assert_clean(code: str, policy=STANDARD) -> None:
    """``code`` is allowed with no AST-rule finding at all."""
    result = verdict(code, policy)
    ast_findings = [f for f in result.findings if f.source == "ast"]
    assert result.allowed and not ast_findings, f"{code!r} -> {where(result.findings)}"


# --------------------------------------------------------------------------- imports

IMPORT_CASES = [
    ("import subprocess", 1, 0),
    ("import ctypes.util", 1, 0),
    ("import subprocess as sp", 1, 0),
    ("from subprocess import run", 1, 0),
    ("from importlib.util import find_spec", 1, 0),
    ("from pickle import loads as l", 1, 0),
    ("x = 1\nimport json, socket", 2, 0),
    ("def f():\n    import marshal", 2, 4),
    ("try:\n    import cffi\nexcept ImportError:\n    pass", 2, 4),
    ("import builtins", 1, 0),
    ("import gc", 1, 0),
    ("import inspect", 1, 0),
    ("import urllib.request", 1, 0),
    ("from xmlrpc.client import ServerProxy", 1, 0),
]


@pytest.mark.parametrize(("code", "line", "col"), IMPORT_CASES, ids=[c[0] for c in IMPORT_CASES])
def test_denied_module_import_forms(code: str, line: int, col: int) -> None:
    assert_denied(code, "import.denied", line, col)


@pytest.mark.parametrize(
    ("code", "module"),
    [
        # `from pkg import sub` names the submodule: checked as one.
        ("from http import client", "http.client"),
        ("from urllib import request", "urllib.request"),
        ("from sys import monitoring", "sys.monitoring"),
        ("import http.client as h", "http.client"),
        ("from http.client import HTTPConnection", "http.client"),
    ],
)
def test_denied_submodule_is_named_in_the_message(code: str, module: str) -> None:
    denied = findings(code, rule_id="import.denied")
    assert any(f"'{module}'" in f.message for f in denied), where(denied)
    assert all((f.line, f.col, f.action) == (1, 0, "deny") for f in denied)


@pytest.mark.parametrize(
    "code",
    [
        "import http",
        "from http import HTTPStatus",
        "import urllib.parse",
        "from urllib.parse import urlencode",
        "import os.path",
        "from os import path",
        "import sys",
        "from . import sibling",  # relative: the sandbox has no package, and nothing is checked
    ],
)
def test_allowed_neighbours_of_denied_modules(code: str) -> None:
    assert_clean(code)


def test_dunder_import_call_is_a_denied_name_and_its_module_is_checked() -> None:
    assert_denied("x = __import__('os')", "name.denied", 1, 4)
    assert_denied("x = __import__('subprocess')", "import.denied", 1, 4)


def test_importlib_import_module_constant_and_computed() -> None:
    # `import importlib` is itself denied; the call is checked as well.
    code = "import importlib\nimportlib.import_module('subprocess')"
    assert_denied(code, "import.denied", 1, 0)
    assert_denied(code, "import.denied", 2, 0)
    computed = "import importlib\nname = 'o' + 's'\nimportlib.import_module(name)"
    assert_denied(computed, "import.dynamic", 3, 0)
    assert_denied("m = __import__(name)", "import.dynamic", 1, 4)
    assert_denied("m = __import__()", "import.dynamic", 1, 4)


# --------------------------------------------------------------------------- names

DENIED_NAMES = [
    "exec",
    "eval",
    "compile",
    "__import__",
    "breakpoint",
    "help",
    "globals",
    "locals",
    "vars",
    "__builtins__",
    "__loader__",
    "__spec__",
    "__path__",
    "__build_class__",
]


def test_standard_denies_exactly_these_names() -> None:
    assert set(STANDARD.python.names) == set(DENIED_NAMES)


@pytest.mark.parametrize("name", DENIED_NAMES)
def test_each_denied_name_as_a_value(name: str) -> None:
    assert_denied(f"x = 1\nf({name})", "name.denied", 2, 2)


@pytest.mark.parametrize("name", DENIED_NAMES)
def test_each_denied_name_called(name: str) -> None:
    assert_denied(f"y = {name}()", "name.denied", 1, 4)


def test_denied_name_as_an_assignment_target_is_still_denied() -> None:
    # Shadowing `eval` is harmless, but the rule is by name: it stays simple and conservative.
    assert_denied("eval = 1", "name.denied", 1, 0)


# ----------------------------------------------------------------- qualified names

QUALIFIED_CASES = [
    ("import os as o\no.system('x')", 2, 0),
    ("from os import system as s", 1, 0),
    ("from os import system as s\ns('x')", 2, 0),
    ("from os import *\nsystem('x')", 2, 0),
    ("import os\nos.execv('/bin/sh', ['sh'])", 2, 0),
    ("import os\nos.spawnlp(os.P_WAIT, 'ls', 'ls')", 2, 0),
    ("import os\nos.posix_spawn('/bin/ls', [], {})", 2, 0),
    ("import os\nos.setuid(0)", 2, 0),
    ("import os.path\nos.fork()", 2, 0),
    ("import sys\nf = sys._getframe()", 2, 4),
    ("from sys import _getframe", 1, 0),
    ("import sys\nm = sys.modules", 2, 4),
    ("import sys as s\ns.modules['os']", 2, 0),
    ("import sys\nsys.path.append('/tmp')", 2, 0),
    ("import sys\nsys.settrace(None)", 2, 0),
    ("import types\nT = types.FunctionType", 2, 4),
    ("from types import CodeType", 1, 0),
    ("import asyncio\nasyncio.create_subprocess_exec('ls')", 2, 0),
    ("import multiprocessing.reduction\nmultiprocessing.reduction.ForkingPickler", 2, 0),
    ("import shutil\nshutil.chown('a', 'b')", 2, 0),
]


@pytest.mark.parametrize(("code", "line", "col"), QUALIFIED_CASES, ids=[c[0] for c in QUALIFIED_CASES])
def test_qualified_names_through_imports_and_aliases(code: str, line: int, col: int) -> None:
    assert_denied(code, "name.qualified_denied", line, col)


def test_qualified_rules_need_the_import() -> None:
    # `system` not imported from os is just a name; `os.path.join` is allowed.
    assert_clean("def system(x):\n    return x\nsystem('x')")
    assert_clean("import os\nos.path.join('a', 'b')\nos.getcwd()")


# --------------------------------------------------------------------- attributes


def test_dunder_attribute_load_store_delete() -> None:
    assert_denied("y = x.__globals__", "attribute.dunder", 1, 4)
    assert_denied("x.__globals__ = 1", "attribute.dunder", 1, 0)
    assert_denied("del x.__globals__", "attribute.dunder", 1, 4)
    assert_denied("x.__globals__ += 1", "attribute.dunder", 1, 0)


def test_subclass_walk_is_denied() -> None:
    code = "x = ().__class__.__base__.__subclasses__()"
    assert_denied(code, "attribute.dunder", 1, 4)  # __subclasses__ (outermost node)
    messages = " ".join(f.message for f in findings(code, rule_id="attribute.dunder"))
    assert "'__base__'" in messages and "'__subclasses__'" in messages
    assert "'__class__'" not in messages  # __class__ is in the safe list


FRAME_ATTRIBUTES = [
    "gi_frame",
    "gi_code",
    "gi_yieldfrom",
    "cr_frame",
    "cr_code",
    "cr_await",
    "ag_frame",
    "ag_code",
    "ag_await",
    "f_back",
    "f_globals",
    "f_locals",
    "f_builtins",
    "f_code",
    "f_trace",
    "tb_frame",
    "tb_next",
    "co_code",
    "co_consts",
    "co_names",
    "func_globals",
    "func_code",
    "mro",
]


NATIVE_ATTRIBUTES = [
    "ctypes",
    "ctypeslib",
    "_ctypes",
    "spawnv_passfds",
    "fork_exec",
    "enable_load_extension",
    "load_extension",
    "memfd_create",
]


def test_standard_denies_these_attributes() -> None:
    assert set(STANDARD.python.attributes) == set(FRAME_ATTRIBUTES) | set(NATIVE_ATTRIBUTES)


@pytest.mark.parametrize("name", FRAME_ATTRIBUTES)
def test_each_denied_attribute(name: str) -> None:
    assert_denied(f"y = x.{name}", "attribute.denied", 1, 4)


def test_generator_frame_walk_reports_every_link() -> None:
    code = "g = (i for i in [1])\nx = g.gi_frame.f_back.f_globals"
    denied = [f for f in findings(code, rule_id="attribute.denied")]
    assert {f.message.split("'")[1] for f in denied} == {"gi_frame", "f_back", "f_globals"}
    assert all((f.line, f.col) == (2, 4) for f in denied)


@pytest.mark.parametrize("func", ["getattr", "hasattr", "delattr"])
def test_getattr_family_with_a_dunder_literal(func: str) -> None:
    assert_denied(f"y = {func}(x, '__globals__')", "attribute.dunder", 1, 4)


def test_setattr_with_a_dunder_literal() -> None:
    assert_denied("setattr(x, '__dict__', {})", "attribute.dunder", 1, 0)


def test_getattr_with_a_denied_plain_attribute() -> None:
    assert_denied("f = getattr(g, 'gi_frame')", "attribute.denied", 1, 4)


@pytest.mark.parametrize(
    "code", ["y = getattr(x, name)", "y = getattr(x, 'a' + 'b')", "y = hasattr(x, f'{n}')", "setattr(x, name, 1)"]
)
def test_getattr_family_with_a_computed_name(code: str) -> None:
    line_col = (1, 4) if code.startswith("y") else (1, 0)
    assert_denied(code, "attribute.dynamic", *line_col)


def test_getattr_with_a_plain_literal_is_allowed() -> None:
    assert_clean("y = getattr(x, 'name', None)\nsetattr(x, 'count', 1)\nhasattr(x, 'shape')")


def test_operator_attrgetter_and_methodcaller() -> None:
    assert_denied("import operator\nf = operator.attrgetter('__globals__')", "attribute.dunder", 2, 4)
    assert_denied("import operator\nf = operator.attrgetter('a.__globals__')", "attribute.dunder", 2, 4)
    assert_denied("import operator\nf = operator.attrgetter('x', 'gi_frame.f_back')", "attribute.denied", 2, 4)
    assert_denied("import operator\nf = operator.attrgetter(name)", "attribute.dynamic", 2, 4)
    assert_denied("import operator\nf = operator.methodcaller(name)", "attribute.dynamic", 2, 4)
    assert_denied("import operator as op\nf = op.methodcaller('__reduce_ex__', 2)", "attribute.dunder", 2, 4)
    # methodcaller's later arguments are call arguments, not names
    assert_clean("import operator\nf = operator.methodcaller('split', x)\ng = operator.attrgetter('a.b', 'c')")


@pytest.mark.parametrize(
    "code",
    [
        "from operator import attrgetter\nf = attrgetter('a.__globals__')",
        "from operator import attrgetter\nf = attrgetter(name)",
        "from operator import methodcaller as mc\nf = mc(name)",
    ],
)
def test_from_imported_attrgetter_is_checked(code: str) -> None:
    assert not verdict(code).allowed


def test_match_class_pattern_keyword_attributes() -> None:
    assert_denied("match x:\n    case C(__globals__=g):\n        pass", "attribute.dunder", 2, 9)
    assert_denied("match x:\n    case C(gi_frame=f):\n        pass", "attribute.denied", 2, 9)
    # __class__ is in the safe list, so `case C(__class__=y)` is allowed under standard
    assert_clean("match x:\n    case C(__class__=y):\n        pass")


def test_string_constants_naming_denied_attributes() -> None:
    code = "y = vars(x)['__globals__']"
    assert_denied(code, "name.denied", 1, 4)
    assert_denied(code, "string.attribute", 1, 12)
    assert_denied("y = d['gi_frame']", "string.attribute", 1, 6)
    assert_denied("k = 'f_globals'", "string.attribute", 1, 4)
    assert_clean("k = 'gi_frames'\nm = '__main__'\nn = '__init__'\ns = 'hello world'")


def test_format_fields_reading_denied_attributes() -> None:
    assert_denied("s = '{0.__globals__}'.format(f)", "string.format_attribute", 1, 4)
    assert_denied("s = '{.f_back}'.format(f)", "string.format_attribute", 1, 4)
    assert_denied("s = '{x.gi_frame.f_back}'.format_map(m)", "string.format_attribute", 1, 4)
    assert_denied("t = 'a {0.__base__} b {0[k].f_back!r:>10}'", "string.format_attribute", 1, 4)
    assert_clean("s = '{0.__class__.__name__} {x.real:>10.2f}'.format(f)")


@pytest.mark.parametrize(
    "code",
    [
        "s = '{0.__init__.__globals__}'.format(obj)",
        "s = '{0.__class__.__base__}'.format(obj)",
        "s = '{0.real.gi_frame}'.format(obj)",
    ],
)
def test_every_attribute_of_a_format_field_is_checked(code: str) -> None:
    assert not verdict(code).allowed


def test_allowed_dunders() -> None:
    assert_clean(
        "class A(B):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.name = self.__class__.__name__\n"
        "import numpy as np\n"
        "v = np.__version__\n"
        "if __name__ == '__main__':\n"
        "    print(A.__doc__, A.__qualname__, A.__module__)\n"
    )


def test_object_dict_is_denied() -> None:
    assert_denied("d = obj.__dict__", "attribute.dunder", 1, 4)


def test_docstrings_and_bare_strings_are_not_flagged() -> None:
    assert_clean(
        '"""Module doc: reads __globals__ and {0.__globals__}."""\n'
        "def f():\n"
        '    """__globals__"""\n'
        "    return 1\n"
        "class C:\n"
        "    'gi_frame {.f_back}'\n"
        "'__globals__'\n"
    )


def test_fstring_attribute_access_is_checked() -> None:
    assert_denied('s = f"{x.__globals__}"', "attribute.dunder", 1, 7)
    assert_denied('s = f"{x.gi_frame!r:>10}"', "attribute.denied", 1, 7)
    assert_clean('s = f"{x.real!r:>10} {self.__class__.__name__}"')


def _fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) for c in text)


def test_nfkc_fullwidth_exec_is_exec() -> None:
    code = _fullwidth("exec") + '("1")'
    assert not code.isascii()
    assert_denied(code, "name.denied", 1, 0)
    assert "'exec'" in findings(code, rule_id="name.denied")[0].message


def test_nfkc_math_italic_eval_and_fullwidth_imports_and_attributes() -> None:
    italic_eval = "".join(chr(0x1D622 + ord(c) - ord("a")) for c in "eval")
    assert_denied(f"y = {italic_eval}('1')", "name.denied", 1, 4)
    assert_denied("import " + _fullwidth("subprocess"), "import.denied", 1, 0)
    assert_denied("y = x.__" + _fullwidth("globals") + "__", "attribute.dunder", 1, 4)
    assert_denied("y = x." + _fullwidth("gi_frame").replace(_fullwidth("_"), "_"), "attribute.denied", 1, 4)


def test_findings_are_deduplicated() -> None:
    star_twice = "from os import *\nfrom os import *\nsystem('x')"
    assert where(findings(star_twice, rule_id="name.qualified_denied")) == [("name.qualified_denied", "deny", 3, 0)]
    same_name_twice = "import operator\nf = operator.attrgetter('__globals__.__globals__')"
    assert len(findings(same_name_twice, rule_id="attribute.dunder")) == 1
    result = verdict("x.__globals__; y.__globals__\nx.__globals__")
    assert len(result.findings) == len(set(result.findings)) == 3


# ------------------------------------------------------------------------- strict


def test_strict_allowlist_and_obj_attribute() -> None:
    assert_denied("import os", "import.not_allowed", 1, 0, policy=STRICT)
    assert_denied("from os import path", "import.not_allowed", 1, 0, policy=STRICT)
    assert_denied("import subprocess", "import.denied", 1, 0, policy=STRICT)
    # AttributeError.obj (CVE-2024-47532)
    assert_denied("try:\n    x.y\nexcept AttributeError as e:\n    o = e.obj", "attribute.denied", 4, 8, policy=STRICT)
    assert verdict("import math, collections.abc\nimport numpy as np", STRICT).allowed


# ------------------------------------------------------------------------- walker


def _deep_tree(depth: int, head: str) -> ast.Module:
    """``x = <head> + 1 + 1 ...``: ``head`` sits ``depth`` BinOps down; parsed with a raised recursion limit."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, depth * 4 + 1000))
    try:
        return ast.parse(f"x = {head}" + "+1" * depth)
    finally:
        sys.setrecursionlimit(limit)


def test_walker_does_not_recurse() -> None:
    tree = _deep_tree(5000, "y.__globals__")
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(200)  # a recursive walk of 5000 levels could not survive this
    try:
        nodes = flatten(tree, STANDARD.source.max_ast_nodes)
        found = RuleChecker(STANDARD.python).check(nodes)
    finally:
        sys.setrecursionlimit(limit)
    assert where(found) == [("attribute.dunder", "deny", 1, 4)]


def test_deep_but_parseable_expression_through_the_pipeline() -> None:
    # 2000 levels: ast.parse accepts it at the default recursion limit, even from pytest's deep stack.
    result = verdict("x = y.__globals__" + "+1" * 2000)
    assert not result.allowed
    assert ("attribute.dunder", "deny", 1, 4) in where(list(result.findings))


# ------------------------------------------------------------ walk order


@pytest.mark.parametrize(
    "code",
    [
        "if 1:\n    if 1:\n        if 1:\n            import sys\nf = sys._getframe(0)",
        "if 1:\n    if 1:\n        if 1:\n            from types import *\nT = FunctionType",
        "if 1:\n  if 1:\n    if 1:\n      if 1:\n        if 1:\n          if 1:\n            import sys as s\n"
        "s.modules['posix'].system('id')",
    ],
)
def test_import_nested_deeper_than_its_use(code: str) -> None:
    # Regression guard: the walk must be in document order (a breadth-first walk saw these uses
    # before the imports that give them their qualified names).
    assert not verdict(code).allowed, where(list(verdict(code).findings))


@pytest.mark.parametrize(
    "code",
    [
        "def f():\n    return o.system('id')\nimport os as o\nf()",
        "def f():\n    return sys.modules['posix']\nimport sys\nf()",
        "def f():\n    return types.FunctionType\nimport types\nf()",
        "def f():\n    return system('id')\nfrom os import *\nf()",
    ],
)
def test_use_before_import_in_document_order(code: str) -> None:
    assert not verdict(code).allowed


# ------------------------------------------------------- bypasses that pass standard
# Reproducers for gaps found while writing these tests that tests/security/bypasses/ does not track
# (it already tracks pydoc.locate, numpy.ctypeslib, getattr/attrgetter/match with qualified literals,
# multiprocessing.util.spawnv_passfds). Each passed `standard` once; with `echo` for `id`, each ran on CPython 3.11.

STDLIB_BYPASSES = {
    # string-compiling standard library functions: dynamic code without exec/eval/compile by name
    "timeit": "import timeit\ntimeit.timeit(\"__import__('os').system('id')\", number=1)",
    "cprofile_run": "import cProfile\ncProfile.run(\"__import__('os').system('id')\")",
    "trace_runctx": "import trace\ntrace.Trace(count=0, trace=0).runctx(\"__import__('os').system('id')\", {}, {})",
    "doctest": "import doctest\n"
    "def f():\n    '''\n    >>> __import__('os').system('id')\n    '''\n"
    "doctest.run_docstring_examples(f, {})",
    "type_hints_eval": "import typing\n"
    "def f(x: \"__import__('os').system('id')\"):\n    pass\n"
    "typing.get_type_hints(f)",
    "logging_dictconfig_factory": "import logging.config\n"
    "logging.config.dictConfig({'version': 1, 'handlers': {'h': {'()': 'os.system', 'command': 'id'}}})",
    # a denied module or name reached as an attribute of an allowed module
    "shutil_os_system": "import shutil\nshutil.os.system('id')",
    "os_sys_modules": "import os\nos.sys.modules['posix'].system('id')",
    "asyncio_base_events_subprocess": "import asyncio.base_events as b\nb.subprocess.run(['id'])",
    "matplotlib_animation_subprocess": "import matplotlib.animation as a\na.subprocess.run(['id'])",
    # builtins under another name
    "getattr_alias": "g = getattr\nf = g(obj, '__glo' + 'bals__')",
}


@pytest.mark.parametrize("code", list(STDLIB_BYPASSES.values()), ids=list(STDLIB_BYPASSES))
def test_bypass_is_denied(code: str) -> None:
    assert not verdict(code).allowed
