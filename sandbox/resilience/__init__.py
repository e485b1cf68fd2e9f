"""Generic protection around the core: admission (rate and concurrency per caller), the circuit breaker, retries."""

from sandbox.resilience.admission import KeyLimiter, Limiter
from sandbox.resilience.breaker import BreakerState, CircuitBreaker
from sandbox.resilience.retry import RetryPolicy

__all__ = ["BreakerState", "CircuitBreaker", "KeyLimiter", "Limiter", "RetryPolicy"]
