"""A tiny real HTTP server on loopback that answers from a script: what the retry and error tests talk to.

Each answer is (status, headers, body, delay before answering); requests past the script get the
last answer again. Every request is recorded with its arrival time, path and headers, so a test
can check how many were sent and how far apart. ``close`` answers a stream and then hangs up.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

#: A finished execution's record as the server sends it (the streams' last event).
RECORD = {
    "id": "e1",
    "state": "done",
    "status": "ok",
    "language": "python",
    "policy": "standard",
    "stdout": "a\nb\n",
    "created_at": "2026-11-30T20:00:00Z",
}


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    hang_up: bool = False  # send the head and body, then close without finishing a chunked stream


def problem_body(status: int, code: str, message: str = "why", **extra: object) -> bytes:
    """A problem+json body as the server's ``sandbox.api.problems`` writes it."""
    fields = {"type": f"urn:sandbox:problem:{code}", "status": status, "detail": message, "code": code}
    return json.dumps({**fields, "message": message, "findings": [], **extra}).encode()


def problem(status: int, code: str, message: str, **headers: str) -> Answer:
    return Answer(status, problem_body(status, code, message), {"Content-Type": "application/problem+json", **headers})


def json_answer(text: str, status: int = 200) -> Answer:
    return Answer(status, text.encode(), {"Content-Type": "application/json"})


@dataclass(frozen=True)
class Seen:
    at: float
    method: str
    path: str
    headers: dict[str, str]


@dataclass
class Script:
    answers: list[Answer]
    seen: list[Seen] = field(default_factory=list)
    url: str = ""

    def gaps(self) -> list[float]:
        return [b.at - a.at for a, b in zip(self.seen, self.seen[1:], strict=False)]


@contextmanager
def scripted(*answers: Answer) -> Iterator[Script]:
    script = Script(list(answers))

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            index = len(script.seen)
            script.seen.append(Seen(time.monotonic(), self.command, self.path, dict(self.headers.items())))
            answer = script.answers[min(index, len(script.answers) - 1)]
            time.sleep(answer.delay_s)
            self.send_response(answer.status)
            for name, value in answer.headers.items():
                self.send_header(name, value)
            if answer.hang_up:
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(answer.body)
                self.wfile.flush()
                self.close_connection = True
                return
            self.send_header("Content-Length", str(len(answer.body)))
            self.end_headers()
            self.wfile.write(answer.body)

        do_GET = do_POST = do_PUT = do_DELETE = _answer

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    script.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield script
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
