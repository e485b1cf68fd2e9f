"""``sandbox.aftercare``: work deferred until a request's answer is sent, never longer than its bound."""

from __future__ import annotations

import asyncio
import time

import pytest

from sandbox import aftercare

pytestmark = pytest.mark.anyio


async def test_callbacks_wait_for_the_window_and_run_in_order_when_it_closes() -> None:
    ran: list[str] = []
    with aftercare.answer_window() as window:
        aftercare.after_answer(lambda: ran.append("remove"))
        aftercare.after_answer(lambda: ran.append("refill"))
        await asyncio.sleep(aftercare.FALLBACK_S * 3)
        assert ran == []
        assert aftercare.busy()
        window.close()
        assert ran == ["remove", "refill"]  # synchronously: before the door's next step
    assert not aftercare.busy()


async def test_the_end_of_the_block_closes_the_window_also_on_an_error() -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError), aftercare.answer_window():
        aftercare.after_answer(lambda: ran.append("x"))
        raise RuntimeError("the request failed")
    assert ran == ["x"]


async def test_outside_a_window_and_after_it_closed_callbacks_run_after_the_fallback_delay() -> None:
    ran: list[float] = []
    started = time.monotonic()
    aftercare.after_answer(lambda: ran.append(time.monotonic()))
    with aftercare.answer_window() as window:
        window.close()
        aftercare.after_answer(lambda: ran.append(time.monotonic()))  # e.g. a run that outlived its 202
    assert ran == []
    await asyncio.sleep(aftercare.FALLBACK_S * 5)
    assert len(ran) == 2 and all(t - started >= aftercare.FALLBACK_S for t in ran)


async def test_a_window_left_open_runs_its_callbacks_after_its_longest_wait() -> None:
    ran: list[float] = []
    window = aftercare.AnswerWindow(max_wait_s=0.1)
    started = time.monotonic()
    window.defer(lambda: ran.append(time.monotonic()))
    await asyncio.sleep(0.3)
    assert len(ran) == 1 and 0.1 <= ran[0] - started < 0.3
    assert window.closed and not aftercare.busy()


async def test_a_failing_callback_does_not_keep_the_others_from_running(caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def broken() -> None:
        raise ValueError("boom")

    with aftercare.answer_window():
        aftercare.after_answer(broken)
        aftercare.after_answer(lambda: ran.append("ok"))
    assert ran == ["ok"]
    assert "deferred until after an answer failed" in caplog.text


async def test_a_task_started_inside_a_request_defers_into_that_requests_window() -> None:
    ran: list[str] = []

    async def run() -> None:  # the execution task a request starts
        aftercare.after_answer(lambda: ran.append("cleanup"))

    with aftercare.answer_window() as window:
        await asyncio.create_task(run())
        assert ran == []
        window.close()
    assert ran == ["cleanup"]


async def test_quiet_waits_while_an_answer_is_pending_and_not_past_its_bound() -> None:
    started = time.monotonic()
    await aftercare.quiet(1.0)
    assert time.monotonic() - started < 0.05  # nothing pending: at once
    with aftercare.answer_window() as window:
        aftercare.after_answer(lambda: None)
        asyncio.get_running_loop().call_later(0.1, window.close)
        started = time.monotonic()
        await aftercare.quiet(5.0)
        assert 0.08 <= time.monotonic() - started < 1
        aftercare.after_answer(lambda: None)  # closed: no longer holds anyone
        started = time.monotonic()
        await aftercare.quiet(5.0)
        assert time.monotonic() - started < 0.05
    other = aftercare.AnswerWindow(max_wait_s=10)
    other.defer(lambda: None)
    started = time.monotonic()
    await aftercare.quiet(0.1)  # bounded
    assert 0.1 <= time.monotonic() - started < 1
    other.close()
