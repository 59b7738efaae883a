"""The rebuild's replay that skips the deltas of ended answers (projections/replay.py) gives the
tables, dead letters and checkpoint of a full replay, on a stream written by generation's own
code: answers completed, cancelled, failed, taken over, still streaming, a stream from before
deltas; it falls back to a full replay where skipping could differ; the worker goes on after it."""

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


async def test_the_replay_equals_a_full_one_and_reads_no_delta_of_an_ended_answer(nats, js, db, database_url, tmp_path):
    for m in map(json.loads, BEFORE_DELTAS.read_text().splitlines()):  # a stream from before deltas
        await js.publish(m["subject"], m["data"].encode(), headers=m["headers"] or None)
    events, c = history()
    last = await publish(js, events)
    garbage = await js.publish(f"parley.chat.{c.sid}.generation.completed", b"garbage", stream=CHAT_STREAM)
    ended_late = (await js.publish(f"parley.chat.{c.sid}.x", b"garbage", stream=CHAT_STREAM)).seq  # chat reads it

    full_said, full = await rebuilt(nats, database_url, tmp_path, db, full=True)
    said, replayed = await rebuilt(nats, database_url, tmp_path, db, full=False)
    assert replayed == full
    assert f"rebuilt chat: {ended_late} events in" in said and "every event replayed" not in said, said
    applied = int(said.split("; ")[1].split(" of them")[0].replace(",", ""))
    deltas = [e for e in events if isinstance(e, GenerationDelta)]
    # Applied: every event but the deltas, and the deltas of the answer taken over (its end folds
    # onto them), of the answers still open, and the one stored before its answer.
    assert applied == ended_late - len(deltas) + (2 + 1) + (2 + 1 + 2) + 1, said
    dead = [(d[1], d[4]) for d in full["dead"] if d[0] == "chat"]
    assert [seq for seq, _ in dead][1:] == [garbage.seq, ended_late] and "unknown message" in dead[0][1]
    assert full["checkpoints"][0][:2] == ("chat", ended_late) and last < ended_late
    statuses = await db.fetch("SELECT content, status FROM messages WHERE session_id = $1 ORDER BY created_seq", c.sid)
    assert [tuple(r) for r in statuses if r["status"] != "complete"] == [
        ("still going", "streaming"),
        ("second", "streaming"),
        ("", "pending"),
    ]
    assert f"; {ended_late} of them applied" in full_said.splitlines()[0]

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


async def test_an_end_after_a_takeover_folds_onto_the_deltas_it_needs(nats, js, db, database_url, tmp_path):
    a = Session()
    taken = a.ask()
    stale = a.attempt(taken, [])
    a.attempt(taken, ["new"], attempt=2)
    # The first worker was alive after all: its end (attempt 1, no text) comes after attempt 2
    # streamed, so the cancelled answer keeps attempt 2's text, built by its deltas.
    for event in answer.decide(stale, answer.Cancel(Timings(), "")):
        a.events.append(event)
    await publish(js, a.events)
    _, full = await rebuilt(nats, database_url, tmp_path, db, full=True)
    said, replayed = await rebuilt(nats, database_url, tmp_path, db, full=False)
    assert replayed == full and "every event replayed" not in said
    content = await db.fetchval("SELECT content FROM messages WHERE id = $1", taken.message_id)
    assert content == "new"


async def test_deltas_that_would_be_dead_letters_in_order_make_it_replay_every_event(
    nats, js, db, database_url, tmp_path
):
    a = Session()
    request = a.ask()
    a.early_delta(request)
    a.attempt(request, [], "completed")
    await publish(js, a.events)
    _, full = await rebuilt(nats, database_url, tmp_path, db, full=True)
    said, replayed = await rebuilt(nats, database_url, tmp_path, db, full=False)
    assert "every event replayed: the deltas of message" in said and replayed == full
    assert len(full["dead"]) == 1 and "unknown message" in full["dead"][0][-1]


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
