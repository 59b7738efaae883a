"""Pipelined publishing of one answer's events: chunks go out through the worker's
``bus.Pipeline`` (no wait per event, order kept by the one connection), and ``settle`` waits
until JetStream acked every one.
The terminal event is published only after that, and awaited the same way, so it is never stored
before a chunk.

A lost connection voids what was in flight: nats-py does not resend what it had written to the
old socket, so an event sent before a reconnect may never be stored while later ones are. Such
an attempt must not go on (its readers would see a hole): the next ``send`` after a reconnect
first settles what is pending, briefly, and a missing ack ends the attempt with ``PublishError``
(the prompt is redelivered and answered anew) within a second, not after the full ack timeout.
"""

from __future__ import annotations

import asyncio

from nats.js import JetStreamContext

from events import codec, subjects
from events.schema import Event
from services import bus, tracing

# Once the connection was lost: how much longer acks of events sent before may take to come.
RECONNECT_GRACE_S = 1.0


class PublishError(Exception):
    """JetStream did not store an event in time (NATS down, stream gone)."""


class Publisher:
    def __init__(self, js: JetStreamContext, ack_timeout: float = 5.0, pipeline: bus.Pipeline | None = None) -> None:
        self.js, self.ack_timeout = js, ack_timeout
        self.pipeline = pipeline or bus.Pipeline(js._nc)  # a worker passes its own: one ack inbox for all
        self.nc = js._nc  # nats-py's connection: its reconnect count tells a link that was lost
        self.pending: list[asyncio.Future] = []
        self.subjects: dict[tuple[type, str], str] = {}  # an answer's subjects, built once (1 % per chunk)
        self.link = self._link()  # the link the pending events went out on
        self.sent = 0

    def _link(self) -> int:
        return self.nc.stats["reconnects"]

    def _link_lost(self) -> bool:
        return not self.nc.is_connected or self._link() != self.link

    async def send(self, event: Event) -> None:
        """Publish without waiting for the ack."""
        if self.pending and self._link_lost():
            await self.settle()  # briefly: the lost link shortens the wait
        if not self.pending:
            self.link = self._link()
        key = (type(event), event.session_id)
        subject = self.subjects.get(key)
        if subject is None:
            subject = self.subjects[key] = subjects.for_event(event)
        index = getattr(event, "index", -1)
        future = await self.pipeline.publish(subject, codec.encode(event), codec.headers(event))
        self.pending.append(future)
        self.sent += 1
        tracing.chunk_published(index, future)

    async def settle(self) -> None:
        """Wait for every pending ack; raise ``PublishError`` if one failed or did not come."""
        pending, self.pending = self.pending, []
        if not pending:
            return
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.ack_timeout
        # Most acks are in by the time an answer ends: wait only for the others (asyncio.wait adds
        # and removes a callback on every future it is given, an answer's whole list otherwise).
        missing = {f for f in pending if not f.done()}
        while missing:  # in slices: a connection lost meanwhile shortens the wait to the grace
            _, missing = await asyncio.wait(missing, timeout=max(0.0, min(0.1, deadline - loop.time())))
            if not missing:
                break
            if self._link_lost():
                deadline = min(deadline, loop.time() + RECONNECT_GRACE_S)
            if loop.time() >= deadline:
                for future in missing:
                    future.cancel()
                self.pipeline.forget()  # their acks will not come
                lost = " (the NATS connection was lost meanwhile)" if self._link_lost() else ""
                raise PublishError(f"JetStream did not ack {len(missing)} events in time{lost}")
        failed = [asyncio.CancelledError() if f.cancelled() else f.exception() for f in pending]
        failed = [exc for exc in failed if exc is not None]
        if failed:
            raise PublishError(f"JetStream refused {len(failed)} events: {failed[0]!r}")

    async def finish(self, event: Event) -> None:
        """Publish a terminal event after every earlier one is stored, and wait for its ack.
        Through the pipeline too, so its ack is read and waited for like a chunk's (nats-py's
        request drew a random inbox token, armed a timer and parsed the PubAck, once per answer)."""
        await self.settle()
        await self.send(event)
        await self.settle()
