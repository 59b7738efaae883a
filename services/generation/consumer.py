"""The work queue: one durable pull consumer (``generation``) on every prompt event, shared by all
workers. A worker fetches as many prompts as it has free slots (``admission``), so idle workers
get the next prompts.

While an answer streams, the prompt is kept alive with in-progress acks; it is acked once the
answer's terminal event is stored. A worker that dies leaves its prompt unacked: after the ack wait
another worker gets it (and emits a restart). Redeliveries back off (the consumer's ``backoff``);
poison prompts are terminated and logged, never retried.
"""

from __future__ import annotations

import asyncio
import json

import nats.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api
from nats.js.errors import FetchTimeoutError, NotFoundError

from events import subjects
from events.streams import CHAT_STREAM
from services import logs
from services.generation import admission
from services.generation.errors import PoisonMessage
from services.generation.publisher import PublishError
from services.generation.responder import Responder
from services.settings import Settings

log = logs.get("generation.consumer")

DURABLE = "generation"
# Published by the server when a prompt used up its deliveries; one worker (queue group) answers it.
GIVEN_UP = f"$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.{CHAT_STREAM}.{DURABLE}"
FETCH_WAIT_S = 1.0  # a fetch's long poll; also how long a stop may wait for it
MAX_BACKOFF_S = 300.0


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


async def ensure(js: JetStreamContext, settings: Settings) -> JetStreamContext.PullSubscription:
    """Create the consumer, or bring its settings up to date, and bind to it."""
    await js.add_consumer(CHAT_STREAM, consumer_config(settings))
    return await js.pull_subscribe_bind(durable=DURABLE, stream=CHAT_STREAM)


def nak_delay(num_delivered: int) -> float:
    return min(30.0, 0.5 * 2 ** max(0, num_delivered - 1))


class Consumer:
    def __init__(self, js: JetStreamContext, responder: Responder, settings: Settings) -> None:
        self.js, self.responder, self.settings = js, responder, settings
        self.slots = admission.Slots(settings.generation_concurrency)
        self.tasks: set[asyncio.Task] = set()
        self.stopping = asyncio.Event()
        self.pulse_s = max(0.1, settings.ack_wait_s / 3)
        self._loop_task: asyncio.Task | None = None

    async def start(self) -> Consumer:
        self.sub = await ensure(self.js, self.settings)
        self.advisories = await self.responder.nc.subscribe(GIVEN_UP, queue="parley-generation", cb=self._on_given_up)
        self._loop_task = asyncio.create_task(self._fetch_loop(), name="generation-fetch")
        return self

    async def _fetch_loop(self) -> None:
        backlog = False  # the last fetch brought prompts: more may be waiting
        while not self.stopping.is_set():
            free = await self.slots.wait_free()
            if self.stopping.is_set():
                return
            # Idle: wait for one prompt (nats-py holds a batch until it is full or the wait ends,
            # so a long poll asks for one). Busy: take what is there, up to the free slots.
            want, wait = (admission.batch_size(free), admission.BURST_WAIT_S) if backlog else (1, FETCH_WAIT_S)
            self.slots.take(want)
            try:
                msgs = await self.sub.fetch(want, timeout=wait)
            except (nats.errors.TimeoutError, FetchTimeoutError):
                self.slots.give_back(want)
                backlog = False
                continue
            except Exception as exc:  # NATS reconnecting, consumer deleted: keep trying
                self.slots.give_back(want)
                log.warning("fetch failed; retrying", error=repr(exc))
                await asyncio.sleep(0.5)
                if isinstance(exc, NotFoundError):
                    await self._rebind()
                continue
            self.slots.settle(want, len(msgs))
            backlog = True
            for msg in msgs:
                if self.stopping.is_set():  # fetched while stopping: hand it straight back
                    await msg.nak()
                    self.slots.release()
                    continue
                task = asyncio.create_task(self._process(msg))
                self.tasks.add(task)
                task.add_done_callback(self.tasks.discard)

    async def _rebind(self) -> None:
        try:
            self.sub = await ensure(self.js, self.settings)
        except Exception as exc:
            log.warning("consumer re-creation failed", error=repr(exc))

    async def _pulse(self, msg: Msg) -> None:
        while True:
            await asyncio.sleep(self.pulse_s)
            try:
                await msg.in_progress()
            except Exception as exc:  # a missed pulse is survivable; the next one may go through
                log.warning("in-progress ack failed", error=repr(exc))

    async def _process(self, msg: Msg) -> None:
        pulse = asyncio.create_task(self._pulse(msg))
        try:
            await self.responder.handle(msg)
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
            self.slots.release()

    async def _on_given_up(self, msg: Msg) -> None:
        """A prompt ran out of deliveries (its workers kept dying or failing to store events):
        end its answer as failed, so no client waits forever."""
        try:
            advisory = json.loads(msg.data)
            seq, deliveries = int(advisory["stream_seq"]), int(advisory.get("deliveries") or 0)
            stored = await self.js.get_msg(CHAT_STREAM, seq)
            await self.responder.give_up(stored.data, deliveries)
        except Exception:
            log.exception("could not end a given-up prompt", advisory=msg.data[:500].decode(errors="replace"))

    async def stop(self, grace_s: float = 5.0) -> None:
        """Stop fetching; give answers in flight ``grace_s`` to finish, then release them."""
        self.stopping.set()
        self.slots.wake()
        if getattr(self, "advisories", None) is not None:
            await _quietly(self.advisories.unsubscribe())
        if self._loop_task is not None:
            await asyncio.gather(self._loop_task, return_exceptions=True)
        if self.tasks:
            log.info("finishing answers in flight", count=len(self.tasks), grace_s=grace_s)
            _, pending = await asyncio.wait(set(self.tasks), timeout=grace_s)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
            if pending:
                log.info("released unfinished answers to other workers", count=len(pending))


def _seq(msg: Msg) -> int | None:
    try:
        return msg.metadata.sequence.stream
    except Exception:
        return None


def _delivered(msg: Msg) -> int:
    try:
        return msg.metadata.num_delivered
    except Exception:
        return 1


async def _quietly(coro) -> None:
    try:
        await coro
    except Exception as exc:  # an ack lost to a closed connection: the ack wait redelivers it
        log.warning("acknowledgement failed", error=repr(exc))
