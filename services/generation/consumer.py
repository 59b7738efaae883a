"""The work queue: one durable pull consumer (``generation``) on every prompt event, shared by all
workers. A worker fetches one prompt per free slot, so idle workers get the next prompts.

While an answer streams, the prompt is kept alive with in-progress acks; it is acked once the
answer's terminal event is stored. A worker that dies leaves its prompt unacked: after the ack wait
another worker gets it (and emits a restart). Redeliveries back off (the consumer's ``backoff``);
poison prompts are terminated and logged, never retried.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from events import codec, subjects
from events.streams import CHAT_STREAM
from services import bus, logs
from services.errors import PullError
from services.generation import admission, fairness
from services.generation.errors import PoisonMessage
from services.generation.publisher import PublishError
from services.generation.responder import Responder
from services.pull import Pull
from services.settings import Settings

log = logs.get("generation.consumer")

DURABLE = "generation"
# Published by the server when a prompt used up its deliveries; one worker (queue group) answers it.
GIVEN_UP = f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{CHAT_STREAM}.{DURABLE}"
FETCH_WAIT_S = 1.0  # a fetch's long poll; also how long a stop may wait for it
MAX_BACKOFF_S = 300.0
LOOKAHEAD = 4  # fetched, not yet startable prompts a worker may hold, per slot


def backoff(settings: Settings) -> list[float] | None:
    """Ack waits per delivery: the ack wait, then doubling (NATS wants fewer than max_deliver)."""
    steps = [
        min(settings.ack_wait_s * 2**i, max(MAX_BACKOFF_S, settings.ack_wait_s))
        for i in range(settings.max_deliver - 1)
    ]
    return steps or None


def consumer_config(settings: Settings) -> api.ConsumerConfig:
    return api.ConsumerConfig(
        name=DURABLE,
        durable_name=DURABLE,
        description="Parley generation workers: every prompt, answered once",
        filter_subject=subjects.PROMPTS,
        deliver_policy=api.DeliverPolicy.ALL,
        ack_policy=api.AckPolicy.EXPLICIT,
        ack_wait=settings.ack_wait_s,
        max_deliver=settings.max_deliver,
        backoff=backoff(settings),
        max_ack_pending=-1,
    )


async def ensure(js: JetStreamContext, settings: Settings) -> None:
    """Create the consumer, or bring its settings up to date."""
    await js.add_consumer(CHAT_STREAM, consumer_config(settings))


def nak_delay(num_delivered: int) -> float:
    return min(30.0, 0.5 * 2 ** max(0, num_delivered - 1))


class Consumer:
    def __init__(self, js: JetStreamContext, responder: Responder, settings: Settings) -> None:
        self.js, self.responder, self.settings = js, responder, settings
        slots = settings.generation_concurrency
        # Which fetched prompt starts next (services/generation/fairness.py). Prompts that may not
        # start yet (their user is at its share) wait here, up to LOOKAHEAD per slot, so a burst of
        # one user does not hide the next user's prompt behind it in the stream.
        share = fairness.share(slots, settings.generation_user_share)
        self.fair = fairness.Fairness(slots, share, lookahead=max(16, LOOKAHEAD * slots))
        self.held: dict[int, tuple[Msg, asyncio.Task]] = {}  # fetched, not started: (msg, its pulse)
        self._keys = itertools.count()
        self._wake = asyncio.Event()  # replaced on every change: waiters take the current one
        self.tasks: set[asyncio.Task] = set()
        self.stopping = asyncio.Event()
        self.pulse_s = max(0.1, settings.ack_wait_s / 3)
        self._loop_task: asyncio.Task | None = None
        self.sub: Pull | None = None  # the prompt queue, once started

    async def start(self) -> Consumer:
        await ensure(self.js, self.settings)
        # Prompts come by callback on one inbox (services.pull): nats-py's fetch took each through
        # a task of its own inside wait_for (a timer, a uuid4, three loop hops before the worker saw it).
        self.sub = await Pull(self.responder.nc, CHAT_STREAM, DURABLE).start()
        self.advisories = await self.responder.nc.subscribe(GIVEN_UP, queue="parley-generation", cb=self._on_given_up)
        self._loop_task = asyncio.create_task(self._fetch_loop(), name="generation-fetch")
        return self

    def _changed(self) -> None:
        """A slot or a session came free, or a prompt arrived: start what may start, wake waiters."""
        wake, self._wake = self._wake, asyncio.Event()
        wake.set()
        if self.stopping.is_set():
            return
        while (key := self.fair.next()) is not None:
            msg, pulse = self.held.pop(key)
            task = asyncio.create_task(self._process(key, msg, pulse))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def _fetch_loop(self) -> None:
        backlog = 0  # prompts the server said were waiting after the last one fetched
        while not self.stopping.is_set():
            wake = self._wake
            room = self.fair.room()
            if room <= 0:
                await wake.wait()
                continue
            # Idle: wait for one prompt. Busy: take what the server said waits, up to the room
            # (admission.py).
            want = admission.batch_size(room, backlog)
            wait = admission.BURST_WAIT_S if want > 1 else FETCH_WAIT_S
            try:
                msgs = await self.sub.fetch(want, wait)
            except Exception as exc:  # NATS reconnecting, consumer deleted: keep trying
                log.warning("fetch failed; retrying", error=repr(exc))
                await asyncio.sleep(0.5)
                if isinstance(exc, PullError):  # the consumer is gone, or its stream: make it again
                    await self._rebind()
                continue
            if not msgs:
                backlog = 0
                continue
            for msg in msgs:
                if self.stopping.is_set():  # fetched while stopping: hand it straight back
                    await msg.nak()
                    continue
                key = next(self._keys)
                self.held[key] = (msg, asyncio.create_task(self._pulse(msg)))  # kept alive while it waits
                self.fair.add(key, _prompt_of(msg, key))
            backlog = _pending_after(msgs[-1]) if msgs else 0
            self._changed()

    @asynccontextmanager
    async def _idle(self, key: int) -> AsyncIterator[None]:
        """While an answer waits for an earlier one of its session (on another worker), its slot
        serves others; afterwards it takes a slot again, before any new prompt does."""
        self.fair.pause(key)
        self._changed()
        try:
            yield
        finally:
            while True:
                wake = self._wake
                if self.fair.resume(key):
                    break
                await wake.wait()

    async def _rebind(self) -> None:
        try:
            await ensure(self.js, self.settings)
        except Exception as exc:
            log.warning("consumer re-creation failed", error=repr(exc))

    async def _pulse(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.pulse_s)
            try:
                await msg.in_progress()
            except Exception as exc:  # a missed pulse is survivable; the next one may go through
                log.warning("in-progress ack failed", error=repr(exc))

    async def _process(self, key: int, msg: Msg, pulse: asyncio.Task) -> None:
        try:
            await self.responder.handle(msg, idle=lambda: self._idle(key))
        except PoisonMessage as exc:
            log.error("poison prompt terminated", subject=msg.subject, stream_seq=_seq(msg), error=str(exc))
            await _quietly(msg.term())
        except asyncio.CancelledError:
            # Stopping with the answer unfinished: release it to another worker now.
            await _quietly(msg.nak())
            raise
        except PublishError as exc:
            delay = nak_delay(_delivered(msg))
            log.error("answer not stored; redelivering later", stream_seq=_seq(msg), error=str(exc), in_s=delay)
            await _quietly(msg.nak(delay=delay))
        except Exception:
            delay = nak_delay(_delivered(msg))
            log.exception("answer crashed; redelivering later", stream_seq=_seq(msg), in_s=delay)
            await _quietly(msg.nak(delay=delay))
        else:
            await _quietly(msg.ack())
        finally:
            pulse.cancel()
            self.fair.finish(key)
            self._changed()

    async def _on_given_up(self, msg: Msg) -> None:
        """A prompt ran out of deliveries (its workers kept dying or failing to store events):
        end its answer as failed, so no client waits forever."""
        try:
            advisory = json.loads(msg.data)
            seq, deliveries = int(advisory["stream_seq"]), int(advisory.get("deliveries") or 0)
            stored = await self.js.get_msg(CHAT_STREAM, seq)
            await self.responder.give_up(stored.data, deliveries, stored.subject)
        except Exception:
            log.exception("could not end a given-up prompt", advisory=msg.data[:500].decode(errors="replace"))

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop fetching; give answers in flight ``grace_s`` to finish, then release them."""
        self.stopping.set()
        self._changed()  # wakes the fetch loop
        if getattr(self, "advisories", None) is not None:
            await _quietly(self.advisories.unsubscribe())
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        for key, (msg, pulse) in list(self.held.items()):  # fetched, never started: to another worker now
            pulse.cancel()
            self.fair.finish(key)
            await _quietly(msg.nak())
        self.held.clear()
        if self.sub is not None:
            for msg in self.sub.buffer:  # delivered after the last fetch: to another worker too
                await _quietly(msg.nak())
            self.sub.buffer.clear()
            await _quietly(self.sub.stop())
        if self.tasks:
            log.info("finishing answers in flight", count=len(self.tasks), grace_s=grace_s)
            _, pending = await asyncio.wait(set(self.tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if pending:
                log.info("released unfinished answers to other workers", count=len(pending))


def _prompt_of(msg: Msg, key: int) -> fairness.Prompt:
    """Whose prompt and which session; an undecodable one gets a session of its own (the
    responder terminates it as poison)."""
    try:
        event = codec.decode(msg.data, msg.subject)
        return fairness.Prompt(event.user_id, event.session_id)
    except Exception:
        return fairness.Prompt("", f"undecodable-{key}")


def _pending_after(msg: Msg) -> int:
    try:
        return bus.delivery(msg)[2]
    except Exception:
        return 0


def _seq(msg: Msg) -> int | None:
    try:
        return bus.delivery(msg)[0]
    except Exception:
        return None


def _delivered(msg: Msg) -> int:
    try:
        return bus.delivery(msg)[1]
    except Exception:
        return 1


async def _quietly(coro) -> None:
    try:
        await coro
    except Exception as exc:  # an ack lost to a closed connection: the ack wait redelivers it
        log.warning("acknowledgement failed", error=repr(exc))
