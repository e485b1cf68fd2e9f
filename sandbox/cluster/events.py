"""Scale-out: an execution's events readable through every replica, not only the one running it.

The replica holding an execution (the one its client submitted it to) mirrors
each of its events, in order, to a Redis stream of its own (``mirror``, a task
beside the execution, off the response's path). Another replica serves
``GET /v1/executions/{id}/events`` from that stream (``stream``): the same
events with the same ids (positions), live while the run goes on, resumable
with ``Last-Event-ID``. The stream's first entry names the key that owns the
execution; it expires ``keep_s`` after the result. A cancellation asked through
another replica reaches the holding one on a pub/sub channel (``CANCELS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import redis.asyncio as aioredis
from pydantic import BaseModel
from redis.exceptions import RedisError

from sandbox.cluster.dispatch import raise_if_cancelled, read_frames, unreachable_is_503
from sandbox.errors import NotFound
from sandbox.models import ExecutionRecord

if TYPE_CHECKING:
    from sandbox.service import Event, Execution

log = logging.getLogger(__name__)


#: Pub/sub channel: cancellations asked through one replica for an execution another holds.
CANCELS = "sandbox:cancel-executions"


def events_key(execution_id: str) -> str:
    return f"sandbox:events:{execution_id}"


class SharedEvents:
    """See the module docstring."""

    def __init__(self, client: aioredis.Redis, keep_s: int = 3600) -> None:
        self.redis = client
        self.keep_s = keep_s

    async def mirror(self, execution: Execution) -> None:
        """Copy ``execution``'s events to its stream until its result (errors are logged, not raised)."""
        key = events_key(execution.id)
        try:
            await self._add(key, {"t": "owner", "key": execution.caller.key_id or ""})
            async for event in execution.stream():
                data = event.data.model_dump(mode="json") if isinstance(event.data, BaseModel) else event.data
                await self._add(key, {"t": event.kind, "d": data})
        except (RedisError, OSError) as exc:
            log.warning("execution %s: its events are not readable through other replicas (%s)", execution.id, exc)

    async def _add(self, key: str, frame: dict[str, Any]) -> None:
        async with self.redis.pipeline(transaction=False) as pipe:
            pipe.xadd(key, {"f": json.dumps(frame)})
            pipe.expire(key, self.keep_s)
            await pipe.execute()

    async def published(self, execution_id: str, key_id: str | None) -> int:
        """How many events the execution has published so far; ``NotFound`` if no replica has it for this key."""
        key = events_key(execution_id)
        with unreachable_is_503():
            first = await self.redis.xrange(key, count=1)
            if not first or json.loads(first[0][1][b"f"]).get("key") != (key_id or ""):
                raise NotFound(f"no execution {execution_id!r} for this key is running or recently finished")
            length: int = await self.redis.xlen(key)
        return length - 1

    async def stream(self, execution_id: str, after: int = 0) -> AsyncIterator[Event]:
        """Every event past the first ``after``, then live ones, until the result (or the stream expires)."""
        from sandbox.service import Event

        key = events_key(execution_id)
        last, seen = "0-0", -1  # the owner entry is not an event
        while True:
            raise_if_cancelled()
            frames = await read_frames(self.redis, key, last, 1000)
            if not frames:
                with unreachable_is_503():
                    if not await self.redis.exists(key):
                        return  # expired (or its replica went away long ago)
                continue
            for entry, frame in frames:
                last = entry
                seen += 1
                if seen <= after or frame.get("t") == "owner":
                    continue
                kind = str(frame["t"])
                data = ExecutionRecord.model_validate(frame["d"]) if kind == "result" else frame["d"]
                yield Event(kind, data)
                if kind == "result":
                    return

    async def request_cancel(self, execution_id: str, key_id: str | None) -> None:
        """Ask the replica holding the execution to cancel it (``NotFound`` if no replica has it for this key)."""
        await self.published(execution_id, key_id)
        with unreachable_is_503():
            await self.redis.publish(CANCELS, json.dumps({"id": execution_id, "key": key_id or ""}))

    async def cancellations(self) -> AsyncIterator[tuple[str, str]]:
        """(execution id, key id) of every cancellation asked through any replica; reconnects after outages."""
        while True:
            try:
                async with self.redis.pubsub() as pubsub:
                    await pubsub.subscribe(CANCELS)
                    while True:  # polled: an idle subscription must not trip the client's socket timeout
                        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1.0)
                        if message is not None and message.get("type") == "message":
                            asked = json.loads(message["data"])
                            yield str(asked["id"]), str(asked["key"])
            except (RedisError, OSError, ValueError, KeyError) as exc:
                log.warning("the cluster's cancellation channel failed (%s); listening again", exc)
                await asyncio.sleep(1.0)

    async def aclose(self) -> None:
        with contextlib.suppress(RedisError, OSError):
            await self.redis.aclose()
