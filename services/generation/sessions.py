"""Each session's ``History``, kept current in the worker, so a prompt's context costs no JetStream
API call when its session was seen before.

One ordered push consumer per worker follows the context subjects of every session (the
``CONTEXT_TYPES``; never deltas) from the moment the worker starts. A session created meanwhile
is followed from its ``session.created`` (its first event): never loaded. Any other session met
for the first time is loaded once with ``context.load``; events the feed delivers while that load
runs are held and applied after it, so none falls between the two (the feed began before the
load, so anything it delivered earlier is also in the load). A prompt's history is ready when the feed has passed
the prompt's own sequence. If the feed lags too long, the answer falls back to a direct load.
Bounded: least recently used sessions are dropped and loaded again when needed.

``settled`` is what an answer reads: the history once the session's earlier answers ended.
"""

from __future__ import annotations

import asyncio
import itertools
from collections import OrderedDict
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from datetime import timedelta

from msgspec.structs import replace
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from events import codec, subjects
from events.errors import EventDecodeError
from events.schema import ChatEvent, SessionCreated, utcnow
from events.streams import CHAT_STREAM
from services import bus, logs
from services.generation import context
from services.generation.cancels import Cancel

log = logs.get("generation.sessions")

CAPACITY = 2000  # sessions kept; one holds its messages' text, so this bounds memory
FEED_WAIT_S = 2.0  # how long a prompt waits for the feed to reach it before loading directly


class _Loading:
    """A session being loaded: the feed's events for it, held until the load is in."""

    def __init__(self) -> None:
        self.held: list[tuple[int, ChatEvent]] = []
        self.done = asyncio.Event()


