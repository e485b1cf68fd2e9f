"""The event-stream parser: events split over lines, comments, unknown kinds, ids, bad data."""

from __future__ import annotations

import json

import pytest

from sandbox.client.errors import ClientTimeout, TransportError, UnexpectedResponse
from sandbox.client.sse import MAX_RECONNECTS, EventStream, OutputEvent
from sandbox.models import ExecutionRecord, Status
from tests.unit.client.scripted import RECORD


def lines(*events: tuple[int, str, object]) -> list[str]:
    out: list[str] = []
    for number, kind, data in events:
        out += [f"id: {number}", f"event: {kind}", f"data: {json.dumps(data)}", ""]
    return out


def feed(stream: EventStream, text_lines: list[str]) -> list[object]:
    return [item for line in text_lines if (item := stream.feed(line)) is not None]


def test_output_events_then_the_record() -> None:
    stream = EventStream("e1")
    got = feed(stream, [": keep-alive", *lines((1, "stdout", "a\n"), (2, "stderr", "warn\n"), (3, "result", RECORD))])
    assert got[:2] == [OutputEvent("stdout", "a\n", 1), OutputEvent("stderr", "warn\n", 2)]
    assert isinstance(got[2], ExecutionRecord) and got[2].status is Status.OK and stream.finished
    assert stream.resume_headers() == {"Last-Event-ID": "3"}


def test_multi_line_data_and_no_space_after_the_colon() -> None:
    text = json.dumps(RECORD, indent=1).splitlines()  # one JSON document over several data lines
    stream = EventStream("e1")
    got = feed(stream, ["id:7", "event:result", *[f"data:{part}" for part in text], ""])
    assert len(got) == 1 and isinstance(got[0], ExecutionRecord) and got[0].stdout == "a\nb\n"
    assert stream.last_id == 7
    stream = EventStream("e1")
    assert feed(stream, ["event: stdout", "data: [1,", "data: 2]", ""]) == []  # not a string: skipped, not an error
    assert stream.last_id == 1  # no id: counted on


def test_unknown_events_are_skipped_but_counted() -> None:
    stream = EventStream("e1")
    assert feed(stream, lines((1, "progress", {"pct": 5}), (2, "stdout", "z"))) == [OutputEvent("stdout", "z", 2)]


def test_data_that_is_not_what_the_api_sends_is_an_unexpected_response() -> None:
    with pytest.raises(UnexpectedResponse, match="event 1 \\(result\\) of execution e9"):
        feed(EventStream("e9"), lines((1, "result", {"no": "record"})))
    with pytest.raises(UnexpectedResponse):
        feed(EventStream("e9"), ["id: 1", "event: stdout", "data: {not json", ""])


def test_a_broken_stream_is_resumed_a_few_times_then_raised_and_a_timeout_at_once() -> None:
    stream = EventStream("e1")
    feed(stream, ["id: 1", "event: stdout", 'data: "a"', "", "id: 2", "event: stdout"])  # cut mid-event
    for _ in range(MAX_RECONNECTS):
        stream.broken(TransportError("cut"), None)
    assert stream.resume_headers() == {"Last-Event-ID": "1"}
    assert feed(stream, lines((2, "stdout", "b"))) == [OutputEvent("stdout", "b", 2)]  # the half event is gone
    with pytest.raises(TransportError, match="broke 4 times"):
        stream.broken(TransportError("cut"), None)
    with pytest.raises(ClientTimeout):
        EventStream("e2").broken(ClientTimeout("slow", phase="read", limit_s=1), None)
