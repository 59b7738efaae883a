"""Apply one batch of stored events to Postgres in ONE transaction with the checkpoint.

Events at or below the checkpoint are skipped (a redelivery after a crash). An event that cannot
be decoded or applied becomes a dead letter in the same transaction, and the batch goes on. If
the database refuses the batch's rows (a value too long, a constraint), the batch is redone
event by event under savepoints so exactly the refused events become dead letters.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import structlog

from events import codec, subjects
from events.errors import EventDecodeError, InvalidSubjectToken
from events.schema import ChatEvent, type_tag
from projections import store
from projections.chat import ids_of
from projections.errors import ProjectionError, Unappliable
from projections.projection import Projection, Rows
from services import logs

log = logs.get("projections.batch")

# Errors about the data of one event, as opposed to the database being unreachable.
_DATA_ERRORS = (asyncpg.DataError, asyncpg.IntegrityConstraintViolationError)


class CheckpointMoved(ProjectionError):
    """The checkpoint is not where this worker left it: a rebuild reset it, or another writer ran."""


@dataclass(frozen=True, slots=True)
class Envelope:
    """One stored event as delivered: stream sequence, subject, raw bytes."""

    seq: int
    subject: str
    data: bytes


@dataclass(slots=True)
class Outcome:
    checkpoint: int  # after the batch
    applied: int = 0  # events applied (including those that changed no row)
    skipped: int = 0  # at or below the checkpoint already
    dead: dict[int, str] = field(default_factory=dict)  # seq -> reason
    last_at: datetime | None = None  # occurred_at of the last event applied (not dead)


def decode(envelope: Envelope) -> ChatEvent:
    """The event in ``envelope``, checked against its subject; ``EventDecodeError`` says what is wrong."""
    event = codec.decode(envelope.data, envelope.subject)
    try:
        sid = subjects.session_of(envelope.subject)
    except InvalidSubjectToken as exc:
        raise EventDecodeError(str(exc)) from None
    expected = f"{subjects.ROOT}.{sid}.{type_tag(type(event))}"
    if sid != event.session_id or envelope.subject != expected:
        raise EventDecodeError(
            f"subject {envelope.subject!r} does not match the event (type {type_tag(type(event))!r},"
            f" session {event.session_id!r})"
        )
    return event


async def apply(
    conn: asyncpg.Connection,
    projection: Projection,
    envelopes: Sequence[Envelope],
    *,
    expect: int | None = None,
    before_commit: Callable[[], Awaitable[None] | None] | None = None,
    checkpoint_of: str | None = None,
    cache: store.Cache | None = None,
) -> Outcome:
    """Apply ``envelopes`` (ascending seq) and move the checkpoint, in one transaction.

    ``expect``: the checkpoint this worker last committed; if the stored one differs, raise
    ``CheckpointMoved`` and change nothing. ``before_commit`` runs inside the transaction after
    everything is written (the fault-injection point "crash before commit"). ``checkpoint_of``:
    the checkpoint row to use instead of the projection's own: a replay's progress (``replay.py``).
    ``cache``: the live worker's rows of earlier batches (``store.Cache``), read instead of the
    database and given this batch's rows once it has committed.

    The rows are written without a savepoint (two statements and a subtransaction less per
    batch); if the database refuses them, the transaction is rolled back and the batch redone
    event by event, each under a savepoint.
    """
    try:
        outcome, todo = await _apply(conn, projection, envelopes, expect, before_commit, checkpoint_of, cache)
    except _DATA_ERRORS as exc:
        log.warning("batch refused by the database; applying event by event", error=str(exc))
        if cache is not None:  # rare: every row is read again after this
            cache.clear()
        outcome, todo = await _apply(conn, projection, envelopes, expect, before_commit, checkpoint_of, None, True)
    decoded = {env.seq: event for env, event in todo}
    for seq, reason in outcome.dead.items():
        event = decoded.get(seq)
        sid, mid = ids_of(event) if event is not None else (None, None)
        log.warning(
            "dead letter", projection=projection.name, stream_seq=seq, session_id=sid, message_id=mid, reason=reason
        )
    return outcome


async def _apply(
    conn: asyncpg.Connection,
    projection: Projection,
    envelopes: Sequence[Envelope],
    expect: int | None,
    before_commit: Callable[[], Awaitable[None] | None] | None,
    checkpoint_of: str | None,
    cache: store.Cache | None,
    one_by_one: bool = False,
) -> tuple[Outcome, list[tuple[Envelope, ChatEvent | None]]]:
    name = projection.name
    row = checkpoint_of or name
    async with conn.transaction():
        if expect is not None:
            checkpoint = expect  # checked where it moves, at the end: a statement less per batch
        else:
            checkpoint = await store.lock_checkpoint(conn, row)
        outcome = Outcome(checkpoint=checkpoint)
        todo: list[tuple[Envelope, ChatEvent | None]] = []
        letters: dict[int, tuple[int, str, bytes, str]] = {}
        for env in sorted(envelopes, key=lambda e: e.seq):
            if env.seq <= checkpoint and checkpoint_of is None:
                outcome.skipped += 1
                continue
            try:
                todo.append((env, decode(env)))
            except EventDecodeError as exc:
                letters[env.seq] = (env.seq, env.subject, env.data, str(exc))
                todo.append((env, None))
        if not todo:
            if expect is not None:
                await _check(conn, name, row, expect)
            return outcome, todo

        events = [(env, event) for env, event in todo if event is not None]
        keys: dict[str, set[str]] = {}
        for _, event in events:
            for table, wanted in projection.keys(event).items():
                keys.setdefault(table, set()).update(wanted)
        loaded = await store.load(conn, projection, keys, cache)

        rows = loaded.copy()
        if not one_by_one:
            for env, event in events:
                reason = _evolve(projection, rows, env, event)
                if reason is not None:
                    letters[env.seq] = (env.seq, env.subject, env.data, reason)
            await store.write(conn, projection, rows, stored=loaded)  # refused: redone one by one by the caller
        else:
            for env, event in events:
                if env.seq in letters:
                    continue
                rows, reason = await _apply_one(conn, projection, rows, env, event)
                if reason is not None:
                    letters[env.seq] = (env.seq, env.subject, env.data, reason)

        await store.record_dead_letters(conn, name, sorted(letters.values()))
        last_at: datetime | None = None
        for env, event in reversed(todo):
            if event is not None and env.seq not in letters:
                last_at = event.occurred_at
                break
        outcome.checkpoint = todo[-1][0].seq
        outcome.applied = len(todo) - len(letters)
        outcome.dead = {seq: letter[3] for seq, letter in letters.items()}
        outcome.last_at = last_at
        if expect is None or not await store.move_checkpoint(conn, row, expect, outcome.checkpoint, last_at):
            if expect is not None:  # not where this worker left it (or no row yet: created at 0)
                await _check(conn, name, row, expect)
            await store.save_checkpoint(conn, row, outcome.checkpoint, last_at)
        if before_commit is not None:
            result = before_commit()
            if result is not None:
                await result
    if cache is not None:
        cache.keep(rows)
    return outcome, todo


async def _check(conn: asyncpg.Connection, name: str, row: str, expect: int) -> None:
    checkpoint = await store.lock_checkpoint(conn, row)
    if checkpoint != expect:
        raise CheckpointMoved(f"checkpoint of {name!r} is {checkpoint}, this worker expected {expect}")


def _evolve(projection: Projection, rows: Rows, env: Envelope, event: ChatEvent) -> str | None:
    """Evolve ``rows`` by one event; the dead-letter reason if it cannot apply."""
    try:
        projection.apply(rows, env.seq, event)
    except Unappliable as exc:
        return str(exc)
    except Exception as exc:  # a bug must not stop the projection: record it, with the traceback in the log
        sid, mid = ids_of(event)
        with structlog.contextvars.bound_contextvars(session_id=sid, message_id=mid, stream_seq=env.seq):
            log.exception("event could not be applied")
        return f"internal error: {type(exc).__name__}: {exc}"
    return None


async def _apply_one(
    conn: asyncpg.Connection, projection: Projection, rows: Rows, env: Envelope, event: ChatEvent
) -> tuple[Rows, str | None]:
    """Evolve by one event and write its rows under a savepoint: (rows after, dead-letter reason).
    On refusal the rows are as before the event."""
    after = rows.copy()
    after.changed = {table: set() for table in rows.changed}
    reason = _evolve(projection, after, env, event)
    if reason is None:
        try:
            async with conn.transaction():
                await store.write(conn, projection, after)
        except _DATA_ERRORS as exc:
            reason = f"refused by the database: {exc}"
    if reason is not None:
        return rows, reason
    after.changed = {table: keys | after.changed[table] for table, keys in rows.changed.items()}
    return after, None
