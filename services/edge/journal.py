"""The edge's writes to the chat stream: a command's events stored in order, refused (nothing
written) while NATS reconnects, and the bookkeeping a stored event needs at once on this edge:
a new session's owner (before the projection has it) and the user's fair-use counts."""

from __future__ import annotations

import time

from nats.aio.client import Client
from nats.errors import Error as NatsError
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import PubAck
from nats.js.errors import Error as JsError

from events import codec
from events.errors import EventDecodeError
from events.schema import ChatEvent, Event, GenerationRequested, SessionCreated
from events.streams import CHAT_STREAM
from services import bus, tracing
from services.edge import metrics
from services.edge.access import Access, SessionRef
from services.edge.errors import Unavailable
from services.edge.quota import Quota


class Journal:
    def __init__(self, nc: Client, js: JetStreamContext, access: Access, quota: Quota | None = None) -> None:
        self.nc = nc
        self.js = js
        self.access = access
        self.quota = quota

    async def publish(self, events: list[Event], prompt: tracing.Prompt | None = None) -> list[PubAck]:
        """Store events in order (each awaited: the second must not overtake the first); a
        traced ``prompt``'s context goes on its GenerationRequested event only."""
        if not self.nc.is_connected:
            # Refused before anything is written: while reconnecting, nats-py buffers a publish and
            # sends it after the reconnect, so a send answered 503 could still store its first
            # event (a user message with no answer requested).
            metrics.ERRORS.labels("publish").inc()
            raise Unavailable("NATS is reconnecting; nothing was stored, send again in a moment")
        acks = []
        started = time.perf_counter()
        for event in events:
            traced = prompt.headers if prompt is not None and isinstance(event, GenerationRequested) else None
            try:
                ack = await bus.publish(self.js, event, headers=traced)
            except (NatsTimeout, TimeoutError, NatsError, JsError) as exc:
                metrics.ERRORS.labels("publish").inc()
                raise Unavailable(f"NATS did not store the event: {exc or type(exc).__name__}") from None
            if isinstance(event, SessionCreated) and not ack.duplicate:
                # The owner of a session created here is known at once (before the projection has it).
                self.access.remember(SessionRef(event.session_id, event.user_id, last_seq=ack.seq))
            if self.quota is not None and not ack.duplicate:
                self.quota.observe(event)  # counted now, not when the bridge echoes it back
            acks.append(ack)
        metrics.PUBLISH_SECONDS.observe(time.perf_counter() - started)
        return acks

    async def stored(self, seq: int) -> ChatEvent:
        """The event stored at ``seq`` (what a deduplicated publish had stored first)."""
        try:
            msg = await self.js.get_msg(CHAT_STREAM, seq=seq, direct=True)
            return codec.decode(msg.data, msg.subject)
        except (NatsError, TimeoutError, JsError, EventDecodeError) as exc:
            raise Unavailable(f"NATS: cannot read stored event {seq}: {exc}") from None
