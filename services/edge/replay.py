"""Stored events of one session after a stream sequence, in order, read from JetStream.

Used by a socket that resumes (``after_seq=N``): an ordered consumer filtered on the session's
subjects, starting at N+1, read until it has caught up with the stream or until the socket's
live buffer already holds the rest (``stop_at``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext, api
from nats.js.errors import NotFoundError

from events import codec, subjects
from events.errors import EventDecodeError
from events.schema import ChatEvent
from events.streams import CHAT_STREAM
from services import logs
from services.edge.errors import Unavailable

log = logs.get("edge.replay")


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
        sub = await js.subscribe(
            subject,
            stream=CHAT_STREAM,
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
            config=api.ConsumerConfig(opt_start_seq=first, inactive_threshold=30.0),
        )
    except (NatsTimeout, TimeoutError) as exc:
        raise Unavailable(f"NATS did not answer the replay request: {exc}") from None
    try:
        while True:
            try:
                msg = await sub.next_msg(timeout=step_timeout)
            except (NatsTimeout, TimeoutError):
                raise Unavailable("NATS stopped delivering the replay") from None
            meta = msg.metadata
            seq = meta.sequence.stream
            try:
                event: ChatEvent | None = codec.decode(msg.data)
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
        except Exception:  # the consumer expires on its own (inactive_threshold)
            pass
