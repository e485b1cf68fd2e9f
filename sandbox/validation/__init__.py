"""Validation: a cheap early "no" with a clear reason. The container remains the boundary."""

from sandbox.validation.bandit import warm_up
from sandbox.validation.pipeline import SourceFile, Validator, Verdict, VerdictCache, validate_files
from sandbox.validation.policy import Policy, PolicySet, load_policy
from sandbox.validation.workers import InlineValidation, ValidationWorkers

__all__ = [
    "InlineValidation",
    "Policy",
    "PolicySet",
    "SourceFile",
    "ValidationWorkers",
    "Validator",
    "Verdict",
    "VerdictCache",
    "load_policy",
    "validate_files",
    "warm_up",
]
