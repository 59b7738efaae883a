"""A projection's replay from nothing that does not apply the token deltas of ended answers.

Most of a stream (~85 % in the benchmark) is ``generation.delta`` events of answers that ended
later, and an answer's terminal event carries what its deltas built (text, reasoning, chunk and
token counts): folded onto the answer it gives the same row with or without the deltas of its
own attempt (what the delta sweeper relies on too: tests/test_projection_rebuild.py).

So the replay reads the stream in order (one consumer on everything: nats-server v2.15 delivers
a filtered consumer of this stream 4x (one filter) to 190x (fourteen filters) slower) and applies
every event but the deltas, which it decodes and holds back per answer. At an answer's end its held deltas are dropped when they
are all of the end's attempt; else (a stale worker's end after a takeover, an end before its
attempt started) they go into the end's batch, applied in order before it. What is held at the
target (answers still open, deltas after an end) is applied last, in order.

Applying held deltas after later events of their answer changes nothing: those are a newer
attempt's start (an older attempt's deltas are then ignored, as in order) or nothing that reads
the deltas. Dead letters stay those of a full replay: an undecodable delta is applied in order, a
delta stored before its answer existed is refused as in order, and a dropped group is checked
after its batch (its answer is an answer of that session, created before the deltas); if the
check fails, the replay gives up (``str``: the caller replays every event).

Progress goes to a checkpoint row of its own (``store.replay_row``); the projection's checkpoint
stays 0 until the end, then moves to the target in one transaction. An interrupted replay leaves
checkpoint 0 beside that row: ``start`` (a live worker's entry) empties the tables before starting over.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from dataclasses import dataclass
from datetime import datetime

import asyncpg
from nats.js import JetStreamContext, api

from events.errors import EventDecodeError
from events.schema import TERMINAL_TYPES, GenerationChunk, GenerationDelta, type_tag
from events.streams import CHAT_STREAM
from projections import batch, chat, store
from projections.errors import Unappliable
from projections.projection import Projection
from services.pull import Pull

REPLAY_FROM = 10_000  # a live worker from nothing replays a stream this long (shorter: every event, in order)
BATCH = 10000  # bigger than the live worker's: an answer's events meet in fewer batches, its row written fewer times
_WAIT_S = 1.0
_DELTA = f".{type_tag(GenerationDelta)}"
_ENDS = tuple(f".{type_tag(t)}" for t in TERMINAL_TYPES)


@dataclass(slots=True)
class Replayed:
    positions: int  # stream sequences covered (the target)
    read: int = 0  # events delivered
    applied: int = 0  # events applied (dead letters included)
    seconds: float = 0.0
    last_seq: int = 0  # the last event applied and not a dead letter, and its time
    last_at: datetime | None = None


class _GiveUp(Exception):
    """Dropping some deltas could differ from a full replay; the reason."""


@dataclass(slots=True)
class _Dropped:
    session_id: str
    message_id: str
    first_seq: int


async def replay(
    js: JetStreamContext, conn: asyncpg.Connection, projection: Projection, target: int, progress=None
) -> Replayed | str:
    """Replay ``projection`` into its emptied tables up to ``target``; the caller holds its
    lock and its checkpoint is 0. A ``str``: why it gave up (tables emptied again, checkpoint 0:
    the caller replays every event)."""
    started = time.perf_counter()
    done = Replayed(positions=target)
    row = store.replay_row(projection.name)
    await conn.execute(
        "INSERT INTO projection_checkpoints (projection, last_stream_seq) VALUES ($1, 0)"
        " ON CONFLICT (projection) DO UPDATE SET last_stream_seq = 0",
        row,
    )
    applying = _Applying(conn, _in_place(projection), row, done)
    try:
        if target:
            held = await _read(js, applying, target, progress, _reads(projection))
            rest = sorted((env for group in held.values() for env, _ in group), key=lambda e: e.seq)
            for i in range(0, len(rest), BATCH):
                await applying.apply(rest[i : i + BATCH], [])
    except _GiveUp as exc:
        await store.reset(conn, projection)
        return str(exc)
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
    ``replay_from`` events (None: never) is replayed, and the consumer goes on from its end (or
    from 0 when the replay gave up: every event is then applied in order)."""
    if await store.replay_left(conn, projection.name):
        log.warning("a replay was interrupted; emptying its tables to start over")
        await store.reset(conn, projection)
    if replay_from is None or last_seq < replay_from:
        return 0
    done = await replay(js, conn, projection, last_seq)
    if isinstance(done, str):
        log.warning("replaying every event", reason=done)
        return 0
    log.info("replayed", events=done.positions, applied=done.applied, seconds=round(done.seconds, 2))
    return done.positions


