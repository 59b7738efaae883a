"""`parley projections rebuild` empties the read models and replays the stream: the result equals
the incrementally built tables, compared whole."""

from __future__ import annotations

import json
import signal
import uuid
from pathlib import Path

from events import codec, tokens
from events.schema import GenerationDelta, GenerationRequested, MessageSubmitted, Timings, Usage
from events.streams import CHAT_STREAM
from projections import queries
from services.generation import answer
from services.generation.coalescer import Chunk
from services.generation.sweeper import Sweeper
from tests.test_batch import dump
from tests.test_chat import Conversation
from tests.test_projection_worker import conversation_events, publish, running, start_process, wait_exit


async def test_rebuild_equals_incremental(nats, js, db, database_url, tmp_path):
    events, _, ids = conversation_events()
    async with running(nats, database_url, tmp_path, PARLEY_PROJECTION_BATCH="7"):
        # Published in three rounds so the incremental run sees many small batches.
        await publish(js, events[:10])
        await js.publish(f"parley.chat.{ids['a']}.x", b"garbage", stream=CHAT_STREAM)  # no projection reads it
        await js.publish(f"parley.chat.{ids['a']}.generation.completed", b"garbage", stream=CHAT_STREAM)  # both
        await publish(js, events[10:20])
        last = await publish(js, events[20:])
        assert await queries.wait_for_seq(db, last, 10)
        assert await queries.wait_for_seq(db, last, 10, projection="usage")
    incremental = await dump(db)
    assert [d[0] for d in incremental["dead"]] == ["chat", "usage"] and len(incremental["messages"]) == 8

    proc = start_process(nats, database_url, tmp_path, "rebuild", PARLEY_PROJECTION_BATCH="500")
    assert await wait_exit(proc) == 0, (tmp_path / "projections.log").read_text()
    output = (tmp_path / "projections.log").read_text()
    assert f"rebuilt chat: {last} events in" in output and "events/s" in output
    assert await dump(db) == incremental

    # The worker resumes after a rebuild without re-applying anything.
    proc = start_process(nats, database_url, tmp_path)
    try:
        c_last = await publish(js, [Conversation(session_id=ids["a"]).created()])
        assert await queries.wait_for_seq(db, c_last, 10)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert await wait_exit(proc, 15) == 0
    after = await dump(db)
    assert after["sessions"] == incremental["sessions"] and after["messages"] == incremental["messages"]
    chat_dead = [d for d in after["dead"] if d[0] == "chat"]
    assert len(chat_dead) == 2  # a second session.created for the same id: recorded, not applied
    assert "already exists" in chat_dead[-1][-1]


async def test_rebuild_of_an_empty_stream(nats, js, db, database_url, tmp_path):
    proc = start_process(nats, database_url, tmp_path, "rebuild")
    assert await wait_exit(proc) == 0
    assert "rebuilt chat: 0 events" in (tmp_path / "projections.log").read_text()
    assert await queries.checkpoint(db) == 0


# Written by the code before deltas (commit 532bc38) and before the lean envelope (820e6d2: deltas,
# permanent events with every id and default in the body): see tests/data/record_stream.py.
BEFORE_DELTAS = Path(__file__).parent / "data" / "stream_before_deltas.jsonl"
BEFORE_LEAN = Path(__file__).parent / "data" / "stream_before_lean.jsonl"


def answered_today(sid: str, user: str, pieces: list[str], end: str) -> list:
    """A message and its answer as today's generation writes them: deltas, then a terminal event
    with the text, the chunk count and every token's timing."""
    prompt = codec.make(MessageSubmitted, session_id=sid, user_id=user, message_id=str(uuid.uuid4()), content="q")
    request = codec.make(
        GenerationRequested,
        session_id=sid,
        user_id=user,
        message_id=str(uuid.uuid4()),
        prompt_message_id=prompt.message_id,
    )
    recorder = tokens.Recorder()
    state, out = answer.Answer.of(request), [prompt, request]
    commands: list = [answer.Start("local", "scripted", "w1")]
    for i, piece in enumerate(pieces):
        recorder.token(piece, 1_796_054_564_000 + 30 * i)
        recorder.chunk(i)
        commands.append(answer.AddChunk(Chunk(i, i, 1, piece)))
    timings = Timings(time_to_first_token_ms=3, total_ms=90)
    if end == "completed":
        commands.append(
            answer.Complete(
                "local", "scripted", Usage(completion_tokens=len(pieces)), timings, "stop", recorder.encode()
            )
        )
    else:
        commands.append(answer.Cancel(timings, recorder.encode()))
    for command in commands:
        for event in answer.decide(state, command):
            state = answer.evolve(state, event)
            out.append(event)
    return out


async def test_streams_from_before_deltas_and_the_lean_envelope_rebuild_identically_after_the_deltas_expire(
    nats, nc, js, db, database_url, tmp_path
):
    old = [json.loads(line) for line in BEFORE_DELTAS.read_text().splitlines()]
    older_lean = [json.loads(line) for line in BEFORE_LEAN.read_text().splitlines()]
    for m in old + older_lean:  # the stored bytes and headers, as the old code wrote them
        await js.publish(m["subject"], m["data"].encode(), headers=m["headers"] or None)
    sid = old[0]["subject"].split(".")[2]
    user = json.loads(old[0]["data"])["user_id"]
    new = answered_today(sid, user, ["To", "day", "'s"], "completed")
    new += answered_today(sid, user, ["cut", " short"], "cancelled")
    assert sum(isinstance(e, GenerationDelta) for e in new) == 5
    async with running(nats, database_url, tmp_path):
        last = await publish(js, new)  # lean: no session or derivable id in the body
        assert await queries.wait_for_seq(db, last, 10)
    incremental = await dump(db)
    assert not incremental["dead"] and len(incremental["messages"]) == 3 + 4 + 2 * 2 + 3 + 4
    answers = await db.fetch(
        "SELECT session_id, status, content, chunk_count FROM messages WHERE role = 'assistant' ORDER BY created_seq"
    )
    statuses = ["complete", "failed", "cancelled", "complete"]
    assert [r["status"] for r in answers if str(r["session_id"]) == sid] == [*statuses, "complete", "cancelled"]
    assert [r["status"] for r in answers if str(r["session_id"]) != sid] == statuses
    assert [(r["content"], r["chunk_count"]) for r in answers[-2:]] == [("Today's", 3), ("cut short", 2)]

    # The deltas expire (the 820e6d2 stream's too); the old chunks stay (their ends carry no timing).
    old_deltas = sum(m["subject"].endswith(".generation.delta") for m in older_lean)
    assert await Sweeper(nc, retention_s=0).sweep() == 5 + old_deltas
    info = await js.stream_info(CHAT_STREAM)
    assert info.state.messages == len(old) + len(older_lean) + len(new) - 5 - old_deltas

    proc = start_process(nats, database_url, tmp_path, "rebuild", PARLEY_PROJECTION_BATCH="500")
    assert await wait_exit(proc) == 0, (tmp_path / "projections.log").read_text()
    assert await dump(db) == incremental
