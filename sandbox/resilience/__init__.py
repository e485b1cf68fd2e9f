"""Generic protection around the core: admission (rate and concurrency per caller)."""

from sandbox.resilience.admission import KeyLimiter

__all__ = ["KeyLimiter"]
