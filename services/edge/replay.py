"""Stored events of one session after a stream sequence, in order, read from JetStream.

Used by a socket that resumes (``after_seq=N``): a short-lived pull consumer filtered on the
session's subjects, starting at N+1, fetched in batches until it has caught up with the stream
or until the socket's live buffer already holds the rest (``stop_at``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from nats.errors import Error as NatsError
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from events import codec, subjects
from events.errors import EventDecodeError
from events.schema import ChatEvent
from events.streams import CHAT_STREAM
from services import logs
from services.edge.errors import Unavailable

log = logs.get("edge.replay")

REPLAY_BATCH = 256


async def _first_after(js: JetStreamContext, filter_subject: str, after_seq: int) -> int | None:
    """Sequence of the first stored event on ``filter_subject`` after ``after_seq``, if any."""
    try:
        msg = await js.get_msg(CHAT_STREAM, seq=after_seq + 1, subject=filter_subject, next=True, direct=True)
    except NotFoundError:
        return None
    return msg.seq


async def events_after(
    js: JetStreamContext,
    session_id: str,
    after_seq: int,
    *,
    filter_subject: str | None = None,
    stop_at: Callable[[], int | None] = lambda: None,
    step_timeout: float = 5.0,
) -> AsyncIterator[tuple[int, ChatEvent | None]]:
    """Yield ``(seq, event)`` for each stored event of the session after ``after_seq``.

    Stops when the consumer has caught up (``num_pending == 0``) or when the next sequence is
    at or past ``stop_at()`` (the first event already waiting in the socket's live queue).
    ``event`` is None for an undecodable event (logged; its seq still counts).
    """
    subject = filter_subject or subjects.session(session_id)
    try:
        first = await _first_after(js, subject, after_seq)
        if first is None:
            return
        live_from = stop_at()
        if live_from is not None and first >= live_from:
            return
        # A pull consumer read in batches: no flow control to stall on, and it goes away with
        # the replay (deleted below; inactive_threshold if this process dies first).
        config = api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            opt_start_seq=first,
            ack_policy=api.AckPolicy.NONE,
            inactive_threshold=30.0,
            mem_storage=True,
            num_replicas=1,
        )
        sub = await js.pull_subscribe(subject, stream=CHAT_STREAM, config=config)
    except (NatsError, TimeoutError) as exc:
        raise Unavailable(f"NATS did not answer the replay request: {exc or type(exc).__name__}") from None
    try:
        while True:
            try:
                batch = await sub.fetch(REPLAY_BATCH, timeout=step_timeout)
            except (NatsError, TimeoutError):
                raise Unavailable("NATS stopped delivering the replay") from None
            for msg in batch:
                meta = msg.metadata
                seq = meta.sequence.stream
                try:
                    event: ChatEvent | None = codec.decode(msg.data, msg.subject)
                except EventDecodeError as exc:
                    log.warning(
                        "undecodable event skipped in replay", session_id=session_id, stream_seq=seq, error=str(exc)
                    )
                    event = None
                yield seq, event
                if meta.num_pending == 0:
                    return
                live_from = stop_at()
                if live_from is not None and seq + 1 >= live_from:
                    return
    finally:
        try:
            await sub.unsubscribe()
            await js.delete_consumer(CHAT_STREAM, config.name)
        except Exception:  # it expires on its own (inactive_threshold)
            pass
