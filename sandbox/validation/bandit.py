"""Bandit, in-process: loaded once, run on the tree the pipeline already parsed.

The only module that imports ``bandit``. Users' ``# nosec`` comments are
ignored: the visitor gets no nosec lines, so a comment cannot switch a test off.
"""

from __future__ import annotations

import ast
import io
import logging
import threading
from functools import lru_cache

# Importing bandit loads its plugins; stevedore logs an error for report formatters whose optional
# dependencies are missing (sarif). We use test plugins only, so that line is noise: quiet it first.
logging.getLogger("stevedore.extension").setLevel(logging.CRITICAL)

from bandit.core import config as b_config  # noqa: E402
from bandit.core import meta_ast as b_meta_ast  # noqa: E402
from bandit.core import metrics as b_metrics  # noqa: E402
from bandit.core import node_visitor as b_node_visitor  # noqa: E402
from bandit.core import test_set as b_test_set  # noqa: E402
from bandit.core import utils as b_utils  # noqa: E402

from sandbox.models import Finding  # noqa: E402
from sandbox.validation.policy import SEVERITY_RANK, BanditRules  # noqa: E402

# Bandit warns about module names for every file it is given; ours is always main.py.
logging.getLogger("bandit").setLevel(logging.ERROR)
_lock = threading.Lock()


@lru_cache(maxsize=8)
def _test_set(include: tuple[str, ...] | None, skip: tuple[str, ...]) -> b_test_set.BanditTestSet:
    with _lock:
        profile = {"include": list(include or ()), "exclude": list(skip)}
        return b_test_set.BanditTestSet(b_config.BanditConfig(), profile=profile)


#: Checktypes ``_Visitor.drive`` can serve; a policy including tests of other types gets the full walk.
_DRIVEN_CHECKTYPES = {"Call", "Str", "Bytes", "Import", "ImportFrom"}


class _Visitor(b_node_visitor.BanditNodeVisitor):  # type: ignore[misc]  # bandit ships no type information
    """Bandit's visitor minus the work we do not use, which is most of its cost.

    Same tests, same contexts. Dropped: per-node debug logging, the score
    bookkeeping (we read ``tester.results`` only), and calling the tester for
    node types that have no tests at all, and visiting leaf nodes (contexts,
    operators) that no test inspects.
    """

    namespace: str  # set by bandit's (untyped) __init__; declared so post_visit's reassignment has a type

    def __init__(self, *args: object) -> None:
        super().__init__(*args)
        self._checked = {name for name, tests in self.testset.tests.items() if tests}

    def pre_visit(self, node: ast.AST) -> bool:
        self.context = {
            "imports": self.imports,
            "import_aliases": self.import_aliases,
            "node": node,
            "linerange": b_utils.linerange(node),
            "filename": self.fname,
            "file_data": self.fdata,
        }
        if hasattr(node, "lineno"):
            self.context["lineno"] = node.lineno
        if hasattr(node, "col_offset"):
            self.context["col_offset"] = node.col_offset
        if hasattr(node, "end_col_offset"):
            self.context["end_col_offset"] = node.end_col_offset
        self.depth += 1
        return True

    def visit(self, node: ast.AST) -> None:
        name = node.__class__.__name__
        visitor = getattr(self, "visit_" + name, None)
        if visitor is not None:
            visitor(node)
        elif name in self._checked:
            self.tester.run_tests(self.context, name)

    def post_visit(self, node: ast.AST) -> None:
        self.depth -= 1
        if isinstance(node, ast.FunctionDef | ast.ClassDef):
            self.namespace = b_utils.namespace_path_split(self.namespace)[0]

    def update_scores(self, scores: object) -> None:
        pass

    def drive(self, nodes: list[tuple[ast.AST, ast.AST | None]]) -> None:
        """Visit the nodes bandit's tests can fire on, in document order, without recursion.

        With the tests a policy includes (checktypes Call and Str), only calls,
        string constants and the imports that give calls their qualified names
        matter; every node still gets ``_bandit_parent`` for tests that look up.
        """
        # Imports too: they give calls their names.
        relevant: tuple[type[ast.AST], ...] = (ast.Import, ast.ImportFrom, ast.Call)
        if self._checked & {"Str", "Bytes"}:
            relevant += (ast.Constant,)
        for node, parent in nodes:
            node._bandit_parent = parent  # type: ignore[attr-defined]  # bandit's own attribute on AST nodes
            if isinstance(node, relevant):
                self.pre_visit(node)
                self.visit(node)
                self.depth -= 1


def warm_up(rules: BanditRules) -> None:
    """Load bandit's plugins now rather than on the first request."""
    if rules.enabled:
        _test_set(rules.include, rules.skip)


def bandit_findings(
    tree: ast.Module, nodes: list[tuple[ast.AST, ast.AST | None]], source: bytes, rules: BanditRules, file: str
) -> list[Finding]:
    """Bandit's issues at or above the policy's thresholds, as findings (``nodes``: ``flatten(tree)``)."""
    if not rules.enabled:
        return []
    tests = _test_set(rules.include, rules.skip)
    visitor = _Visitor(file, io.BytesIO(source), b_meta_ast.BanditMetaAst(), tests, False, {}, b_metrics.Metrics())
    if visitor._checked <= _DRIVEN_CHECKTYPES:
        visitor.drive(nodes)
    else:
        visitor.generic_visit(tree)  # bandit's own recursive walk, for tests of other node types
    findings = []
    for issue in visitor.tester.results:
        severity, confidence = issue.severity.lower(), issue.confidence.lower()
        if SEVERITY_RANK[severity] < SEVERITY_RANK[rules.severity]:
            continue
        if SEVERITY_RANK[confidence] < SEVERITY_RANK[rules.confidence]:
            continue
        denies = issue.test_id in rules.deny or (
            rules.deny_severity is not None and SEVERITY_RANK[severity] >= SEVERITY_RANK[rules.deny_severity]
        )
        findings.append(
            Finding(
                rule_id=issue.test_id,
                severity=severity,
                action="deny" if denies else "warn",
                message=f"{issue.text} (bandit {issue.test_id}, confidence {confidence})",
                line=issue.lineno or 0,
                col=issue.col_offset or 0,
                source="bandit",
                file=file,
            )
        )
    return findings
