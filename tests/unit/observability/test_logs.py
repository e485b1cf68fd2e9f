"""Log lines: JSON shape and fields of a real execution (FakeBackend), text format, disconnects quieted."""

from __future__ import annotations

import io
import logging
from datetime import datetime
from pathlib import Path

import anyio
import pytest

from sandbox.config import Settings
from sandbox.engine import RunOutcome, RunSpec
from sandbox.models import ExecutionRequest, SessionRequest
from sandbox.observability import bind
from sandbox.observability.logs import configure_logging, is_disconnect
from tests.unit.observability.conftest import Configure
from tests.unit.observability.util import lines, service_on

STAGES = ["admit", "validate", "acquire", "run", "record"]


@pytest.mark.anyio
@pytest.mark.parametrize("kind", ["one-shot", "cell"])
async def test_an_execution_logs_one_json_line_per_event_with_its_ids(
    tmp_path: Path, logs: Configure, kind: str
) -> None:
    buffer = logs()
    async with service_on(tmp_path) as (service, caller, secret):
        session = await service.open_session(SessionRequest(), caller, "s" * 32) if kind == "cell" else None
        execution = service.execution(ExecutionRequest(code="print('hello')"), caller, session)
        await execution.prepare()
        await execution.finish()
        await execution.saved.wait()
    found = lines(buffer)
    for line in found:
        assert list(line)[:4] == ["timestamp", "level", "logger", "message"]
        assert line["timestamp"].endswith("Z") and datetime.fromisoformat(line["timestamp"])
    mine = [line for line in found if line.get("execution_id") == execution.id]
    result = [line for line in mine if line["message"] == "ok in 3 ms"]
    assert len(result) == 1
    assert result[0]["level"] == "info" and result[0]["logger"] == "sandbox.service"
    assert result[0]["key"] == "alice"  # the key's name, never the key
    assert result[0].get("session_id") == (session.id if session else None)
    # Each stage's end: a debug line with the stage and its duration in seconds.
    ended = {line["stage"]: line for line in mine if line["message"].endswith(" done")}
    assert sorted(ended) == sorted(STAGES)
    assert all(isinstance(line["duration_s"], float) and 0 <= line["duration_s"] < 5 for line in ended.values())
    assert all(line["level"] == "debug" and line["key"] == "alice" for line in ended.values())
    assert not any("trace_id" in line for line in found)  # tracing is off
    assert secret not in buffer.getvalue()


@pytest.mark.anyio
async def test_a_failure_carries_its_exception_text_and_ids(tmp_path: Path, logs: Configure) -> None:
    def broken(spec: RunSpec) -> RunOutcome:
        raise RuntimeError("boom in the engine")

    buffer = logs(log_level="info")
    async with service_on(tmp_path, broken) as (service, caller, _):
        execution = service.execution(ExecutionRequest(code="print(1)"), caller)
        await execution.prepare()
        await execution.finish()
    failed = [line for line in lines(buffer) if line["message"] == "execution failed"]
    assert len(failed) == 1
    assert failed[0]["level"] == "error" and failed[0]["execution_id"] == execution.id
    assert "Traceback" in failed[0]["exception"] and "RuntimeError: boom in the engine" in failed[0]["exception"]
    assert not any(line["level"] == "debug" for line in lines(buffer))  # log_level info


def test_text_format_is_the_message_then_the_fields(logs: Configure) -> None:
    buffer = logs(log_format="text")
    with bind(execution_id="e1", key="alice smith"):
        logging.getLogger("sandbox.test").info("ok in %d ms", 3, extra={"duration_s": 0.25})
        try:
            raise ValueError("bad value")
        except ValueError:
            logging.getLogger("sandbox.test").exception("it broke")
    first, second, *trace = buffer.getvalue().splitlines()
    assert first.endswith('INFO    sandbox.test: ok in 3 ms  execution_id=e1 key="alice smith" duration_s=0.25')
    assert first[:4].isdigit() and "Z " in first  # starts with the UTC time
    assert second.endswith('ERROR   sandbox.test: it broke  execution_id=e1 key="alice smith"')
    assert trace[0] == "Traceback (most recent call last):" and trace[-1] == "ValueError: bad value"


