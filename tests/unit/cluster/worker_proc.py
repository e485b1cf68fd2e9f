"""A ``sandbox worker`` on a FakeBackend, for tests that SIGKILL it (see ``harness.WorkerProcess``).

Usage: ``python -m tests.unit.cluster.worker_proc REDIS_URL NAME KEK DEAD_AFTER_S``. A one-shot
run sleeps a minute (it is killed first); session cells answer at once.
"""

from __future__ import annotations

import asyncio
import sys

from sandbox.engine import RunOutcome, RunSpec
from sandbox.models import Status
from tests.unit.cluster.harness import make_worker, settings


async def handler(spec: RunSpec) -> RunOutcome:
    if spec.mode != "cell":
        await asyncio.sleep(60)
    return RunOutcome(status=Status.OK, exit_code=0, stdout=b"cell\n")


def main() -> None:
    url, name, kek, dead_after = sys.argv[1:5]
    config = settings(url, worker_name=name, secrets_kek=kek, worker_dead_after_s=float(dead_after))
    worker, _ = make_worker(config, handler)
    asyncio.run(worker.run())


if __name__ == "__main__":
    main()
