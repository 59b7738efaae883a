"""`parley projections rebuild` empties the read models and replays the stream: the result equals
the incrementally built tables, compared whole."""

from __future__ import annotations

import signal

from events.streams import CHAT_STREAM
from projections import queries
from tests.test_batch import dump
from tests.test_chat import Conversation
from tests.test_projection_worker import conversation_events, publish, running, start_process, wait_exit


async def test_rebuild_equals_incremental(nats, js, db, database_url, tmp_path):
    events, _, ids = conversation_events()
    async with running(nats, database_url, tmp_path, PARLEY_PROJECTION_BATCH="7"):
        # Published in three rounds so the incremental run sees many small batches.
        await publish(js, events[:10])
        await js.publish(f"parley.chat.{ids['a']}.x", b"garbage", stream=CHAT_STREAM)
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
