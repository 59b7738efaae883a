"""Stored events read straight from JetStream, in stream order, with their raw bytes.

A short-lived pull consumer (no acks, in memory) per read: replay, export and verify read the
log itself, never PostgreSQL.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from events import codec, subjects
from events.errors import EventDecodeError
from events.streams import CHAT_STREAM
from services.audit.conversation import StoredEvent

BATCH = 512


def stored(msg) -> StoredEvent:
    try:
        event = codec.decode(msg.data, msg.subject)
    except EventDecodeError:
        event = None
    return StoredEvent(
        seq=msg.metadata.sequence.stream,
        subject=msg.subject,
        data=bytes(msg.data),
        stored_at=msg.metadata.timestamp,
        event=event,
    )


async def first_seq(
    js: JetStreamContext, filter_subject: str, from_seq: int = 1, stream: str = CHAT_STREAM
) -> int | None:
    """The sequence of the first stored message on ``filter_subject`` at or after ``from_seq``."""
    try:
        msg = await js.get_msg(stream, seq=from_seq, subject=filter_subject, next=True, direct=True)
    except NotFoundError:
        return None
    return msg.seq


async def read(
    js: JetStreamContext,
    filter_subject: str = subjects.ALL,
    *,
    from_seq: int = 1,
    follow: bool = False,
    stream: str = CHAT_STREAM,
    idle_s: float = 1.0,
) -> AsyncIterator[StoredEvent]:
    """Every stored message on ``filter_subject`` from ``from_seq`` in stream order; with
    ``follow``, then every new one as it is stored (until cancelled)."""
    first = await first_seq(js, filter_subject, from_seq, stream)
    if first is None and not follow:
        return
    config = api.ConsumerConfig(
        deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
        opt_start_seq=first or from_seq,
        ack_policy=api.AckPolicy.NONE,
        inactive_threshold=30.0,
        mem_storage=True,
        num_replicas=1,
    )
    sub = await js.pull_subscribe(filter_subject, stream=stream, config=config)
    try:
        while True:
            try:
                batch = await sub.fetch(BATCH, timeout=idle_s)
            except (TimeoutError, NatsTimeout):
                # A slow server is not the end of the log: stop only when nothing is pending.
                if follow or (await sub.consumer_info()).num_pending > 0:
                    continue
                return
            for msg in batch:
                yield stored(msg)
                if msg.metadata.num_pending == 0 and not follow:
                    return
    finally:
        try:
            await sub.unsubscribe()
            await js.delete_consumer(stream, config.name)
        except Exception:  # it expires on its own (inactive_threshold)
            pass


async def session(js: JetStreamContext, session_id: str) -> list[StoredEvent]:
    """All stored events of one session (deleted sessions included), in stream order."""
    return [item async for item in read(js, subjects.session(session_id))]