@pytest.mark.parametrize(("tty", "expect_json"), [(True, False), (False, True)])
def test_auto_is_text_on_a_terminal_and_json_otherwise(logs: Configure, tty: bool, expect_json: bool) -> None:
    class Stream(io.StringIO):
        def isatty(self) -> bool:
            return tty

    stream = Stream()
    configure_logging(Settings(log_format="auto"), stream=stream)
    logging.getLogger("sandbox.test").warning("hello")
    assert stream.getvalue().startswith("{") is expect_json


def test_configuring_twice_keeps_one_handler_and_takes_over_uvicorns_loggers(logs: Configure) -> None:
    access = logging.getLogger("uvicorn.access")
    access.addHandler(logging.StreamHandler(io.StringIO()))  # as uvicorn's own dictConfig leaves it
    access.propagate = False
    logs()
    buffer = logs()
    assert not access.handlers and access.propagate
    access.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5000", "POST", "/v1/executions?wait=false", "1.1", 202)
    (line,) = lines(buffer)
    assert line["message"] == '127.0.0.1:5000 - "POST /v1/executions?wait=false HTTP/1.1" 202'
    assert (line["method"], line["path"], line["status_code"]) == ("POST", "/v1/executions?wait=false", 202)


def test_quiet_commands_log_warnings_unless_a_level_is_set(logs: Configure) -> None:
    configure_logging(Settings.model_construct(), quiet=True, stream=io.StringIO())
    assert logging.getLogger().level == logging.WARNING
    configure_logging(Settings(log_level="debug"), quiet=True, stream=io.StringIO())
    assert logging.getLogger().level == logging.DEBUG
    configure_logging(Settings(), stream=io.StringIO())
    assert logging.getLogger().level == logging.INFO


# ------------------------------------------------------------ disconnects
def _raise(exc: BaseException) -> None:
    try:
        raise exc
    except BaseException:
        logging.getLogger("mcp.server.streamable_http").exception("Error in standalone SSE writer")


@pytest.mark.parametrize(
    "exc",
    [
        anyio.ClosedResourceError(),
        anyio.BrokenResourceError(),
        BrokenPipeError(32, "Broken pipe"),
        ExceptionGroup("unhandled errors in a TaskGroup", [BrokenPipeError(), anyio.ClosedResourceError()]),
    ],
)
def test_an_sdk_disconnect_traceback_becomes_one_info_line(logs: Configure, exc: BaseException) -> None:
    buffer = logs(log_level="info")
    _raise(exc)
    (line,) = lines(buffer)
    assert line["level"] == "info" and "exception" not in line
    assert line["message"].startswith("MCP client went away (")
    assert line["message"].endswith("): Error in standalone SSE writer")


@pytest.mark.parametrize(
    "exc",
    [RuntimeError("real bug"), ExceptionGroup("mixed", [BrokenPipeError(), ValueError("real bug")])],
)
def test_a_real_error_keeps_its_traceback(logs: Configure, exc: BaseException) -> None:
    buffer = logs(log_level="info")
    _raise(exc)
    (line,) = lines(buffer)
    assert line["level"] == "error" and "real bug" in line["exception"]


def test_our_own_loggers_are_never_quieted(logs: Configure) -> None:
    buffer = logs(log_level="info")
    try:
        raise anyio.ClosedResourceError
    except anyio.ClosedResourceError:
        logging.getLogger("sandbox.service").exception("stream closed under us")
    (line,) = lines(buffer)
    assert line["level"] == "error" and "ClosedResourceError" in line["exception"]


def test_a_quieted_line_respects_the_level(logs: Configure) -> None:
    buffer = logs(log_level="warning")
    _raise(anyio.ClosedResourceError())
    assert buffer.getvalue() == ""


def test_is_disconnect() -> None:
    assert is_disconnect(ConnectionResetError())
    assert is_disconnect(BaseExceptionGroup("g", [ExceptionGroup("h", [BrokenPipeError()])]))
    assert not is_disconnect(OSError("disk full"))
    assert not is_disconnect(ExceptionGroup("g", [BrokenPipeError(), KeyError("x")]))