class Sessions:
    def __init__(self, js: JetStreamContext, capacity: int = CAPACITY) -> None:
        self.js, self.capacity = js, capacity
        self._known: OrderedDict[str, context.History | _Loading] = OrderedDict()
        self._changed: dict[str, asyncio.Event] = {}  # sessions someone waits on
        self._moved = asyncio.Event()
        self.position = 0  # newest stream sequence the feed delivered
        self._sub = None
        self.loads = 0  # direct loads (first sight of a session, or a lagging feed)

    async def start(self) -> Sessions:
        config = api.ConsumerConfig(filter_subjects=[subjects.of_type(t) for t in context.CONTEXT_TYPES])
        self._sub = await self.js.subscribe(
            "",
            stream=CHAT_STREAM,
            cb=self._on_event,
            ordered_consumer=True,
            deliver_policy=api.DeliverPolicy.NEW,
            idle_heartbeat=2.0,  # lets the ordered consumer notice a lost consumer and recreate it
            config=config,
        )
        return self

    async def stop(self) -> None:
        if self._sub is not None:
            try:
                await self._sub.unsubscribe()
            except Exception:  # the connection may be closed already
                pass
            self._sub = None

    # -- the feed ------------------------------------------------------------------------------------

    async def _on_event(self, msg: Msg) -> None:
        try:
            seq = bus.sequences(msg)[0]  # from the ack subject: nats-py's metadata builds four objects
        except Exception:  # not a stream message (a heartbeat is handled by nats-py)
            return
        try:
            event = codec.decode(msg.data, msg.subject)
        except EventDecodeError:
            event = None  # not this reader's to judge; its sequence still counts
        if event is not None:
            self._apply(event.session_id, seq, event)
        self.position = max(self.position, seq)
        self._moved.set()
        self._moved = asyncio.Event()

    def _apply(self, sid: str, seq: int, event: ChatEvent) -> None:
        known = self._known.get(sid)
        if known is None and isinstance(event, SessionCreated):
            # A session's first event (its id is new, minted by the edge or an import): the feed
            # has seen all of it, so the copy starts here and its first prompt needs no load.
            self._known[sid] = context.fold(sid, [(seq, event)])
            self._bound()
        elif isinstance(known, _Loading):
            known.held.append((seq, event))
        elif known is not None and seq > known.last_seq:
            self._known[sid] = context.compact(replace(context.evolve(known, event), last_seq=seq))
            waiter = self._changed.pop(sid, None)
            if waiter is not None:
                waiter.set()

    # -- reading -------------------------------------------------------------------------------------

    async def history(self, sid: str, at_least: int, answer_id: str | None = None) -> context.History:
        """The session's history, holding every event up to stream sequence ``at_least`` (and
        ``answer_id``'s request: a compacted copy without it is passed over for a full load)."""
        if self._sub is None:  # not started: no feed to keep a copy current
            return context.fold(sid, await context.load(self.js, sid))
        known = self._known.get(sid)
        if isinstance(known, _Loading):
            await known.done.wait()
            known = self._known.get(sid)
        if not isinstance(known, context.History):
            return await self._load(sid)  # holds everything stored so far, not compacted
        self._known.move_to_end(sid)
        if max(known.last_seq, self.position) >= at_least or await self._reach(at_least):
            current = self._known.get(sid, known)
            if isinstance(current, context.History) and (answer_id is None or context.covers(current, answer_id)):
                return current
        self.loads += 1
        return context.fold(sid, await context.load(self.js, sid))  # the feed lags, or an old prompt

    async def _reach(self, seq: int) -> bool:
        """Wait until the feed delivered ``seq`` (True), or give up after ``FEED_WAIT_S``."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + FEED_WAIT_S
        while self.position < seq:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return False
            try:
                # Not wait_for: in Python 3.11 it runs the wait in a task of its own, one more loop
                # hop on the idle path when the prompt comes before the feed has it.
                async with asyncio.timeout(remaining):
                    await self._moved.wait()
            except TimeoutError:
                return False
        return True

    async def _load(self, sid: str) -> context.History:
        loading = _Loading()
        self._known[sid] = loading
        try:
            self.loads += 1
            history = context.fold(sid, await context.load(self.js, sid))
            for seq, event in loading.held:
                if seq > history.last_seq:
                    history = replace(context.evolve(history, event), last_seq=seq)
            self._known[sid] = context.compact(history)
            self._bound()
            return history
        except BaseException:
            self._known.pop(sid, None)
            raise
        finally:
            loading.done.set()

    def _bound(self) -> None:
        """Drop the least recently used sessions beyond the capacity; one being loaded stays (its
        load holds the feed's events for it)."""
        excess = len(self._known) - self.capacity
        if excess > 0:
            oldest = (sid for sid, v in self._known.items() if not isinstance(v, _Loading))
            for sid in list(itertools.islice(oldest, excess)):
                del self._known[sid]

    async def settled(
        self,
        sid: str,
        seq: int,
        answer_id: str,
        cancel: Cancel,
        limit_s: float,
        idle: Callable[[], AbstractAsyncContextManager] | None = None,
        bound=log,
    ) -> context.History:
        """The history up to the prompt (``seq``) at least, once the answers requested before
        ``answer_id`` ended (at most ``limit_s``; a cancel ends the wait), so this answer's context
        holds them (a quick second message sees the first answer). While waiting, ``idle()`` is
        held: the consumer lends the answer's slot to other prompts."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit_s
        since = utcnow() - timedelta(seconds=limit_s)
        async with AsyncExitStack() as lent:
            while True:
                history = await self.history(sid, seq, answer_id)
                waiting = context.unfinished_before(history, answer_id, since)
                if not waiting or cancel.requested:
                    return history
                if loop.time() >= deadline:
                    bound.warning("earlier answers still unfinished; answering without them", waiting=waiting)
                    return history
                bound.info("waiting for earlier answers", waiting=waiting)
                if idle is not None:
                    await lent.enter_async_context(idle())
                    idle = None  # lent once; taken back when this returns
                waiter = asyncio.create_task(self.changed(sid, history.last_seq))
                stopper = asyncio.create_task(cancel.event.wait())
                await asyncio.wait(
                    {waiter, stopper}, timeout=min(1.0, deadline - loop.time()), return_when="FIRST_COMPLETED"
                )
                waiter.cancel()
                stopper.cancel()

    async def changed(self, sid: str, after_seq: int) -> None:
        """Wait until the session holds an event after ``after_seq`` (callers bound the wait)."""
        known = self._known.get(sid)
        if isinstance(known, context.History) and known.last_seq > after_seq:
            return
        await self._changed.setdefault(sid, asyncio.Event()).wait()
