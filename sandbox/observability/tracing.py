"""OpenTelemetry traces: a span per HTTP request, per execution and per stage; off by default.

With the ``tracing`` setting off, nothing here touches OpenTelemetry: every
helper looks at one module global and returns, so the hot path pays a few
attribute lookups. With it on (``configure_tracing``), spans come from our own
``TracerProvider`` (the global one is left to the host application):

- ``http <METHOD> <route>`` (kind server), started by the request middleware,
  child of an incoming W3C ``traceparent`` if the client sent a valid one;
- ``execution``: one per execution (one-shot run or session cell), child of the
  request's span when there is one (REST, MCP over HTTP), a root otherwise (CLI,
  MCP over stdio); it lives from admission to the record, even when the request
  that started it has already answered (``?wait=false``);
- ``execution.<stage>`` (admit, validate, acquire, run, record), children of it,
  from the one stage hook (``context.stage``); made, with their own times, when the
  execution ends (``ExecutionTrace`` says why).

When the CPU goes: a span costs the SDK tens of microseconds, and a request has
seven. Only the two that must exist while the request runs (the request's and the
execution's: their ids are in the log lines and the ``X-Trace-Id`` header) are
started on the request path. Stage spans are made, and the request's and the
execution's ended, ``SPANS_AFTER_S`` after the answer (``later``), with their real
times: right after it, that CPU would compete on two cores with the client reading
the answer and the engine's teardown. ``flush`` makes the spans still waiting
(before a provider shuts down, or when a test reads them).

Where spans go: ``otlp_endpoint`` set: the OTLP/HTTP exporter posts to
``<endpoint>/v1/traces``; unset, the standard ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``
or ``OTEL_EXPORTER_OTLP_ENDPOINT`` variables are used if present; neither: no
exporter (trace ids still reach the logs and the ``X-Trace-Id`` header, so lines
of one request can be found together). Spans are exported in batches, off the
request path. The SDK's own variables (``OTEL_SERVICE_NAME``,
``OTEL_EXPORTER_OTLP_HEADERS``, ``OTEL_TRACES_SAMPLER``, ...) apply as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.context import Context
from opentelemetry.trace import Span, SpanKind, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from sandbox import __version__
from sandbox.config import Settings

if TYPE_CHECKING:  # the SDK is imported when tracing is turned on: a process without it never loads it
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

#: The standard variables that name an OTLP collector when ``otlp_endpoint`` does not.
OTLP_VARIABLES = ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT")

#: How long after the answer the spans of a request and its execution are made and ended.
SPANS_AFTER_S = 0.1

_tracer: trace.Tracer | None = None
_provider: TracerProvider | None = None
_pending: dict[asyncio.TimerHandle, Callable[[], None]] = {}  # span work waiting for its time (``later``)
_propagator = TraceContextTextMapPropagator()


def configure_tracing(settings: Settings) -> None:
    """Turn tracing on (with its exporter) or off, as the settings say; once per process."""
    if not settings.tracing:
        install(None)
        return
    from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, OTELResourceDetector, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    # Named "sandbox" unless OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES say otherwise (they win).
    ours = Resource.create({SERVICE_NAME: "sandbox", SERVICE_VERSION: __version__})
    resource = ours.merge(OTELResourceDetector().detect())
    provider = TracerProvider(resource=resource)
    exporter = _exporter(settings)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    install(provider)


def _exporter(settings: Settings) -> SpanExporter | None:
    # Imported here: it pulls in requests and protobuf, which a process without tracing never needs.
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    if settings.otlp_endpoint:
        endpoint = settings.otlp_endpoint.rstrip("/")
        return OTLPSpanExporter(endpoint=endpoint if endpoint.endswith("/v1/traces") else f"{endpoint}/v1/traces")
    # The SDK's own variables, read by the SDK: we only look whether one is there.
    if any(os.environ.get(name) for name in OTLP_VARIABLES):
        return OTLPSpanExporter()
    return None


def install(provider: TracerProvider | None) -> None:
    """Use ``provider``'s tracer from now on (``None``: tracing off); tests install an in-memory one."""
    global _tracer, _provider
    flush()  # the spans still waiting belong to the provider going away
    if _provider is not None and _provider is not provider:
        _provider.shutdown()  # flushes what the old one still holds
    _provider = provider
    _tracer = provider.get_tracer("sandbox", __version__) if provider is not None else None


def enabled() -> bool:
    return _tracer is not None


def later(work: Callable[[], None]) -> None:
    """Do ``work`` (make or end spans) ``SPANS_AFTER_S`` from now; at once without a running loop."""
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        work()
        return

    def run() -> None:
        if _pending.pop(handle, None) is not None:
            work()

    handle = loop.call_later(SPANS_AFTER_S, run)
    _pending[handle] = work


def flush() -> None:
    """Do every span work still waiting, now."""
    while _pending:
        handle, work = _pending.popitem()
        handle.cancel()
        work()


def current_ids() -> tuple[str, str] | None:
    """``(trace_id, span_id)`` in hex of the current span, for the log lines; ``None`` if none or off."""
    if _tracer is None:
        return None
    return ids(trace.get_current_span())


def ids(span: Span | ExecutionTrace | None) -> tuple[str, str] | None:
    """``(trace_id, span_id)`` in hex of ``span``; ``None`` if it is ``None`` or not a valid span."""
    if span is None:
        return None
    if isinstance(span, ExecutionTrace):
        span = span.span
    found = span.get_span_context()
    if not found.is_valid:
        return None
    return format(found.trace_id, "032x"), format(found.span_id, "016x")


