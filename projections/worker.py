"""The projection worker: a durable pull consumer on the events its projection reads (token
deltas are not among them for any projection now), applied in batches.

Fetch up to N events, apply them in one transaction with the checkpoint, commit, then ack.
Token chunks (of old streams, or of a projection that reads deltas) alone wait up to the flush
interval for more (``gather``); any other event waits at most the settle interval, a few ms: a
send's events come close together, so an answer costs fewer transactions (each is a round of
Postgres work, a NOTIFY and an ack).

Postgres's checkpoint is the truth about progress; the consumer is flow control. On start (and
whenever something looks off) the worker re-syncs: if the consumer is not exactly at the
checkpoint (unacked events after a crash, a rebuild, a fresh database), it is recreated to
deliver from checkpoint + 1, so recovery does not wait for ack timeouts and no event can be
applied out of order. Consumer sequences must arrive without gaps; a gap (a lost delivery)
re-syncs too. Only one worker applies per projection (a Postgres advisory lock); others wait.
"""

from __future__ import annotations

import asyncio
import time

import asyncpg
import nats.errors
import nats.js.errors
from nats.aio.msg import Msg
from nats.js import JetStreamContext, api

from events.schema import GenerationChunk, GenerationDelta, type_tag
from events.streams import CHAT_STREAM
from projections import batch, replay, store
from projections.errors import ProjectionError
from projections.fault import Fault
from projections.projection import Projection
from services import logs
from services.bus import sequences
from services.pull import Pull

log = logs.get("projections.worker")

# Streaming content: token deltas (and the chunks of old streams), written at most every flush.
STREAMING = tuple(f".{type_tag(t)}" for t in (GenerationDelta, GenerationChunk))
ACK_WAIT_S = 120.0  # far above a batch's transaction time: a redelivery means the worker is gone


class CheckpointAhead(ProjectionError):
    """The checkpoint is past the stream's end: the stream was replaced under the read models."""


