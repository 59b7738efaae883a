"""The rebuild's replay (projections/replay.py: one unfiltered read, the events a projection does
not read skipped by subject) gives the tables, dead letters and checkpoint of a full replay
through the projection's filtered consumer, on a stream written by generation's own code:
answers completed, cancelled, failed, taken over, still streaming, a stream from before deltas;
the worker goes on after it."""

from __future__ import annotations

import asyncio
import json
import uuid

from events import codec, tokens
from events.schema import (
    GenerationCancelRequested,
    GenerationDelta,
    GenerationRequested,
    MessageSubmitted,
    SessionCreated,
    SessionDeleted,
    Timings,
    Usage,
)
from events.streams import CHAT_STREAM
from projections import main, queries, replay, store
from projections.chat import CHAT
from services.generation import answer
from services.generation.coalescer import Chunk
from services.settings import load
from tests.test_batch import dump
from tests.test_projection_rebuild import BEFORE_DELTAS
from tests.test_projection_worker import publish, running


class Session:
    """One session's events as generation writes them (``answer.decide``), one answer at a time."""

    def __init__(self, user: str = "alice") -> None:
        self.sid, self.user = str(uuid.uuid4()), user
        self.events: list = [
            codec.make(SessionCreated, session_id=self.sid, user_id=user, title="t", llm_provider="p", llm_model="m")
        ]

    def ask(self) -> GenerationRequested:
        prompt = codec.make(
            MessageSubmitted, session_id=self.sid, user_id=self.user, message_id=str(uuid.uuid4()), content="q"
        )
        request = codec.make(
            GenerationRequested,
            session_id=self.sid,
            user_id=self.user,
            message_id=str(uuid.uuid4()),
            prompt_message_id=prompt.message_id,
        )
        self.events += [prompt, request]
        return request

    def attempt(self, request, pieces, end=None, *, attempt: int = 1, reasoning=(), start=True) -> answer.Answer:
        """An attempt streams ``reasoning`` then ``pieces`` and ends with ``end`` (None: still open)."""
        state, recorder = answer.Answer.of(request, attempt), tokens.Recorder()
        commands: list = [answer.Start("p", "m", f"w{attempt}", restarted=attempt > 1)] if start else []
        for i, (piece, thinking) in enumerate([(r, True) for r in reasoning] + [(p, False) for p in pieces]):
            recorder.token(piece, 1_796_054_564_000 + 30 * i)
            recorder.chunk(i)
            commands.append(answer.AddChunk(Chunk(i, i, 1, piece, reasoning=thinking)))
        timings = Timings(time_to_first_token_ms=3, total_ms=90)
        if end == "completed":
            usage = Usage(prompt_tokens=5, completion_tokens=len(pieces), reported=True)
            commands.append(answer.Complete("p", "m", usage, timings, "stop", recorder.encode()))
        elif end == "failed":
            commands.append(answer.Fail("provider_error", "boom", timings, tokens=recorder.encode()))
        elif end == "cancelled":
            self.events.append(
                codec.make(
                    GenerationCancelRequested, session_id=self.sid, user_id=self.user, message_id=request.message_id
                )
            )
            commands.append(answer.Cancel(timings, recorder.encode()))
        for command in commands:
            for event in answer.decide(state, command):
                state = answer.evolve(state, event)
                self.events.append(event)
        return state

    def early_delta(self, request: GenerationRequested) -> None:
        """A delta of ``request``'s answer stored before the request (right after the session's
        creation): in order, a dead letter ("unknown message")."""
        delta = GenerationDelta(
            session_id=self.sid,
            message_id=request.message_id,
            index=0,
            token_index=0,
            delta="?",
            occurred_at=request.occurred_at,
        )
        self.events.insert(1, delta)


def interleaved(*sessions: Session) -> list:
    """The sessions' events one by one in turn, as concurrent streams store them."""
    queues, out = [list(s.events) for s in sessions], []
    while any(queues):
        for queue in queues:
            if queue:
                out.append(queue.pop(0))
    return out


