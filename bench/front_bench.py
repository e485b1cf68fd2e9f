"""The front end's own cost: POST /v1/executions through the whole ASGI app, no server, no container.

    .venv/bin/python bench/front_bench.py [--rounds 2000] [--repeat 5] [--tree DIR] [--profile]

``create_app`` on a ``FakeBackend`` whose run answers at once, called as an ASGI app
in this process (the scope uvicorn would hand it, the body in one message), so what
is timed is the middleware (request id, metrics, body guard), routing, parsing and
validating the body, the execution manager and the answer's serialisation: what a
request costs the server besides the protocol and the container. ``--tree`` runs
another checkout's ``sandbox`` (e.g. the commit before a change) with this script;
``--only-front`` swaps the execution manager for one whose executions are already over
(the same record each time): the middleware, routing, auth, body parsing and the answer
alone. ``--code-kib`` sends that much source instead of hello world. Figures: the median and
p90 per request of each run, in microseconds of wall time (``--cpu``: of this thread's CPU
time, which other work on the machine disturbs less); ``--profile`` prints cProfile's top entries.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def body(code_kib: int) -> bytes:
    """The request: hello world, or ``code_kib`` KiB of code dense in what a JSON scan looks at (quotes,
    brackets and backslashes inside the code's string)."""
    code = "print('hello world')"
    if code_kib:
        line = 'print("x[%d]", {"a": [1, (2, 3)]}, "tab\\there", \'q"uote\')\n'
        code = "".join(line % n for n in range((code_kib << 10) // len(line)))
    return json.dumps({"code": code, "language": "python", "limits": {"wall_time_s": 10}, "stdin": ""}).encode()


class Done:
    """An execution manager whose every execution is already over (``--only-front``): the same record."""

    def __init__(self, view: Any) -> None:
        self.execution = SimpleNamespace(done=asyncio.Event(), error=None, view=view)
        self.execution.done.set()

    async def submit(self, *args: Any, **kwargs: Any) -> Any:
        return self.execution


async def measure(
    rounds: int, repeat: int, only_front: bool, profile: bool, code_kib: int, cpu: bool
) -> list[list[float]]:
    from sandbox.api.app import create_app
    from sandbox.config import Settings
    from sandbox.engine import FakeBackend, RunOutcome, RunSpec
    from sandbox.models import ExecutionRecord, Status
    from sandbox.store import Store

    def hello(spec: RunSpec) -> RunOutcome:
        return RunOutcome(status=Status.OK, exit_code=0, stdout=b"hello world\n")

    request = body(code_kib)
    state = Path(tempfile.mkdtemp(prefix="front-bench-"))
    settings = Settings(state_dir=state, validation_workers=0, pool_size=0)
    app = create_app(settings, backend=FakeBackend(hello))
    async with app.router.lifespan_context(app) as lifespan_state:
        store = Store(settings.database)
        key = store.create_key("bench", "standard", 64, 10_000_000)[1]
        store.close()
        scope_base: dict[str, Any] = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.3"},
            "http_version": "1.1",
            "server": ("127.0.0.1", 8080),
            "client": ("127.0.0.1", 40000),
            "scheme": "http",
            "method": "POST",
            "root_path": "",
            "path": "/v1/executions",
            "raw_path": b"/v1/executions",
            "query_string": b"",
        }
        headers = [
            (b"host", b"127.0.0.1:8080"),
            (b"authorization", f"Bearer {key}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(request)).encode()),
        ]
        answer: list[bytes] = []

        async def one() -> float:
            scope = {**scope_base, "headers": list(headers), "state": dict(lifespan_state or {})}
            sent: list[int] = []
            answer.clear()

            async def receive() -> dict[str, Any]:
                return {"type": "http.request", "body": request, "more_body": False}

            async def send(message: dict[str, Any]) -> None:
                if message["type"] == "http.response.start":
                    sent.append(message["status"])
                else:
                    answer.append(message.get("body", b""))

            started = time.thread_time() if cpu else time.perf_counter()
            await app(scope, receive, send)
            took = (time.thread_time() if cpu else time.perf_counter()) - started
            assert sent == [200], (sent, answer)
            return took * 1e6

        for _ in range(20 if code_kib else 200):  # warm: imports, caches, the first record
            await one()
        if only_front:
            app.state.manager = Done(ExecutionRecord.model_validate_json(b"".join(answer)))
        runs: list[list[float]] = []
        profiler = None
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        for _ in range(repeat):
            runs.append([await one() for _ in range(rounds)])
        if profiler is not None:
            import pstats

            profiler.disable()
            pstats.Stats(profiler).sort_stats(os.environ.get("FRONT_SORT", "cumulative")).print_stats(60)
    return runs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--tree", type=Path, default=ROOT, help="the checkout whose sandbox package is timed")
    parser.add_argument("--only-front", action="store_true", help="a stub handler: middleware, routing, parsing")
    parser.add_argument("--code-kib", type=int, default=0, help="send this much code instead of hello world")
    parser.add_argument("--cpu", action="store_true", help="time this thread's CPU, not the wall (less noisy)")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    sys.path.insert(0, str(args.tree.resolve()))
    runs = asyncio.run(measure(args.rounds, args.repeat, args.only_front, args.profile, args.code_kib, args.cpu))
    import sandbox

    size = f"{args.code_kib} KiB of code" if args.code_kib else "hello world"
    clock = "thread CPU" if args.cpu else "wall"
    print(f"tree {Path(sandbox.__file__).parent.parent}; {size}; {args.rounds} x {args.repeat} runs; {clock} (us)")
    for n, samples in enumerate(runs, 1):
        ordered = sorted(samples)
        p90 = ordered[int(0.9 * (len(ordered) - 1))]
        print(f"  run {n}: p50 {statistics.median(samples):7.1f}  p90 {p90:7.1f}")
    medians = [statistics.median(samples) for samples in runs]
    print(f"  median of run p50s: {statistics.median(medians):.1f} us (min {min(medians):.1f})")


if __name__ == "__main__":
    main()
