"""One request, one program, one result: the container's usual life.

The program is spawned and its output pumped (``pump.Pump``) until it exits,
overflows a cap or reaches the wall deadline; then every other process in the
container is cleared, and the result is measured from the kernel's accounting
of the runner's children. A compiled language's compiler runs first the same
way (``build``); tests mode runs the program once per case (``cases``). The
files the run leaves for the caller follow its output (``artifacts``).
"""

from __future__ import annotations

import binascii

from . import artifacts, build, cases, preload, runs, wire


def supervise(request: wire.Request) -> dict[str, object] | None:
    """Compile if asked, then run the program once or once per test case.

    Returns the fields of the result frame; None when the compile failed (its ``C`` frame ends the run).
    A waiting preload serves the first run, if it can (see ``preload``); otherwise it is killed now.
    """
    waiting = preload.take(request)
    if request.get("compile"):
        if not build.compile_program(request):
            return None
        if request["compile"].get("await_go"):
            go = wire.read_request()  # the host has set the run's limits on the container
            if go.get("op") != "run":
                raise ValueError(f"expected the host's go-ahead after the compile, got {go.get('op')!r}")
    if request.get("tests") is not None:
        return cases.run_cases(request, waiting)
    stdin = binascii.a2b_base64(request.get("stdin") or "")
    result = runs.run_program(request, stdin, waiting=waiting)
    artifacts.collect(request)  # the program and all it started are gone: nothing changes under the walk
    return result
