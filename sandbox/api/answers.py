"""Each HTTP request's answer window (``sandbox.aftercare``): cleanup waits until the answer is sent.

A run's container removal and its pool's refill are deferred into the window of
the request that ran it; the window closes as soon as the last body message of
the response has been handed to the server (so the answer is on its way before
the engine's teardown takes the CPU), or when the request ends in any other way.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sandbox import aftercare


class AnswerWindows:
    """ASGI middleware: one ``aftercare.answer_window`` per HTTP request, closed once its answer is sent."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        with aftercare.answer_window() as window:

            async def sending(message: Message) -> None:
                await send(message)
                if message["type"] == "http.response.body" and not message.get("more_body", False):
                    window.close()

            await self.app(scope, receive, sending)
