"""`sandbox serve`'s start-up heap is frozen: a full collection no longer walks it (``sandbox.heap``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

PROBE = """
import gc
from sandbox.api.app import app_from_env
before = len(gc.get_objects())
app_from_env()
print(before, gc.get_freeze_count(), len(gc.get_objects()))
"""


def test_the_server_factory_freezes_what_start_up_built(tmp_path: Path) -> None:
    env = {**os.environ, "SANDBOX_STATE_DIR": str(tmp_path), "PYTHONPATH": str(ROOT)}
    probe = [sys.executable, "-c", PROBE]
    out = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=120, check=True)
    before, frozen, left = map(int, out.stdout.split())
    assert frozen > before > 50_000, out.stdout  # the imports and the app, all frozen
    assert left < frozen // 100, out.stdout  # what a full collection still walks: almost nothing
