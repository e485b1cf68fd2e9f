"""What a session handle knows, shared by the sync and the async one: its id once open, and closing.

A session is opened on entering the ``with`` block (or by ``open()``) and closed on leaving it,
also when the block raises. Closing a session the server already ended (idle timeout, a cell
that killed its interpreter) is not an error: 404 on close means it is gone, which was the aim.
An error while closing after the block raised does not replace the block's own exception: it is
added to it as a note.
"""

from __future__ import annotations

from collections.abc import Sequence

from sandbox.client import calls
from sandbox.client.config import ClientConfig
from sandbox.client.errors import SandboxClientError
from sandbox.models import ExecutionRecord, SessionInfo, SessionRequest


class SessionState:
    """The request a session is opened with, then its ``info`` and whether it was closed."""

    def __init__(self, config: ClientConfig, request: SessionRequest) -> None:
        self.config = config
        self.request = request
        self.info: SessionInfo | None = None  # as the server answered on opening
        self.closed = False

    @property
    def id(self) -> str:
        """The session's id; an error before it is opened or after it is closed."""
        if self.info is None:
            raise SandboxClientError(
                "the session is not open yet: use it as `with client.session(...) as s:` "
                "(`async with` for the async client) or call open() first"
            )
        if self.closed:
            raise SandboxClientError(f"session {self.info.id} is closed")
        return self.info.id

    def open_call(self) -> calls.Call[SessionInfo] | None:
        """The request that opens it, or ``None`` when it is already open."""
        if self.closed:
            raise SandboxClientError(f"session {self.info.id if self.info else ''} is closed; open a new one")
        return None if self.info is not None else calls.session_open(self.config, self.request)

    def close_call(self) -> calls.Call[None] | None:
        """The request that closes it, or ``None`` when there is nothing to close; it counts as closed now."""
        if self.info is None or self.closed:
            return None
        self.closed = True
        return calls.session_close(self.info.id)

    def run_call(
        self, code: str, limits: calls.LimitsArg | None, outputs: Sequence[str] | None
    ) -> calls.Call[ExecutionRecord]:
        return calls.session_run(
            self.config, self.id, code, limits=limits, outputs=outputs, session_limits=self.request.limits
        )


def note_close_failure(block_error: BaseException, close_error: SandboxClientError, session_id: str) -> None:
    """The block's exception stands; the failed close is added to it as a note."""
    block_error.add_note(f"closing session {session_id} afterwards failed too: {close_error}")
