"""Where an execution's stages meet logs, metrics and traces: one hook, written once.

``bind(**fields)`` adds fields (``execution_id``, ``session_id``, ``key``,
``request_id``) to every log line written in the current context (task or
request); ``fields()`` reads them for the log formatter. ``stage(name, ...)``
wraps one stage of ``service.Execution``: it binds the stage, times it, and is
the single place where a stage becomes a span and a histogram sample, so a new
concern (metrics, traces) is added here and covers one-shot runs and session
cells alike.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from contextvars import ContextVar
from types import TracebackType
from typing import TYPE_CHECKING, Any

from sandbox.observability import metrics, tracing

if TYPE_CHECKING:
    from sandbox.observability.tracing import ExecutionTrace

log = logging.getLogger(__name__)

_FIELDS: ContextVar[dict[str, Any]] = ContextVar("sandbox_log_fields", default={})  # noqa: B039 - never mutated


def fields() -> dict[str, Any]:
    """The log fields bound in the current context (a copy)."""
    return dict(_FIELDS.get())


@contextlib.contextmanager
def bind(**values: Any) -> Iterator[None]:
    """Add ``values`` (``None`` ones skipped) to the log fields of this context, for the block."""
    token = _FIELDS.set({**_FIELDS.get(), **{k: v for k, v in values.items() if v is not None}})
    try:
        yield
    finally:
        _FIELDS.reset(token)


def bind_forever(**values: Any) -> None:
    """Add ``values`` to this context's log fields for the rest of it (a task's own context)."""
    _FIELDS.set({**_FIELDS.get(), **{k: v for k, v in values.items() if v is not None}})


class stage:
    """One stage of an execution: bound as ``stage`` in the logs, timed, a span and a sample.

    ``with stage(name, ...) as outcome:`` gives a dict the stage may fill with attributes of
    its outcome (``status``); the hook adds ``duration_s`` and, if the stage raised, ``error``.
    ``fields`` (the execution's ids) are bound to the stage's log lines with it. The stage's
    span (tracing on) is a child of ``parent``'s, the execution's. A class rather than a
    generator: ten of these run per execution, on the request path.
    """

    __slots__ = ("_fields", "_language", "_name", "_parent", "_policy", "_span", "_started", "_token", "outcome")

    def __init__(
        self,
        name: str,
        *,
        language: str | None = None,
        policy: str | None = None,
        parent: ExecutionTrace | None = None,
        fields: dict[str, Any] | None = None,
    ) -> None:
        self._name, self._language, self._policy, self._parent = name, language, policy, parent
        self._fields = fields
        self.outcome: dict[str, Any] = {}

    def __enter__(self) -> dict[str, Any]:
        bound = _FIELDS.get()
        self._token = _FIELDS.set(
            {**bound, **self._fields, "stage": self._name} if self._fields else {**bound, "stage": self._name}
        )
        self._span = tracing.start_stage(self._name, self._parent)
        self._started = time.perf_counter()
        return self.outcome

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        outcome = self.outcome
        outcome["duration_s"] = time.perf_counter() - self._started
        if exc is not None:
            outcome["error"] = exc
        try:
            metrics.stage_finished(self._name, self._language, self._policy, outcome)
            if log.isEnabledFor(logging.DEBUG):
                log.debug("%s done", self._name, extra={"duration_s": round(outcome["duration_s"], 6)})
            tracing.end_stage(self._span, outcome)
        finally:
            _FIELDS.reset(self._token)