async def _read(js: JetStreamContext, applying: _Applying, target: int, progress, reads) -> dict:
    """Read the stream up to ``target`` applying what ``reads`` but the held deltas; what is still held."""
    info = await js.add_consumer(
        CHAT_STREAM,
        api.ConsumerConfig(
            deliver_policy=api.DeliverPolicy.ALL,
            ack_policy=api.AckPolicy.NONE,  # nothing to redeliver: an interrupted replay starts over
            inactive_threshold=60.0,
            mem_storage=True,
        ),
    )
    pull = await Pull(js._nc, CHAT_STREAM, info.name).start()
    held: dict[tuple[str, str], list[tuple[batch.Envelope, int]]] = {}
    todo: list[batch.Envelope] = []
    dropped: list[_Dropped] = []
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
                if reads is not None and not reads(msg.subject):
                    continue
                env = batch.Envelope(seq, msg.subject, msg.data)
                if msg.subject.endswith(_DELTA):
                    try:
                        delta = batch.decode(env)
                    except EventDecodeError:
                        todo.append(env)  # a dead letter, in order
                        continue
                    held.setdefault((delta.session_id, delta.message_id), []).append((env, delta.attempt))
                    continue
                todo.append(env)
                if msg.subject.endswith(_ENDS):
                    try:
                        end = batch.decode(env)
                    except EventDecodeError:
                        continue
                    group = held.pop((end.session_id, end.message_id), None)
                    if not group:
                        continue
                    if all(attempt == end.attempt for _, attempt in group):
                        dropped.append(_Dropped(end.session_id, end.message_id, group[0][0].seq))
                    else:  # the end folds onto what another attempt's deltas built: apply them first
                        todo += [e for e, _ in group]
            if len(todo) >= BATCH or (todo and (not msgs or seq >= target or pending == 0)):
                await applying.done_with()
                applying.start(todo, dropped)
                todo, dropped = [], []
                if progress is not None:
                    progress.update(max(0, min(seq, target) - progress.n))
            if msgs and (seq >= target or pending == 0):
                break
            if not msgs and not (await pull.consumer_info()).num_pending:
                break
        await applying.done_with()
        if todo:
            await applying.apply(todo, dropped)
        return held
    finally:
        await applying.done_with(cancel=True)
        await pull.stop()
        try:
            await js.delete_consumer(CHAT_STREAM, info.name)
        except Exception:  # gone with the connection: its inactivity threshold removes it
            pass


class _Applying:
    def __init__(self, conn: asyncpg.Connection, projection: Projection, row: str, done: Replayed) -> None:
        self.conn, self.projection, self.row, self.done = conn, projection, row, done
        self._task: asyncio.Task | None = None

    def start(self, envelopes: list[batch.Envelope], dropped: list[_Dropped]) -> None:
        self._task = asyncio.create_task(self.apply(envelopes, dropped))

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

    async def apply(self, envelopes: list[batch.Envelope], dropped: list[_Dropped]) -> None:
        outcome = await batch.apply(self.conn, self.projection, envelopes, checkpoint_of=self.row)
        self.done.applied += outcome.applied + len(outcome.dead)
        top = max((e.seq for e in envelopes if e.seq not in outcome.dead), default=0)
        if top > self.done.last_seq:
            self.done.last_seq, self.done.last_at = top, outcome.last_at
        if dropped:
            await self._check(dropped)

    async def _check(self, dropped: list[_Dropped]) -> None:
        """Each dropped group belongs to an answer of its session created before it (else, in
        order, a delta would have been a dead letter)."""
        ids = {d.message_id: chat._safe_id(d.message_id) for d in dropped}
        rows = await self.conn.fetch(
            "SELECT id::text, session_id::text, role, created_seq FROM messages WHERE id = ANY($1::uuid[])",
            [i for i in ids.values() if i],
        )
        found = {r["id"]: r for r in rows}
        for d in dropped:
            r = found.get(ids[d.message_id] or "")
            if (
                r is None
                or r["role"] != "assistant"
                or r["session_id"] != chat._safe_id(d.session_id)
                or r["created_seq"] >= d.first_seq
            ):
                raise _GiveUp(f"the deltas of message {d.message_id!r} from sequence {d.first_seq} may not apply")


def _reads(projection: Projection):
    """Which subjects a filtered projection reads (None: all). Filtered here, not by the consumer:
    nats-server delivers a consumer with several filters of this stream at ~1k events/s."""
    if not projection.filtered:
        return None
    filters = [f.split(".") for f in projection.filter_subjects]

    def reads(subject: str) -> bool:
        tokens = subject.split(".")
        return any(_match(f, tokens) for f in filters)

    return reads


def _match(wanted: list[str], tokens: list[str]) -> bool:
    """NATS subject matching: ``*`` one token, ``>`` one or more at the end."""
    for i, w in enumerate(wanted):
        if w == ">":
            return len(tokens) > i
        if i >= len(tokens) or (w != "*" and w != tokens[i]):
            return False
    return len(tokens) == len(wanted)


def _position(msg) -> tuple[int, int]:
    """(stream sequence, messages still pending) from the ack subject
    ``$JS.ACK.<stream>.<consumer>.<delivered>.<stream seq>.<consumer seq>.<time>.<pending>``."""
    tokens = msg.reply.split(".")
    if len(tokens) == 9:
        return int(tokens[5]), int(tokens[8])
    meta = msg.metadata
    return meta.sequence.stream, meta.num_pending


def _in_place(projection: Projection) -> Projection:
    """A held delta is applied after later events: one stored before its answer was requested
    is refused as it would have been in order."""
    evolve = projection.evolve

    def in_place(rows, seq, event):
        if isinstance(event, GenerationChunk):
            mid = chat._safe_id(event.message_id)
            answer = rows.message(mid) if mid else None
            if answer is not None and seq < answer.created_seq:
                raise Unappliable(f"unknown message {mid}")
        return evolve(rows, seq, event)

    return dataclasses.replace(projection, evolve=in_place)
