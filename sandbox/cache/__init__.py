"""The opt-in result cache (``cache: true``): a run's stored result for identical inputs, per API key.

``service.Execution`` looks it up between validate and acquire (a hit runs no
container) and offers each finished run's result to it; see ``key`` for what
identifies a run and which results are kept, ``results`` for the stores.
"""

from sandbox.cache.key import CACHEABLE, cache_key, uncacheable
from sandbox.cache.results import (
    CachedResult,
    CacheUnavailable,
    MemoryResults,
    ResultCache,
    ResultStore,
    build_result_cache,
)

__all__ = [
    "CACHEABLE",
    "CacheUnavailable",
    "CachedResult",
    "MemoryResults",
    "ResultCache",
    "ResultStore",
    "build_result_cache",
    "cache_key",
    "uncacheable",
]
