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

from bandit.core import config as b_config
from bandit.core import meta_ast as b_meta_ast
from bandit.core import metrics as b_metrics
from bandit.core import node_visitor as b_node_visitor
from bandit.core import test_set as b_test_set

from sandbox.models import Finding
from sandbox.validation.policy import SEVERITY_RANK, BanditRules

# Bandit warns about module names for every file it is given; ours is always main.py.
logging.getLogger("bandit").setLevel(logging.ERROR)
_lock = threading.Lock()


@lru_cache(maxsize=8)
def _test_set(skip: tuple[str, ...]) -> b_test_set.BanditTestSet:
    with _lock:
        return b_test_set.BanditTestSet(b_config.BanditConfig(), profile={"exclude": list(skip)})


def warm_up(rules: BanditRules) -> None:
    """Load bandit's plugins now rather than on the first request."""
    if rules.enabled:
        _test_set(rules.skip)


def bandit_findings(tree: ast.Module, source: bytes, rules: BanditRules, file: str) -> list[Finding]:
    """Bandit's issues at or above the policy's thresholds, as findings."""
    if not rules.enabled:
        return []
    visitor = b_node_visitor.BanditNodeVisitor(
        file, io.BytesIO(source), b_meta_ast.BanditMetaAst(), _test_set(rules.skip), False, {}, b_metrics.Metrics()
    )
    visitor.generic_visit(tree)
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
