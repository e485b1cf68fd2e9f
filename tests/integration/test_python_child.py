"""A Python program forked from the runner sees what ``python3 main.py`` shows it, in the same image;
and the runner ends as soon as its result is written.

The runner forks its own, already warmed interpreter instead of starting ``python3 main.py``
(see the runner's ``program`` module). The same probe runs both ways in the python image: in
``python`` mode (the fork) and in ``exec`` mode (a real ``python3 main.py``, started by the runner
with the same environment), and what each saw at its first line must be the same: the modules
loaded (never one of the runner's), ``sys.path``, argv, ``__main__``'s names, cwd, the streams.
"""

from __future__ import annotations

import asyncio
import json
import time

import docker
import pytest

from sandbox.engine import DockerBackend, RunFile, RunSpec
from sandbox.engine.channel import RunnerChannel
from sandbox.engine.hardening import container_options
from sandbox.engine.protocol import encode_request
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


@pytest.mark.docker
async def test_the_runner_ends_after_its_last_frame_and_its_container_is_removed_once_stopped(
    service: ExecutionService, docker_client: docker.DockerClient
) -> None:
    """The runner leaves as soon as its result is written (``Container.ended`` sees it), and
    ``discard(ended_within_s=...)`` removes the stopped container; a runner still waiting has not ended."""
    backend = service.backend
    assert isinstance(backend, DockerBackend)
    await backend.start()
    spec = RunSpec(
        image=service.catalog.image_tag("python"),
        mode="python",
        argv=("python3", "main.py"),
        files=(RunFile("main.py", b"print('hello world')\n"),),
        limits=make_limits(),
    )
    options = container_options(spec.profile, backend.settings, owner=backend.owner, kind="run", lifetime_s=60)
    waiting = await backend.engine.create(options, "run")
    done = await backend.engine.create(options, "run")
    try:
        for container in (waiting, done):
            await RunnerChannel(container, kill_grace_s=1, answer_timeout_s=10).greet(10)
        channel = RunnerChannel(done, kill_grace_s=1, answer_timeout_s=10)
        outcome, _ = await channel.run(encode_request(spec), spec.limits, None)
        assert outcome.stdout == b"hello world\n", outcome.stderr
        assert await done.ended(5.0)
        assert not await waiting.ended(0.3), "a runner waiting for its request has not ended"
    finally:
        backend.engine.discard(done, ended_within_s=5.0)
        backend.engine.discard(waiting)
    deadline = time.monotonic() + 10
    while docker_client.api.containers(all=True, filters={"id": done.id}) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert docker_client.api.containers(all=True, filters={"id": done.id}) == []