def history() -> tuple[list, Session]:
    a, b, c = Session("alice"), Session("bob"), Session("carol")
    a.attempt(a.ask(), ["Hel", "lo"], "completed", reasoning=["hm", "m"])
    a.attempt(a.ask(), ["par", "tial"], "cancelled")
    a.attempt(a.ask(), ["bro"], "failed")
    taken = a.ask()
    a.attempt(taken, ["void", " text"])  # a worker dies mid-answer; another takes it over
    a.attempt(taken, ["new"], "completed", attempt=2)
    b.attempt(b.ask(), ["bye"], "completed")
    b.events.append(codec.make(SessionDeleted, session_id=b.sid, user_id=b.user))
    c.attempt(c.ask(), ["x"], "completed")
    c.attempt(c.ask(), ["still", " going"])  # open at the end
    reopened = c.ask()
    c.attempt(reopened, ["first"])
    c.attempt(reopened, ["sec", "ond"], attempt=2)  # taken over, still open
    c.ask()  # requested, never started
    c.early_delta(reopened)  # a dead letter (read: its session has open answers)
    return interleaved(a, b, c), c


async def rebuilt(nats, database_url, tmp_path, db, *, full: bool) -> tuple[str, dict]:
    settings = load({"NATS_URL": nats.url, "DATABASE_URL": database_url, "PARLEY_DATA_DIR": str(tmp_path / "data")})
    said = await main._rebuild(settings, full=full)
    return said, await dump(db)


async def test_the_replay_equals_a_full_one_and_applies_no_delta(nats, js, db, database_url, tmp_path):
    for m in map(json.loads, BEFORE_DELTAS.read_text().splitlines()):  # a stream from before deltas
        await js.publish(m["subject"], m["data"].encode(), headers=m["headers"] or None)
    events, c = history()
    last = await publish(js, events)
    garbage = await js.publish(f"parley.chat.{c.sid}.generation.completed", b"garbage", stream=CHAT_STREAM)
    ended_late = (await js.publish(f"parley.chat.{c.sid}.x", b"garbage", stream=CHAT_STREAM)).seq  # read by no one

    full_said, full = await rebuilt(nats, database_url, tmp_path, db, full=True)
    said, replayed = await rebuilt(nats, database_url, tmp_path, db, full=False)
    assert replayed == full
    assert f"rebuilt chat: {ended_late} events in" in said and "every event replayed" not in said, said
    applied = int(said.split("; ")[1].split(" of them")[0].replace(",", ""))
    deltas = [e for e in events if isinstance(e, GenerationDelta)]
    # Applied: every event but the deltas (the one stored before its answer too) and the unknown
    # type, which chat does not read either (the old stream's permanent chunks it does).
    assert applied == ended_late - len(deltas) - 1, said
    assert [d[1] for d in full["dead"] if d[0] == "chat"] == [garbage.seq]
    assert full["checkpoints"][0][:2] == ("chat", ended_late) and last < ended_late
    statuses = await db.fetch("SELECT content, status FROM messages WHERE session_id = $1 ORDER BY created_seq", c.sid)
    # Open answers hold no streamed text: REST reads fold their deltas on (services/edge/streaming.py).
    assert [tuple(r) for r in statuses if r["status"] != "complete"] == [
        ("", "streaming"),
        ("", "streaming"),
        ("", "pending"),
    ]
    assert f"; {applied} of them applied" in full_said.splitlines()[0]

    # The worker goes on from the stream's end, applying only what came after.
    more = Session("dave")
    more.attempt(more.ask(), ["on"])
    newest = await publish(js, more.events)
    async with running(nats, database_url, tmp_path):
        assert await queries.wait_for_seq(db, newest, 10)
        assert await queries.wait_for_seq(db, newest, 10, projection="usage")  # the dump holds its checkpoint
    live = await dump(db)
    _, again = await rebuilt(nats, database_url, tmp_path, db, full=True)
    assert live == again


async def test_a_stale_worker_s_end_after_a_takeover_keeps_its_own_text(nats, js, db, database_url, tmp_path):
    a = Session()
    taken = a.ask()
    stale = a.attempt(taken, [])
    a.attempt(taken, ["new"], attempt=2)
    # The first worker was alive after all: its end (attempt 1, no text) comes after attempt 2
    # streamed. The first end wins, with its own text: the read model never held attempt 2's
    # deltas (when it applied them, the cancelled answer kept "new").
    for event in answer.decide(stale, answer.Cancel(Timings(), "")):
        a.events.append(event)
    await publish(js, a.events)
    _, full = await rebuilt(nats, database_url, tmp_path, db, full=True)
    _, replayed = await rebuilt(nats, database_url, tmp_path, db, full=False)
    assert replayed == full
    row = await db.fetchrow("SELECT content, status FROM messages WHERE id = $1", taken.message_id)
    assert tuple(row) == ("", "cancelled")


