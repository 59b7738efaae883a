"""JetStream to WebSockets: one subscription per edge process, fanned out in-process.

The bridge holds one ordered push consumer on ``parley.chat.>`` (DeliverPolicy NEW): every event
stored after start-up arrives here once, in stream order, with its stream sequence. Each event
becomes one encoded frame, offered to every socket of its session. Offering never waits: a
socket's queue is bounded, and a full one closes that socket (4008) instead of slowing the
others. Every edge process sees every event, so a socket gets the answers to messages sent
through any edge (no sticky sessions).

Typing indicators travel on core NATS (``parley.typing.<session>``) and are fanned out the
same way, to the session's other sockets.

Each message is handled as nats-py parses it (``inline``), not through the subscription's queue
and task: the handler never awaits, and this is the edge's one message per token.

After a reconnect the bridge subscribes again at once, from the sequence after the last event it
received (the ordered consumer would notice its consumer gone only after two missed heartbeats,
seconds later); an event both subscriptions deliver is passed on once, by its sequence.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Protocol

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from events import codec, subjects
from events.errors import EventDecodeError
from events.schema import ChatEvent, GenerationChunk, SessionDeleted, type_tag
from events.streams import CHAT_STREAM
from services import bus, inline, logs, tracing
from services.edge import frames, metrics
from services.edge.continuity import Continuity
from services.edge.outbox import Item

log = logs.get("edge.bridge")


class Subscriber(Protocol):
    """A socket as the bridge sees it."""

    session_id: str
    connection_id: str
    # Set on an llm-stream socket: only events of this answer.
    message_id: str | None

    def offer(self, item: Item) -> None: ...


class Bridge:
    def __init__(self, nc: Client, js: JetStreamContext, on_deleted: Callable[[str], None] = lambda _sid: None) -> None:
        self.nc = nc
        self.js = js
        self.on_deleted = on_deleted  # told of every deleted session (access drops its owner)
        # Told of every event but token chunks (the fair-use quota, the witness of sent messages).
        self.watchers: list[Callable[[ChatEvent], None]] = []
        self._sessions: dict[str, set[Subscriber]] = {}
        self._sub = None
        self._typing_sub = None
        self._relink: asyncio.Task | None = None
        self.last_seq = 0  # newest stream sequence received
        self._last_reply: str | None = None  # its ack subject: stored time and events pending after it
        self._linked = 0  # NATS reconnects when the subscription was (re)made
        self._relinked = False
        self._delivered = 0  # events fanned out, for sampling their delivery latency
        self.continuity = Continuity()  # no delta after a hole in the stream

    async def start(self) -> None:
        self._linked = self.nc.stats["reconnects"]
        self._sub = await self._subscribe(api.DeliverPolicy.NEW)
        self._typing_sub = await self.nc.subscribe(f"{subjects.TYPING_ROOT}.*", cb=self._on_typing)
        self._relink = asyncio.create_task(self._follow_reconnects())
        log.info("bridge subscribed", subject=subjects.ALL)

    async def _subscribe(self, policy: api.DeliverPolicy, start_seq: int | None = None):
        sub = await self.js.subscribe(
            subjects.ALL,
            stream=CHAT_STREAM,
            cb=self._on_event,
            ordered_consumer=True,
            config=api.ConsumerConfig(deliver_policy=policy, opt_start_seq=start_seq),
            # Heartbeats let the ordered consumer notice a lost consumer and recreate it from
            # the last sequence it delivered: no event is skipped.
            idle_heartbeat=2.0,
        )
        inline.handle_inline(sub._sub, self._take, metrics.ERRORS.labels("inline_handler").inc)
        return sub

    async def _follow_reconnects(self, every_s: float = 0.1) -> None:
        seen = self.nc.stats["reconnects"]
        while True:
            await asyncio.sleep(every_s)
            if self.nc.stats["reconnects"] == seen or not self.nc.is_connected:
                continue
            try:
                fresh = await self._subscribe(api.DeliverPolicy.BY_START_SEQUENCE, self.last_seq + 1)
            except Exception as exc:  # JetStream may still be recovering its streams: next round
                log.info("bridge cannot subscribe again yet", error=str(exc) or type(exc).__name__)
                continue
            seen = self._linked = self.nc.stats["reconnects"]
            self._last_reply, self._relinked = None, True  # caught up again once an event says so
            old, self._sub = self._sub, fresh
            log.info("bridge subscribed again after a reconnect", from_seq=self.last_seq + 1)
            with contextlib.suppress(Exception):  # its consumer may be gone with the old server
                await old.unsubscribe()

    async def stop(self) -> None:
        if self._relink is not None:
            self._relink.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._relink
        for sub in (self._sub, self._typing_sub):
            if sub is not None:
                try:
                    await sub.unsubscribe()
                except Exception:  # the connection may already be closed
                    pass

    def caught_up(self) -> bool:
        """Whether every event stored over ``CAUGHT_UP_S`` ago has reached this bridge, as far as
        it can tell: no reconnect since it subscribed, and its newest event had nothing pending
        after it or was stored less than ``CAUGHT_UP_S`` ago. False after a reconnect until an
        event shows it so (a safe answer: see services/edge/witness.py)."""
        if self._linked != self.nc.stats["reconnects"] or not self.nc.is_connected:
            return False
        if self._last_reply is None:
            return not self._relinked  # subscribed at the stream's end (NEW): nothing was pending
        return is_current(self._last_reply, time.time_ns())

    # -- sockets ----------------------------------------------------------------------------------

    def register(self, subscriber: Subscriber) -> None:
        self._sessions.setdefault(subscriber.session_id, set()).add(subscriber)

    def unregister(self, subscriber: Subscriber) -> None:
        subs = self._sessions.get(subscriber.session_id)
        if subs is not None:
            subs.discard(subscriber)
            if not subs:
                del self._sessions[subscriber.session_id]

    def subscribers(self, session_id: str) -> int:
        return len(self._sessions.get(session_id, ()))

    # -- events -----------------------------------------------------------------------------------

    async def _on_event(self, msg: Msg) -> None:
        self._take(msg)  # only until handle_inline takes over (or if it cannot)

    def _take(self, msg: Msg) -> None:
        try:
            seq, _ = bus.sequences(msg)
        except Exception:  # not a JetStream message: nothing to place in order
            return
        if seq <= self.last_seq:
            return  # delivered already, by the subscription before a reconnect
        self.last_seq = seq
        self._last_reply = msg.reply
        try:
            event = codec.decode(msg.data, msg.subject)
        except EventDecodeError as exc:
            metrics.ERRORS.labels("undecodable_event").inc()
            log.warning("undecodable event", stream_seq=seq, subject=msg.subject, error=str(exc))
            return
        tracing.bridged(event, seq, msg)
        try:
            self.deliver(event, seq)
        except Exception:
            metrics.ERRORS.labels("fanout").inc()
            log.exception("fan-out failed", stream_seq=seq, session_id=event.session_id)

    def deliver(self, event: ChatEvent, seq: int) -> None:
        """Offer the event's frame to the session's sockets. Never awaits."""
        if isinstance(event, SessionDeleted):
            self.on_deleted(event.session_id)
        if not isinstance(event, GenerationChunk):  # one per token, and no watcher needs them
            for watch in self.watchers:
                watch(event)
        metrics.count_event(type_tag(type(event)))
        if not self.continuity.admit(event):
            metrics.DELTAS_HELD_BACK.inc()
            return
        subs = self._sessions.get(event.session_id)
        if not subs:
            return
        item = item_for(event, seq)
        for sub in list(subs):
            sub.offer(item)
        self._delivered += 1
        if self._delivered % metrics.DELIVERY_SAMPLE == 0:
            metrics.EVENT_DELIVERY.observe(max(0.0, time.time() - event.occurred_at.timestamp()))

    async def _on_typing(self, msg: Msg) -> None:
        try:
            indicator = codec.decode_typing(msg.data)
        except EventDecodeError:
            metrics.ERRORS.labels("undecodable_typing").inc()
            return
        subs = self._sessions.get(indicator.session_id)
        if not subs:
            return
        data = frames.to_bytes(
            frames.typing(indicator.session_id, indicator.user_id, indicator.typing, indicator.connection_id)
        )
        item = Item(data, kind=frames.TYPING)
        for sub in list(subs):
            # Not back to the socket that typed, and not to llm-stream sockets (one answer only).
            if sub.connection_id != indicator.connection_id and sub.message_id is None:
                sub.offer(item)


CAUGHT_UP_S = 1.0


def is_current(reply: str, now_ns: int) -> bool:
    """From a delivered event's ack subject (``bus.ack_tokens``): nothing was pending after it, or
    it was stored less than ``CAUGHT_UP_S`` ago. Another form (a domain): False."""
    tokens = bus.ack_tokens(reply)
    if tokens is None or not tokens[7].isdigit():
        return False
    return tokens[8] == "0" or now_ns - int(tokens[7]) < CAUGHT_UP_S * 1e9


def item_for(event: ChatEvent, seq: int) -> Item:
    if isinstance(event, GenerationChunk):  # one per token: straight to its frame (4.4 -> 1.9 us)
        return Item(
            frames.to_bytes(frames.token(event, seq)), seq=seq, message_id=event.message_id, kind=frames.MESSAGE_UPDATE
        )
    message_id = frames.message_id_of(event)
    frame = frames.frame_of(event, seq)
    return Item(
        frames.to_bytes(frame),
        seq=seq,
        message_id=message_id,
        kind=frames.kind(frame),
        terminal=frames.is_terminal(event),
        ends_session=isinstance(event, SessionDeleted),
    )
