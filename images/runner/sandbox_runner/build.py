"""The compile stage: the language's compiler, run in the workdir before the program, under its own limits.

The request's ``compile`` part names the compiler's argv, its environment and
its limits (wall, CPU, output cap). Its stdout and stderr share one pipe, kept
by the runner up to ``output_head`` bytes; a compiler that writes past the cap is
killed, like a program. The outcome goes to the host as one ``C`` frame: the
fields of a result frame plus ``output`` (base64). A failed compile ends the
run there. Whatever the compiler left in /tmp is removed before the program
starts: its caches are the compiler's, and tmpfs pages count as the run's memory.
"""

from __future__ import annotations

import binascii

from . import runs, wire, workspace

DEFAULT_OUTPUT_HEAD = 64 << 10


def compile_program(request: wire.Request) -> bool:
    """Run the compiler; send its ``C`` frame; True if it succeeded (exit 0, within its limits)."""
    spec = request["compile"]
    head = int(spec.get("output_head", DEFAULT_OUTPUT_HEAD))
    kept = bytearray()
    written = 0

    def keep(kind: str, data: bytes) -> None:
        nonlocal written
        written += len(data)
        if len(kept) < head:
            kept.extend(data[: head - len(kept)])

    compiler = {"mode": "exec", "argv": spec["argv"], "env": spec.get("env") or {}, "limits": spec.get("limits") or {}}
    fields = runs.run_program(compiler, b"", sink=keep, merge_stderr=True)
    ok = fields["exit_code"] == 0 and not fields["timed_out"] and not fields["output_limit"]
    wire.write_json(
        b"C",
        {
            **fields,
            "output": binascii.b2a_base64(bytes(kept), newline=False).decode(),
            "output_truncated": bool(fields["stdout_truncated"]) or written > len(kept),
            "workdir_bytes": workspace.workdir_bytes() if ok else 0,
        },
    )
    if ok:
        try:  # what the compile left in /tmp is the program's to see, then
            workspace.reset_tmp()
        except OSError:
            pass
    return ok
