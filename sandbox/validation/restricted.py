"""The strict tier's extra check: the code must compile under RestrictedPython.

RestrictedPython is not a security boundary (it has had four CVEs since 2023);
here it is one more early "no" and, inside the container, a second line.
"""

from __future__ import annotations

import re

# Imported from where it is defined: the package root does not re-export it explicitly (mypy strict).
from RestrictedPython.compile import compile_restricted_exec

from sandbox.models import Finding

LINE = re.compile(r"^Line (\d+|None): (.*)$", re.DOTALL)


def restricted_findings(source: str, file: str) -> list[Finding]:
    """One deny finding per RestrictedPython compile error."""
    result = compile_restricted_exec(source, filename=file)
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
