"""A projection's replay from nothing: the whole stream read once, unfiltered, and what the
projection reads applied in big batches.

Most of a stream (~85 % in the benchmark) is ``generation.delta`` events, which no projection
reads (an answer's terminal event carries what its deltas built). A consumer filtered on the
projection's subjects would skip them on the server, but nats-server v2.15 delivers a consumer
with several filters of this stream 4x (one filter) to 190x (fourteen filters) slower than an
unfiltered one; so the replay reads every event and skips, by subject and before decoding, those
the projection does not read. A batch is applied while the next one is read.

Progress goes to a checkpoint row of its own (``store.replay_row``); the projection's checkpoint
stays 0 until the end, then moves to the target in one transaction. An interrupted replay leaves
checkpoint 0 beside that row: ``start`` (a live worker's entry) empties the tables before starting over.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from nats.js import JetStreamContext, api

from events import subjects
from events.streams import CHAT_STREAM
from projections import batch, store
from projections.projection import Projection
from services.pull import Pull

REPLAY_FROM = 10_000  # a live worker from nothing replays a stream this long (shorter: every event, in order)
CATCH_UP_FROM = 10_000  # a live worker of a filtered projection this far behind reads the backlog unfiltered
BATCH = 10000  # bigger than the live worker's: an answer's events meet in fewer batches, its row written fewer times
_WAIT_S = 1.0


@dataclass(slots=True)
class Replayed:
    positions: int  # stream sequences covered (the target)
    read: int = 0  # events delivered
    applied: int = 0  # events applied (dead letters included)
    seconds: float = 0.0
    last_seq: int = 0  # newest sequence applied, and its event's time (the checkpoint's)
    last_at: datetime | None = None


async def replay(
    js: JetStreamContext, conn: asyncpg.Connection, projection: Projection, target: int, progress=None
) -> Replayed:
    """Replay ``projection`` into its emptied tables up to ``target``; the caller holds its
    lock and its checkpoint is 0."""
    started = time.perf_counter()
    done = Replayed(positions=target)
    row = store.replay_row(projection.name)
    await conn.execute(
        "INSERT INTO projection_checkpoints (projection, last_stream_seq) VALUES ($1, 0)"
        " ON CONFLICT (projection) DO UPDATE SET last_stream_seq = 0",
        row,
    )
    if target:
        await _read(js, _Applying(conn, projection, row, done), target, progress, _reads(projection))
    async with conn.transaction():
        if await store.lock_checkpoint(conn, projection.name) != 0:
            raise batch.CheckpointMoved(f"checkpoint of {projection.name!r} moved during its replay")
        await store.save_checkpoint(conn, projection.name, target, done.last_at)
        await conn.execute("DELETE FROM projection_checkpoints WHERE projection = $1", row)
    if progress is not None:
        progress.update(max(0, target - progress.n))
    done.seconds = time.perf_counter() - started
    return done


async def start(
    js: JetStreamContext, conn: asyncpg.Connection, projection: Projection, last_seq: int, replay_from: int | None, log
) -> int:
    """A live worker at checkpoint 0 (it holds the projection's lock): the checkpoint its consumer
    starts from. An interrupted replay's partial tables are emptied first; a stream of at least
    ``replay_from`` events (None: never) is replayed, and the consumer goes on from its end."""
    if await store.replay_left(conn, projection.name):
        log.warning("a replay was interrupted; emptying its tables to start over")
        await store.reset(conn, projection)
    if replay_from is None or last_seq < replay_from:
        return 0
    done = await replay(js, conn, projection, last_seq)
    log.info("replayed", events=done.positions, applied=done.applied, seconds=round(done.seconds, 2))
    return done.positions


async def catch_up(
    js: JetStreamContext, conn: asyncpg.Connection, projection: Projection, checkpoint: int, target: int, log
) -> int:
    """A live worker of a filtered projection, ``target - checkpoint`` events behind (after a stop,
    a database outage): the backlog read as a replay reads, unfiltered, and applied as the worker
    applies (its checkpoint moves with each batch); the checkpoint reached. nats-server drains a
    consumer with several filters of this stream at ~1 ms of its CPU per event delivered, so a
    long backlog through the worker's own consumer would keep a core of it busy for minutes.
    ``batch.CheckpointMoved``: a rebuild reset the projection meanwhile."""
    started = time.perf_counter()
    done = Replayed(positions=target - checkpoint)
    applying = _Applying(conn, projection, None, done, checkpoint)
    await _read(js, applying, target, None, _reads(projection), first=checkpoint + 1)
    log.info(
        "caught up unfiltered",
        events=done.read,
        applied=done.applied,
        checkpoint=applying.checkpoint,
        seconds=round(time.perf_counter() - started, 2),
    )
    return applying.checkpoint


async def _read(js: JetStreamContext, applying: _Applying, target: int, progress, reads, first: int = 1) -> None:
    """Read the stream from ``first`` up to ``target``, applying what ``reads``."""
    info = await js.add_consumer(
        CHAT_STREAM,
        api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE if first > 1 else api.DeliverPolicy.ALL,
            opt_start_seq=first if first > 1 else None,
            ack_policy=api.AckPolicy.NONE,  # nothing to redeliver: an interrupted replay starts over
            inactive_threshold=60.0,
            mem_storage=True,
        ),
    )
    pull = await Pull(js._nc, CHAT_STREAM, info.name).start()
    todo: list[batch.Envelope] = []
    try:
        # One batch applied while the next is read: PostgreSQL's work overlaps this process's.
        while True:
            msgs = await pull.fetch(BATCH, _WAIT_S)
            if len(msgs) == BATCH:
                await pull.ask(BATCH)  # the next batch comes in while this one is applied
            seq, pending = 0, -1
            for msg in msgs:
                seq, pending = _position(msg)
                if seq > target:
                    break
                applying.done.read += 1
                if reads is None or reads(msg.subject):
                    todo.append(batch.Envelope(seq, msg.subject, msg.data))
            if len(todo) >= BATCH or (todo and (not msgs or seq >= target or pending == 0)):
                await applying.done_with()
                applying.start(todo)
                todo = []
                if progress is not None:
                    progress.update(max(0, min(seq, target) - progress.n))
            if msgs and (seq >= target or pending == 0):
                break
            if not msgs and not (await pull.consumer_info()).num_pending:
                break
        await applying.done_with()
        if todo:
            await applying.apply(todo)
    finally:
        await applying.done_with(cancel=True)
        await pull.stop()
        try:
            await js.delete_consumer(CHAT_STREAM, info.name)
        except Exception:  # gone with the connection: its inactivity threshold removes it
            pass


class _Applying:
    """Batches applied one after another. ``row``: a replay's own progress row; None: the
    projection's checkpoint, expected to be ``checkpoint`` (a live worker's catch-up)."""

    def __init__(
        self, conn: asyncpg.Connection, projection: Projection, row: str | None, done: Replayed, checkpoint: int = 0
    ) -> None:
        self.conn, self.projection, self.row, self.done = conn, projection, row, done
        self.checkpoint = checkpoint
        self._task: asyncio.Task | None = None

    def start(self, envelopes: list[batch.Envelope]) -> None:
        self._task = asyncio.create_task(self.apply(envelopes))

    async def done_with(self, *, cancel: bool = False) -> None:
        """Wait for the batch started last (its error raised here); ``cancel``: stop it instead."""
        task, self._task = self._task, None
        if task is None:
            return
        if cancel:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        else:
            await task

    async def apply(self, envelopes: list[batch.Envelope]) -> None:
        if self.row is None:
            outcome = await batch.apply(self.conn, self.projection, envelopes, expect=self.checkpoint)
            self.checkpoint = outcome.checkpoint
        else:
            outcome = await batch.apply(self.conn, self.projection, envelopes, checkpoint_of=self.row)
        self.done.applied += outcome.applied + len(outcome.dead)
        top = max((e.seq for e in envelopes if e.seq not in outcome.dead), default=0)
        if top > self.done.last_seq:
            self.done.last_seq, self.done.last_at = top, outcome.last_at


def _reads(projection: Projection):
    """Which subjects a filtered projection reads (None: all). Filtered here, not by the consumer:
    nats-server delivers a consumer with several filters of this stream at ~1k events/s."""
    return subjects.matcher(projection.filter_subjects) if projection.filtered else None


def _position(msg) -> tuple[int, int]:
    """(stream sequence, messages still pending) from the ack subject
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``."""
    tokens = msg.reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[8])
    meta = msg.metadata
    return meta.sequence.stream, meta.num_pending
