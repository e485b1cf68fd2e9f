"""Traces with the SDK's in-memory exporter: a span per execution and per stage, one trace per request."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import StatusCode

from sandbox.api.app import create_app
from sandbox.config import Settings
from sandbox.engine import FakeBackend, RunOutcome, RunSpec
from sandbox.errors import ValidationRejected
from sandbox.models import ExecutionRequest
from sandbox.observability import tracing
from sandbox.store import Store
from tests.unit.observability.conftest import Configure
from tests.unit.observability.util import hello, lines, service_on

pytestmark = pytest.mark.anyio
STAGES = ["admit", "validate", "acquire", "run", "record"]


def by_name(found: Sequence[ReadableSpan]) -> dict[str, ReadableSpan]:
    named = {span.name: span for span in found}
    assert len(named) == len(found), [span.name for span in found]
    return named


def hex_trace(span: ReadableSpan) -> str:
    assert span.context is not None
    return format(span.context.trace_id, "032x")


async def test_an_execution_is_one_trace_a_span_per_stage(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    async with service_on(tmp_path) as (service, caller, _):
        execution = service.execution(ExecutionRequest(code="print('hello')"), caller)
        await execution.prepare()
        await execution.finish()
    named = by_name(spans.get_finished_spans())
    assert set(named) == {"execution", *(f"execution.{stage}" for stage in STAGES)}
    root = named["execution"]
    assert root.parent is None and root.context is not None  # the CLI's case: no request around it
    assert root.attributes is not None
    assert dict(root.attributes) == {
        "sandbox.execution_id": execution.id,
        "sandbox.key": "alice",
        "sandbox.language": "python",
        "sandbox.policy": "standard",
        "sandbox.status": "ok",
    }
    assert root.status.status_code is StatusCode.UNSET
    for stage in STAGES:
        span = named[f"execution.{stage}"]
        assert span.parent is not None and span.parent.span_id == root.context.span_id
        assert span.context is not None and span.context.trace_id == root.context.trace_id
    run = named["execution.run"].attributes
    assert run is not None and run["sandbox.status"] == "ok"
    starts = [named[f"execution.{stage}"].start_time or 0 for stage in STAGES]
    assert starts == sorted(starts)
    assert (root.start_time or 0) <= starts[0] and (root.end_time or 0) >= (named["execution.record"].end_time or 0)


async def test_a_refusal_ends_the_trace_at_its_stage_and_is_no_error(
    tmp_path: Path, spans: InMemorySpanExporter
) -> None:
    async with service_on(tmp_path) as (service, caller, _):
        execution = service.execution(ExecutionRequest(code="import subprocess"), caller)
        with pytest.raises(ValidationRejected):
            await execution.prepare()
    named = by_name(spans.get_finished_spans())
    assert set(named) == {"execution", "execution.admit", "execution.validate"}
    for name in ("execution", "execution.validate"):
        attributes = named[name].attributes
        assert attributes is not None and attributes["sandbox.status"] == "validation_rejected"
        assert named[name].status.status_code is StatusCode.UNSET  # an answer, not our failure


async def test_our_failure_marks_the_execution_span(tmp_path: Path, spans: InMemorySpanExporter) -> None:
    def broken(spec: RunSpec) -> RunOutcome:
        raise RuntimeError("boom")

    async with service_on(tmp_path, broken) as (service, caller, _):
        execution = service.execution(ExecutionRequest(code="print(1)"), caller)
        await execution.prepare()
        await execution.finish()
    named = by_name(spans.get_finished_spans())
    assert named["execution"].status.status_code is StatusCode.ERROR
    run = named["execution.run"]
    assert run.status.status_code is StatusCode.ERROR and run.attributes is not None
    assert run.attributes["sandbox.error"] == "RuntimeError"
    assert [event.name for event in run.events] == ["exception"]


@pytest.fixture
async def api(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    settings = Settings(state_dir=tmp_path, validation_workers=0, pool_size=0)
    app = create_app(settings, backend=FakeBackend(hello))
    async with app.router.lifespan_context(app):
        secret = Store(settings.database).create_key("alice", "standard", 8, 1000)[1]
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {secret}"}
        async with httpx.AsyncClient(transport=transport, base_url="http://sandbox", headers=headers) as client:
            yield client


async def test_a_rest_run_is_one_trace_named_in_the_header_and_the_logs(
    api: httpx.AsyncClient, spans: InMemorySpanExporter, logs: Configure
) -> None:
    buffer = logs()
    response = await api.post("/v1/executions", json={"code": "print(1)"})
    assert response.status_code == 200
    await api.get("/v1/executions")  # waits for the record (the execution's span ends with it)
    trace_id = response.headers["x-trace-id"]
    found = [span for span in spans.get_finished_spans() if hex_trace(span) == trace_id]
    named = by_name(found)
    request, execution = named["http POST /v1/executions"], named["execution"]
    assert request.parent is None and request.attributes is not None
    assert request.attributes["http.route"] == "/v1/executions"
    assert request.attributes["http.response.status_code"] == 200
    assert execution.parent is not None and request.context is not None
    assert execution.parent.span_id == request.context.span_id
    assert {f"execution.{stage}" for stage in STAGES} <= set(named)
    # Every line of this execution names the trace, and every line naming it is of this request.
    mine = [line for line in lines(buffer) if line.get("execution_id") == response.json()["id"]]
    assert mine and all(line["trace_id"] == trace_id for line in mine)
    assert all(len(line["span_id"]) == 16 for line in mine)
    assert {line["request_id"] for line in lines(buffer) if line.get("trace_id") == trace_id} == {
        response.headers["x-request-id"]
    }


async def test_an_incoming_traceparent_is_the_parent(api: httpx.AsyncClient, spans: InMemorySpanExporter) -> None:
    parent_trace, parent_span = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
    response = await api.get("/v1/languages", headers={"traceparent": f"00-{parent_trace}-{parent_span}-01"})
    assert response.headers["x-trace-id"] == parent_trace
    (request,) = spans.get_finished_spans()
    assert request.name == "http GET /v1/languages"
    assert request.parent is not None and format(request.parent.span_id, "016x") == parent_span


@pytest.mark.parametrize(
    "bad", ["00-zz-00f067aa0ba902b7-01", "00-00000000000000000000000000000000-00f067aa0ba902b7-01"]
)
async def test_a_bad_traceparent_starts_a_new_trace(
    api: httpx.AsyncClient, spans: InMemorySpanExporter, bad: str
) -> None:
    response = await api.get("/v1/languages", headers={"traceparent": bad})
    (request,) = spans.get_finished_spans()
    assert request.parent is None and response.headers["x-trace-id"] == hex_trace(request)


async def test_each_request_is_its_own_trace(api: httpx.AsyncClient, spans: InMemorySpanExporter) -> None:
    first, second = await api.get("/healthz"), await api.get("/healthz")
    assert first.headers["x-trace-id"] != second.headers["x-trace-id"]
    assert all(span.parent is None for span in spans.get_finished_spans())


def test_tracing_off_creates_nothing() -> None:
    assert not tracing.enabled()
    assert tracing.start_execution("e1") is None
    assert tracing.start_stage("run", None) is None
    assert tracing.start_request("GET", None) is None
    assert tracing.current_ids() is None


def test_the_otlp_exporter_follows_the_setting(monkeypatch: pytest.MonkeyPatch) -> None:
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    for name in tracing.OTLP_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    try:
        tracing.configure_tracing(Settings(tracing=True))
        assert tracing.enabled()
        assert tracing._exporter(Settings(tracing=True)) is None
        exporter = tracing._exporter(Settings(tracing=True, otlp_endpoint="http://collector:4318/"))
        assert isinstance(exporter, OTLPSpanExporter) and exporter._endpoint == "http://collector:4318/v1/traces"
        monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4318")
        exporter = tracing._exporter(Settings(tracing=True))
        assert isinstance(exporter, OTLPSpanExporter) and exporter._endpoint == "http://other:4318/v1/traces"
    finally:
        tracing.configure_tracing(Settings())
    assert not tracing.enabled()


@pytest.mark.parametrize(("variable", "name"), [(None, "sandbox"), ("sandbox-eu-1", "sandbox-eu-1")])
def test_the_service_name_is_sandbox_unless_otel_service_name_says(
    monkeypatch: pytest.MonkeyPatch, variable: str | None, name: str
) -> None:
    for unset in ("OTEL_SERVICE_NAME", "OTEL_RESOURCE_ATTRIBUTES", *tracing.OTLP_VARIABLES):
        monkeypatch.delenv(unset, raising=False)
    if variable is not None:
        monkeypatch.setenv("OTEL_SERVICE_NAME", variable)
    try:
        tracing.configure_tracing(Settings(tracing=True))
        assert tracing._provider is not None
        assert tracing._provider.resource.attributes["service.name"] == name
    finally:
        tracing.configure_tracing(Settings())


@pytest.mark.parametrize("mode", ["auto", "legacy"])  # 2026-07-28 (no session), the 2025 handshake
async def test_an_mcp_tool_call_over_http_is_a_child_of_the_request_that_carried_it(
    mcp_server: tuple[str, str], spans: InMemorySpanExporter, mode: str
) -> None:
    url, key = mcp_server
    async with (
        httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30) as http,
        Client(streamable_http_client(url, http_client=http), mode=mode) as client,
    ):
        result = await client.call_tool("execute", {"code": "print(1)"})
    assert not result.is_error
    # The server ends a request's span once its answer is out, an execution's once its record is
    # written: the client may be faster than both.
    carriers: list[ReadableSpan] = []
    for _ in range(100):
        found = spans.get_finished_spans()
        executions = [span for span in found if span.name == "execution"]
        posts = sorted((s for s in found if s.name == "http POST /mcp"), key=lambda span: span.start_time or 0)
        if executions and (parent := executions[0].parent) is not None:
            carriers = [s for s in posts if s.context is not None and s.context.span_id == parent.span_id]
        if carriers:
            break
        await anyio.sleep(0.05)
    assert carriers, [(span.name, span.parent and hex(span.parent.span_id)) for span in found]
    (execution,) = executions
    assert execution.context is not None
    carrier = carriers[0]
    assert carrier is not posts[0]  # not the request that opened the MCP session (or probed the server)
    assert {span.name for span in found if span.parent and span.parent.span_id == execution.context.span_id} == {
        f"execution.{stage}" for stage in STAGES
    }