async def test_a_delta_stored_before_its_answer_is_not_read(nats, js, db, database_url, tmp_path):
    a = Session()
    request = a.ask()
    a.early_delta(request)
    a.attempt(request, ["done"], "completed")
    await publish(js, a.events)
    _, full = await rebuilt(nats, database_url, tmp_path, db, full=True)
    _, replayed = await rebuilt(nats, database_url, tmp_path, db, full=False)
    assert replayed == full and full["dead"] == []
    assert await db.fetchval("SELECT content FROM messages WHERE id = $1", request.message_id) == "done"


async def test_an_interrupted_replay_starts_over(nats, js, db, database_url, tmp_path):
    events, _ = history()
    last = await publish(js, events)
    _, full = await rebuilt(nats, database_url, tmp_path, db, full=True)
    # As a replay killed midway leaves it: rows, its progress row, the projection's checkpoint 0.
    await db.execute("UPDATE projection_checkpoints SET last_stream_seq = 0 WHERE projection = 'chat'")
    await db.execute(
        "INSERT INTO projection_checkpoints (projection, last_stream_seq) VALUES ($1, 9)", store.replay_row("chat")
    )
    async with running(nats, database_url, tmp_path):
        assert await queries.wait_for_seq(db, last, 10)
        assert await queries.wait_for_seq(db, last, 10, projection="usage")  # the dump holds its checkpoint
    assert await dump(db) == full
    assert not await store.replay_left(db, CHAT.name)


async def test_a_running_worker_replays_after_the_reset_and_goes_on(
    nats, js, db, database_url, tmp_path, monkeypatch, capfd
):
    events, _ = history()
    last = await publish(js, events)
    _, full = await rebuilt(nats, database_url, tmp_path, db, full=True)
    monkeypatch.setattr(replay, "REPLAY_FROM", 1)  # this short stream replayed as a long one would be
    async with running(nats, database_url, tmp_path):
        assert await queries.wait_for_seq(db, last, 10)
        # The checkpoint is there already: wait until the running workers hold their projections,
        # or the rebuild takes chat's lock first and replays it itself.
        assert await _locks_held(db, 2)
        said = await main._rebuild(
            load({"NATS_URL": nats.url, "DATABASE_URL": database_url, "PARLEY_DATA_DIR": str(tmp_path / "data")})
        )
        chat_said = next(line for line in said.splitlines() if line.startswith("rebuilt chat: "))
        assert "(replayed by the running worker)" in chat_said, said
        assert await dump(db) == full
        more = Session("dave")
        more.attempt(more.ask(), ["on"])
        newest = await publish(js, more.events)
        # both projections: the dump holds usage's checkpoint too (it moves over what it never
        # reads only once idle)
        assert await queries.wait_for_seq(db, newest, 10)
        assert await queries.wait_for_seq(db, newest, 10, projection="usage")
    live = await dump(db)
    _, again = await rebuilt(nats, database_url, tmp_path, db, full=True)
    assert live == again
    captured = capfd.readouterr()
    logged = (captured.out + captured.err).splitlines()
    assert [line for line in logged if _says_replayed(line)], logged


async def _locks_held(db, count: int, timeout: float = 10.0) -> bool:  # noqa: ASYNC109
    """Until ``count`` projection locks (session advisory locks) are held; False after ``timeout``."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        if await db.fetchval("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted") >= count:
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.02)


def _says_replayed(line: str) -> bool:
    """The worker's "replayed" line, as structlog's console (unconfigured: stdout) or JSON
    (``services.logs`` configured by an earlier test: stderr) writes it."""
    if line.startswith("{"):
        try:
            record = json.loads(line)
        except ValueError:
            return False
        return record.get("event") == "replayed" and record.get("projection") == "chat"
    return "] replayed " in line and "projection=chat" in line
