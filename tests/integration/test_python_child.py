"""A Python program forked from the runner sees what ``python3 main.py`` shows it, in the same image.

The runner forks its own, already warmed interpreter instead of starting ``python3 main.py``
(see the runner's ``program`` module). The same probe runs both ways in the python image: in
``python`` mode (the fork) and in ``exec`` mode (a real ``python3 main.py``, started by the runner
with the same environment), and what each saw at its first line must be the same: the modules
loaded (never one of the runner's), ``sys.path``, argv, ``__main__``'s names, cwd, the streams.
"""

from __future__ import annotations

import json

import pytest

from sandbox.engine import RunFile, RunSpec
from sandbox.service import ExecutionService
from tests.unit.helpers import make_limits

pytestmark = pytest.mark.anyio

#: Everything is taken before the probe imports anything (json comes after).
PROBE = """\
import sys
seen = {
    "modules": sorted(sys.modules),
    "path": list(sys.path),
    "argv": sys.argv,
    "orig_argv": sys.orig_argv[1:],
    "main": sorted(globals()),
    "file": __file__,
    "cached": __cached__,
    "loader": type(__loader__).__name__,
    "spec": __spec__,
    "package": __package__,
    "cwd": __import__("os").getcwd(),
    "builtins": sorted(name for name in dir(__builtins__) if not name.startswith("_")),
    "streams": [
        [stream.fileno(), stream.encoding, stream.errors, stream.line_buffering]
        for stream in (sys.stdin, sys.stdout, sys.stderr)
    ],
}
import json
print(json.dumps(seen))
"""


async def run_probe(service: ExecutionService, mode: str) -> dict[str, object]:
    language = service.catalog.language("python")
    spec = RunSpec(
        image=service.catalog.image_tag("python"),
        mode=mode,
        argv=("python3", "main.py", "an argument"),
        files=(RunFile("main.py", PROBE.encode()),),
        limits=make_limits(),
        env=dict(language.env),
    )
    async with service.backend.acquire(spec) as lease:
        outcome = await lease.run(spec)
    assert outcome.exit_code == 0, outcome.stderr.decode()
    seen: dict[str, object] = json.loads(outcome.stdout)
    return seen


@pytest.mark.docker
async def test_the_forked_program_sees_what_python3_main_py_sees(service: ExecutionService) -> None:
    forked = await run_probe(service, "python")
    real = await run_probe(service, "exec")
    assert not [name for name in forked["modules"] if "sandbox" in name]  # type: ignore[attr-defined]
    assert "/opt/sandbox" not in forked["path"]  # type: ignore[operator]
    differences = {key: (value, real[key]) for key, value in forked.items() if real[key] != value}
    assert not differences, json.dumps(differences)
