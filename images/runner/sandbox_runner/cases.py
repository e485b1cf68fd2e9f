"""Tests mode: the program (compiled once) run once per test case, each case in a fresh workdir.

Each case gets the request's limits, its own stdin and extra arguments, and
the workdir as it was before the first case (a copy taken after the compile:
what one case writes, the next does not see); /tmp is emptied and every
process of the previous case is gone (``runs.run_program`` clears the
container after each run). Its output is kept by the runner: the heads
(``head_bytes``) go to the host in the case's ``T`` frame, and the whole of
stdout (within the request's cap) is compared with ``expected_stdout``.

The comparison (``normalise``): trailing whitespace at the end of every line
and blank lines at the end are ignored; everything else, leading spaces and
blank lines in between included, must match byte for byte. The runner says
whether the output matched (``output_matched``); the host, which decides the
case's status, says whether it passed.

A workdir that cannot be reset (a tree deeper than the runner follows) ends
the run: the remaining cases are reported as not run.
"""

from __future__ import annotations

import binascii

from . import runs, wire, workspace

DEFAULT_HEAD = 8 << 10


def normalise(output: bytes) -> bytes:
    """What the comparison sees of an output: see the module docstring."""
    lines = output.replace(b"\r\n", b"\n").split(b"\n")
    return b"\n".join(line.rstrip() for line in lines).rstrip(b"\n")


def run_cases(request: wire.Request) -> dict[str, object]:
    """Run every case (a ``T`` frame each); the result frame's fields (``cases``: how many ran)."""
    tests = request["tests"]
    head = int(request.get("head_bytes", DEFAULT_HEAD))
    saved: list[tuple[str, int, bytes | bytearray | None]] = []
    unsaved = ""
    if len(tests) > 1:
        try:
            saved = workspace.snapshot()
        except (OSError, ValueError) as exc:  # a file the compile made unreadable, or one over the read cap
            unsaved = f"the workdir could not be copied for the next cases: {exc}"
    base_argv = list(request.get("argv") or [])
    ran = 0
    for index, case in enumerate(tests):
        if index:
            if unsaved:
                return {"cases": ran, "reset_failed": unsaved}
            try:
                workspace.clear(workspace.WORKDIR)
                workspace.clear(workspace.TMP)
                workspace.restore(saved)
            except (OSError, ValueError) as exc:
                return {"cases": ran, "reset_failed": f"the workdir could not be reset after case {index - 1}: {exc}"}
        output: dict[str, bytearray] = {"O": bytearray(), "E": bytearray()}

        def keep(kind: str, data: bytes, output: dict[str, bytearray] = output) -> None:
            # stdout is kept whole (the pump's cap bounds it) for the comparison; stderr only its head
            if kind == "O" or len(output["E"]) < head:
                output[kind].extend(data if kind == "O" else data[: head - len(output["E"])])

        run = {**request, "argv": [*base_argv, *(str(a) for a in case.get("args") or [])]}
        stdin = binascii.a2b_base64(case.get("stdin") or "")
        fields = runs.run_program(run, stdin, sink=keep)
        expected = case.get("expected_stdout")
        matched = None
        if expected is not None:
            matched = normalise(bytes(output["O"])) == normalise(binascii.a2b_base64(expected))
        wire.write_json(
            b"T",
            {
                "index": index,
                **fields,
                "stdout": binascii.b2a_base64(bytes(output["O"][:head]), newline=False).decode(),
                "stderr": binascii.b2a_base64(bytes(output["E"]), newline=False).decode(),
                "stdout_bytes": len(output["O"]),
                "output_matched": matched,
            },
        )
        ran += 1
    return {"cases": ran}
