"""The strict tier's extra check: the code must compile under RestrictedPython.

RestrictedPython is not a security boundary (it has had four CVEs since 2023);
here it is one more early "no" and, inside the container, a second line. The
compile policy is the runner's own (``strict_compile`` is a symlink to
``images/runner/sandbox_runner/strict_compile.py``), so the host accepts exactly
what the container will compile.
"""

from __future__ import annotations

import re

from sandbox.models import Finding
from sandbox.validation.strict_compile import compile_strict

LINE = re.compile(r"^Line (\d+|None): (.*)$", re.DOTALL)


def restricted_findings(source: str, file: str) -> list[Finding]:
    """One deny finding per RestrictedPython compile error."""
    result = compile_strict(source, file)
    findings = []
    for error in result.errors:
        match = LINE.match(error)
        line = int(match.group(1)) if match and match.group(1) != "None" else 0
        message = match.group(2) if match else error
        findings.append(
            Finding(
                rule_id="restricted.compile",
                severity="high",
                action="deny",
                message=f"RestrictedPython: {message}",
                line=line,
                source="restricted",
                file=file,
            )
        )
    return findings