# ------------------------------------------------------------------ requests
def start_request(method: str, traceparent: str | None) -> tuple[Span, Context, object] | None:
    """The server span of one HTTP request (child of a valid ``traceparent``), made current.

    Returns the span, its context (to hand to work that runs in another task) and the
    token ``end_request`` detaches it with, or ``None`` when tracing is off. The span's
    parent is never the ambient context: a request is its own trace unless the client
    says otherwise.
    """
    if _tracer is None:
        return None
    parent = _propagator.extract({"traceparent": traceparent}) if traceparent else Context()
    span = _tracer.start_span(f"http {method}", context=parent, kind=SpanKind.SERVER)
    span.set_attribute("http.request.method", method)
    current = trace.set_span_in_context(span)
    token = otel_context.attach(current)  # for the rest of this request: its log lines carry the ids
    return span, current, token


def end_request(span: Span, method: str, route: str | None, status: int, token: object = None) -> None:
    """Detach the request's span now; name it after its route template (never the raw path) and end
    it, at this time, a moment later (``later``)."""
    if token is not None:
        otel_context.detach(token)  # type: ignore[arg-type]  # the token attach() gave
    ended = time.time_ns()

    def end() -> None:
        if route:
            span.update_name(f"http {method} {route}")
            span.set_attribute("http.route", route)
        span.set_attribute("http.response.status_code", status)
        if status >= 500:
            span.set_status(StatusCode.ERROR)
        span.end(end_time=ended)

    later(end)


def resume(parent: Context | None) -> None:
    """Make ``parent`` (a request's context) current for the rest of this task (work handed over)."""
    if _tracer is not None and parent is not None:
        otel_context.attach(parent)


# ---------------------------------------------------------------- executions
@dataclass(eq=False)
class ExecutionTrace:
    """An execution's span (live: log lines name it) and its stages, kept as times until it ends.

    A span costs the SDK tens of microseconds; five of them on the request path would
    be most of the budget tracing has. So a stage only notes its times and outcome, and
    its span is made, with those times, when the execution ends (after the door has
    answered, when it waits for the result).
    """

    span: Span
    stages: list[tuple[str, int, int, dict[str, Any]]] = field(default_factory=list)


def start_execution(execution_id: str, **attributes: Any) -> ExecutionTrace | None:
    """The span of one execution, child of the current span (a request's) if any; ``None`` when off."""
    if _tracer is None:
        return None
    values = {f"sandbox.{name}": value for name, value in attributes.items() if value is not None}
    return ExecutionTrace(_tracer.start_span("execution", attributes={"sandbox.execution_id": execution_id, **values}))


def end_execution(
    execution: ExecutionTrace | None, status: str | None, error: BaseException | None = None, **attributes: Any
) -> None:
    """Make its stages' spans, then end the execution's span with how it ended (its status, or the
    refusal), at this time, a moment later (``later``)."""
    if execution is None or _tracer is None:
        return
    tracer, ended, stages = _tracer, time.time_ns(), list(execution.stages)
    execution.stages.clear()

    def end() -> None:
        span, parent = execution.span, trace.set_span_in_context(execution.span)
        for name, started, stopped, outcome in stages:
            stage = tracer.start_span(f"execution.{name}", context=parent, start_time=started)
            _outcome(stage, outcome.get("status"), outcome.get("error"))
            stage.end(end_time=stopped)
        for name, value in attributes.items():
            if value is not None:
                span.set_attribute(f"sandbox.{name}", value)
        _outcome(span, status, error)
        span.end(end_time=ended)

    later(end)


# -------------------------------------------------------------------- stages
def start_stage(name: str, parent: ExecutionTrace | None) -> tuple[ExecutionTrace, str, int] | None:
    """Note when a stage of ``parent`` starts; ``None`` when tracing is off (or there is no parent).

    Its span is made when the execution ends (see ``ExecutionTrace``); meanwhile a stage's
    log lines carry the execution's ids. The span's only attribute is the outcome: its
    name says the stage, the execution's span the rest.
    """
    if _tracer is None or parent is None:
        return None
    return parent, name, time.time_ns()


def end_stage(started: tuple[ExecutionTrace, str, int] | None, outcome: dict[str, Any]) -> None:
    """Note when and how a stage ended: the ``status`` it noted or the ``error`` it raised."""
    if started is None:
        return
    parent, name, at = started
    parent.stages.append((name, at, time.time_ns(), {"status": outcome.get("status"), "error": outcome.get("error")}))


def _outcome(span: Span, status: str | None, error: BaseException | None) -> None:
    """A refusal (a ``SandboxError``) is an answer, not a failure: only our own failures mark the span."""
    code = getattr(error, "status", None)
    status = status or getattr(code, "value", None)
    if status:
        span.set_attribute("sandbox.status", status)
    if error is None:
        failed = status == "internal_error"
    elif code is not None:
        failed = code.value == "internal_error"
    else:
        failed = isinstance(error, Exception)  # a cancellation is the caller's choice, not a failure
        span.set_attribute("sandbox.error", type(error).__name__)
        if failed:
            span.record_exception(error)
    if failed:
        span.set_status(StatusCode.ERROR)


@contextlib.contextmanager
def installed(provider: TracerProvider) -> Iterator[TracerProvider]:
    """``provider`` for the block, then tracing off again (tests)."""
    install(provider)
    try:
        yield provider
    finally:
        install(None)
