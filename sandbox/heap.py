"""A long-running process's start-up heap, kept out of the garbage collector's way.

What a server builds while it starts (modules, FastAPI's routes and models, pydantic's
validators, the language catalog: ~200,000 objects in `sandbox serve`) lives as long as
the process, yet every full collection walked all of it: one pass took 150-200 ms on
this project's 2-core machine, a stall for every request in flight. ``settle`` collects
once and freezes what is left (``gc.freeze``), so later full passes walk only what
requests made. Only for the long-running doors (`sandbox serve`, `sandbox worker`): a
one-shot CLI command or a test process has nothing to gain from the pass it costs.
"""

from __future__ import annotations

import gc


def settle() -> int:
    """Collect once, then freeze every object still alive; returns how many are frozen."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()
