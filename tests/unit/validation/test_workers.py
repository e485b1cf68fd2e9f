"""Validation worker processes: same verdicts as in-process, and a stuck or dying worker is replaced."""

from __future__ import annotations

import asyncio
import time

import pytest

from sandbox.config import Settings
from sandbox.validation import PolicySet, SourceFile, ValidationWorkers, validate_files

pytestmark = pytest.mark.anyio
SETTINGS = Settings()
POLICIES = PolicySet(SETTINGS.policies_dir, SETTINGS.default_policy)
STANDARD = POLICIES.get("standard")


@pytest.fixture
async def workers():
    pool = ValidationWorkers(SETTINGS.policies_dir, SETTINGS.default_policy, size=2, timeout_s=2)
    await pool.start()
    yield pool
    await pool.aclose()


def files(code: str) -> list[SourceFile]:
    return [SourceFile("main.py", code)]


async def test_same_verdict_as_in_process(workers) -> None:
    for code in ("print('hi')", "import os\nos.system('id')", "def f(:\n"):
        remote = await workers.validate(files(code), "python", STANDARD)
        local = validate_files(files(code), "python", STANDARD)
        assert (remote.allowed, remote.syntax_error) == (local.allowed, local.syntax_error)
        assert remote.findings == local.findings


async def test_second_call_is_cached(workers) -> None:
    assert not (await workers.validate(files("x = 1"), "python", STANDARD)).cached
    assert (await workers.validate(files("x = 1"), "python", STANDARD)).cached


async def test_a_dying_worker_is_replaced(workers) -> None:
    worker = await workers._dispatcher.take(None)
    pid = worker.process.pid
    verdict = await workers._ask(worker, ("not", "a", "valid"), STANDARD)  # the worker raises and exits
    assert verdict is None
    workers._dispatcher.give_back(None, None)
    workers._replace(worker)
    started = time.monotonic()
    results = await asyncio.gather(*(workers.validate(files(f"x = {i}"), "python", STANDARD) for i in range(6)))
    assert all(r.allowed for r in results)
    assert time.monotonic() - started < 30
    for _ in range(300):
        if len(workers._all) == 2:
            break
        await asyncio.sleep(0.1)
    assert len(workers._all) == 2
    assert pid not in {w.process.pid for w in workers._all}


async def test_timeout_denies_and_keeps_capacity(monkeypatch) -> None:
    pool = ValidationWorkers(SETTINGS.policies_dir, SETTINGS.default_policy, size=1, timeout_s=0.5)
    await pool.start()
    try:
        worker = next(iter(pool._all))
        worker.process.kill()  # a dead worker never answers: the request must still end, denied
        verdict = await pool.validate(files("x = 1"), "python", STANDARD)
        assert not verdict.allowed and verdict.findings[0].rule_id == "validator.failed"
        # The replacement serves the next request.
        for _ in range(100):
            if pool._all:
                break
            await asyncio.sleep(0.1)
        again = await pool.validate(files("y = 2"), "python", STANDARD)
        assert again.allowed
    finally:
        await pool.aclose()


async def test_hung_validation_is_cut_off(monkeypatch) -> None:
    pool = ValidationWorkers(SETTINGS.policies_dir, SETTINGS.default_policy, size=1, timeout_s=0.5)
    await pool.start()
    try:
        worker = next(iter(pool._all))
        import os
        import signal

        os.kill(worker.process.pid, signal.SIGSTOP)  # frozen: alive but silent
        started = time.monotonic()
        verdict = await pool.validate(files("z = 3"), "python", STANDARD)
        assert time.monotonic() - started < 3
        assert not verdict.allowed and verdict.findings[0].rule_id == "validator.failed"
        assert not worker.process.is_alive()
    finally:
        await pool.aclose()


def test_a_worker_whose_parent_left_without_reading_exits_quietly() -> None:
    """A parent that exits with the worker's answer unread resets the pipe: the worker's next read is a
    ConnectionResetError, not an EOF. It used to end the worker with a traceback on stderr (exit 1)
    at the end of every test run; it is the same "parent gone" as an EOF."""
    from sandbox.validation import workers as module

    settings = Settings()
    parent, child = module._CONTEXT.Pipe()
    worker = module._CONTEXT.Process(
        target=module._worker_main,
        args=(child, str(settings.policies_dir), settings.default_policy, 0, 10),
        daemon=True,
    )
    worker.start()
    child.close()
    assert parent.poll(60), "the worker never said ready"
    parent.close()  # "ready" still unread: the worker's read is reset
    worker.join(30)
    assert worker.exitcode == 0


def test_a_request_larger_than_the_pipe_buffer_gets_its_verdict_on_uvloop() -> None:
    """uvloop (the server's loop) makes a polled descriptor non-blocking: the pipe must be made blocking
    again for a message over its buffer (~64 KiB), or every large request was "no verdict"."""
    import uvloop

    async def check() -> None:
        pool = ValidationWorkers(SETTINGS.policies_dir, SETTINGS.default_policy, size=1, timeout_s=10)
        await pool.start()
        try:
            small = await pool.validate(files("x = 1"), "python", STANDARD)  # the descriptor is polled once
            big = [*files("x = 1"), SourceFile("data.txt", "x" * (2 << 20))]  # over any socket buffer
            verdict = await pool.validate(big, "python", STANDARD)
            assert small.allowed
            assert [f.rule_id for f in verdict.findings] == ["source.too_large"]  # the worker's verdict
        finally:
            await pool.aclose()

    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(check())
