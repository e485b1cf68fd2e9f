"""The execution event stream (``GET /v1/executions/{id}/events``), parsed line by line.

The server sends ``stdout`` and ``stderr`` events (a JSON string each: a chunk of output as it was
produced), then one ``result`` event (the ``ExecutionRecord``), each with an ``id:`` that counts
from 1. ``EventStream`` is fed the lines of the answer (both clients read them, it does no I/O) and
turns each complete event into an ``OutputEvent`` or the final record. It remembers the last id,
so a client whose connection broke asks for the rest with ``Last-Event-ID`` and sees nothing twice.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from pydantic import ValidationError

from sandbox.client.errors import ClientTimeout, SandboxClientError, TransportError, UnexpectedResponse
from sandbox.models import ExecutionRecord


@dataclass(frozen=True)
class OutputEvent:
    """A chunk of the program's output, in the order it was produced."""

    kind: Literal["stdout", "stderr"]
    text: str
    id: int  # its position in the stream (1 first)


#: Reconnections of one stream after its connection broke, before the error is raised.
MAX_RECONNECTS = 3

#: What ``stream()`` yields: output events, then the record (always last).
StreamItem = OutputEvent | ExecutionRecord


class EventStream:
    """Parses one execution's event stream, across reconnections."""

    def __init__(self, execution_id: str) -> None:
        self.execution_id = execution_id
        self.last_id: int | None = None
        self.result: ExecutionRecord | None = None
        self.reconnects = 0
        self._fields: dict[str, str] = {}
        self._data: list[str] = []

    @property
    def finished(self) -> bool:
        return self.result is not None

    def resume_headers(self) -> dict[str, str]:
        """What a reconnection sends: the last event seen, so the server starts after it."""
        return {"Last-Event-ID": str(self.last_id)} if self.last_id is not None else {}

    def broken(self, error: SandboxClientError, cause: BaseException | None) -> None:
        """The connection broke (``error``): return to reconnect after the last event, or raise ``error``.

        A timeout is raised at once: the read timeout already covers the run's limits, so waiting
        again would only double the wait. Other breaks are resumed ``MAX_RECONNECTS`` times.
        """
        self._fields, self._data = {}, []  # a half-received event is sent again after the last whole one
        if isinstance(error, ClientTimeout):
            raise error from cause
        self.reconnects += 1
        if self.reconnects > MAX_RECONNECTS:
            error.note = f"the stream of execution {self.execution_id} broke {self.reconnects} times; not resumed again"
            raise error from cause

    def ended_early(self, what: str) -> TransportError:
        """The answer ended without the result event (the server went away mid-stream)."""
        return TransportError(f"{what}: the event stream ended before the execution's result")

    def feed(self, line: str) -> StreamItem | None:
        """One line of the answer (without its end); an item when the line completes an event."""
        if line.startswith(":"):  # a comment (keep-alive)
            return None
        if line:
            name, _, value = line.partition(":")
            value = value.removeprefix(" ")
            if name == "data":
                self._data.append(value)
            else:
                self._fields[name] = value
            return None
        fields, data = self._fields, "\n".join(self._data)
        self._fields, self._data = {}, []
        if not fields and not data:
            return None
        return self._event(fields.get("event", "message"), fields.get("id"), data)

    def _event(self, kind: str, event_id: str | None, data: str) -> StreamItem | None:
        number = int(event_id) if event_id is not None and event_id.isdigit() else (self.last_id or 0) + 1
        try:
            value = json.loads(data)
            if kind == "result":
                self.result = ExecutionRecord.model_validate(value)
                item: StreamItem | None = self.result
            elif kind in ("stdout", "stderr") and isinstance(value, str):
                item = OutputEvent("stdout" if kind == "stdout" else "stderr", value, number)
            else:
                item = None  # an event kind this client does not know: skipped, not an error
        except (ValueError, ValidationError) as exc:
            raise UnexpectedResponse(
                f"event {number} ({kind}) of execution {self.execution_id}'s stream is not what the API sends: {exc}"
            ) from exc
        self.last_id = number
        return item
