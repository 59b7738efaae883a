"""Pipelined publishing of one answer's events: chunks go out with ``publish_async`` (no wait per
event, order kept by the one connection), and ``settle`` waits until JetStream acked every one.
The terminal event is published only after that, awaited, so it is never stored before a chunk."""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext

from events import codec, subjects
from events.schema import Event
from services import bus, tracing


class PublishError(Exception):
    """JetStream did not store an event in time (NATS down, stream gone)."""


class Publisher:
    def __init__(self, js: JetStreamContext, ack_timeout: float = 5.0) -> None:
        self.js, self.ack_timeout = js, ack_timeout
        self.pending: list[asyncio.Future] = []
        self.sent = 0

    async def send(self, event: Event) -> None:
        """Publish without waiting for the ack."""
        future = await self.js.publish_async(
            subjects.for_event(event), codec.encode(event), headers=codec.headers(event)
        )
        self.pending.append(future)
        self.sent += 1
        tracing.chunk_published(getattr(event, "index", -1), future)

    async def settle(self) -> None:
        """Wait for every pending ack; raise ``PublishError`` if one failed or did not come."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        try:
            async with asyncio.timeout(self.ack_timeout):
                results = await asyncio.gather(*pending, return_exceptions=True)
        except TimeoutError:
            for future in pending:
                future.cancel()  # nats-py keeps them otherwise
            raise PublishError(
                f"JetStream did not ack {sum(not f.done() for f in pending)} events within {self.ack_timeout}s"
            ) from None
        failed = [r for r in results if isinstance(r, BaseException)]
        if failed:
            raise PublishError(f"JetStream refused {len(failed)} events: {failed[0]!r}")

    async def finish(self, event: Event) -> None:
        """Publish a terminal event after every earlier one is stored, and wait for its ack."""
        await self.settle()
        try:
            await bus.publish(self.js, event, ack_timeout=self.ack_timeout)
        except Exception as exc:  # nats-py raises timeouts, no-responders and API errors
            raise PublishError(f"JetStream did not store {type(event).__name__}: {exc!r}") from exc
        self.sent += 1
