"""Property tests: whatever text arrives, ``validate_files`` answers with a ``Verdict`` and never raises."""

from __future__ import annotations

import keyword

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sandbox.validation import Policy, SourceFile, Verdict, validate_files
from tests.unit.validation.util import PERMISSIVE, STANDARD, STRICT

POLICIES = [STANDARD, PERMISSIVE, STRICT]
FAST = settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])

TOKENS = [
    *keyword.kwlist,
    *keyword.softkwlist,
    *["+", "-", "*", "/", "//", "%", "**", "@", "=", "==", "!=", "<", ">", "<=", ">=", ":=", "->", "."],
    *[",", ":", ";", "~", "^", "|", "&", "<<", ">>", "+=", "-=", "*=", "...", "!", "(", ")", "[", "]", "{", "}"],
    "\n",
    "\n    ",
    "\\\n",
    "x",
    "y",
    "f",
    "self",
    "print",
    "exec",
    "eval",
    "getattr",
    "__import__",
    "__globals__",
    "__class__",
    "gi_frame",
    "os",
    "sys",
    "subprocess",
    "0",
    "1.5",
    "0x_1",
    "1j",
    "'s'",
    '"{0.__globals__}"',
    "f'{x!r:>10}'",
    "b'\\x00'",
    "'''",
    "#",
    "# coding: latin-1\n",
    "\t",
    "\x00",
    "\ud800",
    "\uff45",
]


def check(text: str, policy: Policy) -> Verdict:
    files = [SourceFile("main.py", text), SourceFile("helper.py", text[::-1])]
    result = validate_files(files, "python", policy)
    assert isinstance(result, Verdict)
    assert result.allowed == (not any(f.action == "deny" for f in result.findings))
    assert result.policy == policy.name
    if result.syntax_error:
        assert not result.allowed
    if policy.enforce is False:
        assert all(f.action == "warn" or f.rule_id.startswith("syntax.") for f in result.findings)
    return result


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
@FAST
@given(text=st.text())
def test_arbitrary_text(policy: Policy, text: str) -> None:
    check(text, policy)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
@FAST
@given(data=st.binary())
def test_arbitrary_bytes_decoded_with_surrogateescape(policy: Policy, data: bytes) -> None:
    check(data.decode("utf-8", errors="surrogateescape"), policy)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
@FAST
@given(tokens=st.lists(st.sampled_from(TOKENS), max_size=60), separators=st.sampled_from([" ", "", "\n"]))
def test_token_soup(policy: Policy, tokens: list[str], separators: str) -> None:
    check(separators.join(tokens), policy)


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p.name)
@FAST
@given(
    statements=st.lists(
        st.sampled_from(
            [
                "import os",
                "from os import *",
                "x = [i for i in range(3)]",
                "def f(a, *b, **c):\n    return a",
                "class C:\n    def __init__(self):\n        self.v = 1",
                "match x:\n    case C(v=1):\n        pass",
                "async def g():\n    await h()",
                "try:\n    pass\nexcept* E:\n    pass",
                "y = f'{x.__class__}'",
                "z = getattr(x, 'v')",
                "lambda: (yield)",
                "del x",
                "with open('f') as fh:\n    pass",
            ]
        ),
        max_size=8,
    )
)
def test_statement_soup(policy: Policy, statements: list[str]) -> None:
    check("\n".join(statements) + "\n", policy)