class Worker:
    """Applies one projection from one JetStream consumer to one Postgres connection."""

    def __init__(
        self,
        js: JetStreamContext,
        conn: asyncpg.Connection,
        *,
        projection: Projection,
        batch_size: int = 500,
        flush_s: float = 0.25,
        settle_s: float = 0.0,
        fault: Fault | None = None,
    ) -> None:
        self.js = js
        self.conn = conn
        self.projection = projection
        self.batch_size = batch_size
        self.flush_s = flush_s
        self.settle_s = min(settle_s, flush_s) if projection.awaited else flush_s
        self.fault = fault
        self.name = projection.name
        self.durable = projection.durable
        self.checkpoint = 0
        self.batches = 0  # non-empty batches committed by this process
        self.sub: Pull | None = None
        self.replay_from: int | None = replay.REPLAY_FROM  # None: never (the rebuild command replays itself)
        self.catch_up_from = replay.CATCH_UP_FROM  # a backlog this long is read unfiltered first (filtered projections)
        self._consumer_seq = 0
        self.cache = store.Cache()  # rows of earlier batches; emptied by sync and by a failed batch
        self.log = log.bind(projection=projection.name)

    # -- leadership ------------------------------------------------------------------------------

    async def acquire_lock(self, stop: asyncio.Event | None = None, *, wait: bool = True) -> bool:
        """Become the one worker of this projection (a session advisory lock on ``conn``)."""
        announced = False
        while True:
            if await self.conn.fetchval("SELECT pg_try_advisory_lock(hashtext($1))", self.projection.lock_key):
                return True
            if not wait or (stop is not None and stop.is_set()):
                return False
            if not announced:
                self.log.info("another worker applies this projection; standing by")
                announced = True
            await asyncio.sleep(1.0)

    # -- consumer --------------------------------------------------------------------------------

    def _filter(self) -> dict[str, object]:
        wanted = list(self.projection.filter_subjects)
        # one subject as filter_subject: the consumer stays as it was before filter_subjects existed
        return {"filter_subject": wanted[0]} if len(wanted) == 1 else {"filter_subjects": wanted}

    def _config(self, start: int) -> api.ConsumerConfig:
        return api.ConsumerConfig(
            durable_name=self.durable,
            description=f"Parley projection {self.name!r} (Postgres read models)",
            **self._filter(),
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE if start > 1 else api.DeliverPolicy.ALL,
            opt_start_seq=start if start > 1 else None,
            # One ack per batch: acking the batch's last event acks all before it (a per-event ack
            # was one protocol message per event for nothing: the checkpoint is the real record).
            ack_policy=api.AckPolicy.ALL,
            ack_wait=ACK_WAIT_S,
            max_deliver=-1,  # undecodable events are terminated by us, never retried forever
            max_ack_pending=max(1000, 2 * self.batch_size),
        )

    async def sync(self) -> None:
        """Read the checkpoint and make the consumer deliver exactly from checkpoint + 1."""
        if self.sub is not None:
            try:
                await self.sub.stop()
            except Exception:  # the old subscription may already be gone with its connection
                pass
            self.sub = None
        self.cache.clear()
        self.checkpoint = await store.read_checkpoint(self.conn, self.name)
        stream = await self.js.stream_info(CHAT_STREAM)
        if self.checkpoint > stream.state.last_seq:
            raise CheckpointAhead(
                f"checkpoint {self.checkpoint} of projection {self.name!r} is past the end of stream"
                f" {CHAT_STREAM} (last sequence {stream.state.last_seq}): the stream was replaced;"
                " run `parley projections rebuild`"
            )
        if not self.checkpoint:  # from nothing (a fresh database, a rebuild's reset): maybe a replay first
            self.checkpoint = await replay.start(
                self.js, self.conn, self.projection, stream.state.last_seq, self.replay_from, self.log
            )
        elif self.projection.filtered and stream.state.last_seq - self.checkpoint >= self.catch_up_from:
            try:
                self.checkpoint = await replay.catch_up(
                    self.js, self.conn, self.projection, self.checkpoint, stream.state.last_seq, self.log
                )
            except batch.CheckpointMoved as exc:
                self.log.info("re-syncing", reason=str(exc))
                return await self.sync()
        try:
            info = await self.js.consumer_info(CHAT_STREAM, self.durable)
        except nats.js.errors.NotFoundError:
            info = None
        in_sync = (
            info is not None
            and (info.config.filter_subjects or [info.config.filter_subject]) == list(self.projection.filter_subjects)
            and info.config.ack_policy == api.AckPolicy.ALL
            and (info.config.max_ack_pending or 0) >= self.batch_size
            and not info.num_ack_pending
            and info.delivered is not None
            and info.delivered.stream_seq == self.checkpoint
            and info.ack_floor is not None
            and info.ack_floor.stream_seq == self.checkpoint
        )
        if in_sync:
            self._consumer_seq = info.delivered.consumer_seq
        else:
            if info is not None:
                await self.js.delete_consumer(CHAT_STREAM, self.durable)
            await self.js.add_consumer(CHAT_STREAM, self._config(self.checkpoint + 1))
            self._consumer_seq = 0
        # A new inbox: whatever the old consumer still sends goes nowhere.
        self.sub = await Pull(self.js._nc, CHAT_STREAM, self.durable).start()
        self.log.info("consumer in sync", checkpoint=self.checkpoint, recreated=not in_sync)

    # -- batches ---------------------------------------------------------------------------------

    async def fetch(self) -> list[Msg]:
        assert self.sub is not None
        msgs = await self.sub.fetch(self.batch_size, self.flush_s)
        if len(msgs) == self.batch_size:  # behind: the next batch comes in while this one is applied
            await self.sub.ask(self.batch_size)
        return msgs

    async def step(self) -> batch.Outcome | None:
        """Fetch and apply one batch; None when there was nothing to fetch."""
        msgs = await self.fetch()
        if not msgs:
            # Idle: notice a rebuild that reset the checkpoint while no events arrived.
            if await store.read_checkpoint(self.conn, self.name) != self.checkpoint:
                self.log.info("checkpoint moved under this worker; re-syncing")
                await self.sync()
            elif self.projection.filtered:
                await self.skip_unread()
            return None
        msgs = await self.gather(msgs)
        envelopes = []
        for msg in msgs:
            stream_seq, consumer_seq = sequences(msg)
            if consumer_seq != self._consumer_seq + 1:
                # A delivery went missing (e.g. arrived after a fetch gave up): applying on would
                # reorder events. Start again from the checkpoint.
                self.log.warning("consumer sequence gap; re-syncing", expected=self._consumer_seq + 1, got=consumer_seq)
                await self.sync()
                return None
            self._consumer_seq = consumer_seq
            envelopes.append(batch.Envelope(stream_seq, msg.subject, msg.data))

        number = self.batches + 1

        def before_commit() -> None:
            if self.fault is not None:
                self.fault.hit("after_apply", number)

        try:
            outcome = await batch.apply(
                self.conn,
                self.projection,
                envelopes,
                expect=self.checkpoint,
                before_commit=before_commit,
                cache=self.cache,
            )
        except batch.CheckpointMoved as exc:
            self.log.info("re-syncing", reason=str(exc))
            await self.sync()
            return None
        except BaseException:  # committed or not: the rows are read again
            self.cache.clear()
            raise
        if outcome.applied or outcome.dead:
            self.batches += 1
            if self.fault is not None:
                self.fault.hit("after_commit", self.batches)
        # Dead events are recorded with the batch; the ack covers them too (no redelivery).
        await msgs[-1].ack()
        self.checkpoint = outcome.checkpoint
        return outcome

    async def gather(self, msgs: list[Msg]) -> list[Msg]:
        """Token deltas wait up to ``flush_s`` for more before they are applied (a streaming answer
        costs one transaction per flush, not one per few tokens); once any other event is in the
        batch, it waits at most ``settle_s`` from that event's arrival (read-your-writes waits no
        longer than that)."""
        deadline = self._settle(msgs, time.monotonic() + self.flush_s)
        while len(msgs) < self.batch_size:
            left = deadline - time.monotonic()
            if left <= 0:
                break
            assert self.sub is not None
            more = await self.sub.fetch(self.batch_size - len(msgs), left)
            if not more:
                break
            msgs += more
            deadline = self._settle(more, deadline)
        return msgs

    def _settle(self, arrived: list[Msg], deadline: float) -> float:
        """The batch's deadline once ``arrived`` is in it: at most ``settle_s`` from now if any of
        it is not a token delta (``settle_s`` <= ``flush_s``, so this only ever shortens it)."""
        if all(m.subject.endswith(STREAMING) for m in arrived):
            return deadline
        return min(deadline, time.monotonic() + self.settle_s)

    async def skip_unread(self) -> None:
        """Idle and filtered: move the checkpoint over the events this projection never reads (so
        lag, readiness and rebuild see it at the stream's end). The stream's last sequence is read
        first: if the consumer then has nothing pending or unacknowledged, every event it selects
        up to that sequence is applied, and resuming after it misses none."""
        assert self.sub is not None
        last = await stream_last_seq(self.js)
        if last <= self.checkpoint:
            return
        info = await self.sub.consumer_info()
        if info.num_pending or info.num_ack_pending:
            return
        async with self.conn.transaction():
            if await store.lock_checkpoint(self.conn, self.name) != self.checkpoint:
                return  # moved under this worker (a rebuild): the next idle step re-syncs
            await store.save_checkpoint(self.conn, self.name, last, None)
        self.checkpoint = last

    async def run(self, stop: asyncio.Event) -> None:
        """Apply batches until ``stop`` is set; the batch in hand is finished first."""
        await self.sync()
        while not stop.is_set():
            await self.step()


async def stream_last_seq(js: JetStreamContext) -> int:
    return (await js.stream_info(CHAT_STREAM)).state.last_seq


async def catch_up(worker: Worker, target: int, progress=None) -> tuple[int, float]:
    """Apply until the checkpoint reaches ``target``; (events applied, seconds)."""
    started = time.perf_counter()
    applied = 0
    while worker.checkpoint < target:
        before = worker.checkpoint
        outcome = await worker.step()
        if outcome is not None:
            applied += outcome.applied + len(outcome.dead)
            if progress is not None:
                progress.update(max(0, min(outcome.checkpoint, target) - min(before, target)))
        elif worker.sub is not None:
            # Idle below target: the last events were deleted from the stream; nothing more will come.
            info = await worker.sub.consumer_info()
            if not info.num_pending and not info.num_ack_pending:
                break
    return applied, time.perf_counter() - started
