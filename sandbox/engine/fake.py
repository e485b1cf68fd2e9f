"""A backend driven by a plain function: fast tests of the layers above the engine.

Ships with the code (like httpx's ``MockTransport``) so the service and the
doors can be tested without Docker. The product never runs on it.
"""

from __future__ import annotations

from collections.abc import Callable

from sandbox.engine.base import Backend, OutputCallback, RunOutcome, RunSpec, deliver


class FakeBackend(Backend):
    """Answers each run with ``handler(spec)``; records every spec it was given."""

    def __init__(self, handler: Callable[[RunSpec], RunOutcome]) -> None:
        self.handler = handler
        self.specs: list[RunSpec] = []
        self.closed = False

    async def run(self, spec: RunSpec, on_output: OutputCallback | None = None) -> RunOutcome:
        if self.closed:
            raise RuntimeError("FakeBackend is closed")
        self.specs.append(spec)
        outcome = self.handler(spec)
        for stream, data in (("stdout", outcome.stdout), ("stderr", outcome.stderr)):
            if data:
                await deliver(on_output, stream, data)
        return outcome

    async def aclose(self) -> None:
        self.closed = True
