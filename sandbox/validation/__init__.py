"""Validation: a cheap early "no" with a clear reason. The container remains the boundary."""

from sandbox.validation.bandit import warm_up
from sandbox.validation.pipeline import SourceFile, Validator, Verdict, validate_files
from sandbox.validation.policy import Policy, PolicySet, load_policy

__all__ = ["Policy", "PolicySet", "SourceFile", "Validator", "Verdict", "load_policy", "validate_files", "warm_up"]
