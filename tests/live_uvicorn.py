"""A real uvicorn serving an app on a free loopback port, in a thread: what the in-process HTTP tests share."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sandbox.config import Settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def uvicorn_in_thread(
    app: Any, *, start_timeout: float = 30, settings: Settings | None = None, **config: Any
) -> Iterator[str]:
    """Serve ``app`` until the block ends; yields its base URL. The server is `sandbox serve`'s (its
    protocol, loop and connection options from ``settings``, the declared defaults unless given),
    lifespan on, unless ``config`` says otherwise."""
    import uvicorn

    from sandbox.api.connections import server_options

    options = {"lifespan": "on", **server_options(settings or Settings.model_construct()), **config}
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **options))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + start_timeout
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "the server did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=start_timeout)
