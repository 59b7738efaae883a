"""One batch, one transaction, on a real database: rows, checkpoint, skips, dead letters."""

from __future__ import annotations

import uuid

import pytest

from events import codec, subjects
from projections import batch, queries, store
from projections.chat import CHAT
from tests.test_chat import Conversation


def envelopes(events, first_seq: int = 1) -> list[batch.Envelope]:
    return [batch.Envelope(seq, subjects.for_event(e), codec.encode(e)) for seq, e in enumerate(events, first_seq)]


async def dump(db) -> dict[str, list]:
    """Whole tables, ordered, every column: what "identical" means for the read models."""
    return {
        "sessions": [tuple(r) for r in await db.fetch("SELECT * FROM chat_sessions ORDER BY id")],
        "messages": [tuple(r) for r in await db.fetch("SELECT * FROM messages ORDER BY id")],
        "usage_hourly": [tuple(r) for r in await db.fetch("SELECT * FROM usage_hourly ORDER BY id")],
        "usage_answers": [tuple(r) for r in await db.fetch("SELECT * FROM usage_answers ORDER BY id")],
        "checkpoints": [
            tuple(r)
            for r in await db.fetch(
                "SELECT projection, last_stream_seq, last_event_at FROM projection_checkpoints ORDER BY projection"
            )
        ],
        "dead": [
            tuple(r)
            for r in await db.fetch(
                "SELECT projection, stream_seq, subject, payload, reason FROM projection_dead_letters ORDER BY 1, 2"
            )
        ],
    }


async def apply(db, envs, **kw) -> batch.Outcome:
    async with db.acquire() as conn:
        return await batch.apply(conn, CHAT, envs, **kw)


async def test_a_conversation_in_one_batch(db):
    c = Conversation()
    events, user_id, answer_id = c.exchange("hello", ["Hi", " there"])
    outcome = await apply(db, envelopes([c.created(), *events]))
    assert (outcome.checkpoint, outcome.applied, outcome.skipped, outcome.dead) == (7, 7, 0, {})
    page, seq = await queries.list_messages(db, c.sid)
    assert seq == 7
    assert [(m["id"], m["role"], m["content"], m["status"]) for m in page] == [
        (user_id, "user", "hello", "complete"),
        (answer_id, "assistant", "Hi there", "complete"),
    ]
    assert page[1]["response_time_ms"] == 900 and page[1]["tokens_used"] == 10 and not page[1]["is_streaming"]
    session = await queries.get_session(db, c.sid)
    assert (session["message_count"], session["last_seq"]) == (2, 7)
    cp_row = await db.fetchrow("SELECT last_event_at FROM projection_checkpoints")
    assert cp_row["last_event_at"] == events[-1].occurred_at


async def test_applying_again_changes_nothing(db):
    c = Conversation()
    events, _, _ = c.exchange("hello", ["a", "b", "c"])
    envs = envelopes([c.created(), *events])
    await apply(db, envs[:4])
    await apply(db, envs)  # a redelivery overlapping what was applied
    before = await dump(db)
    again = await apply(db, envs)
    assert (again.applied, again.skipped, again.checkpoint) == (0, len(envs), len(envs))
    assert await dump(db) == before


async def test_split_batches_equal_one_batch(db, postgres):
    c = Conversation()
    events, _, _ = c.exchange("hello", ["a", "b", "c", "d"])
    more, _, _ = c.exchange("again", ["e"])
    envs = envelopes([c.created(), *events, *more])
    for env in envs:
        await apply(db, [env])
    one_by_one = await dump(db)
    async with db.acquire() as conn:
        await conn.execute("TRUNCATE messages, chat_sessions, projection_checkpoints")
    await apply(db, envs)
    assert await dump(db) == one_by_one


async def test_bad_events_become_dead_letters_and_the_rest_applies(db):
    c = Conversation()
    created = c.created()
    orphan = Conversation().submitted("nobody's")
    user = c.submitted("fine")
    envs = [
        *envelopes([created]),
        batch.Envelope(2, f"parley.chat.{c.sid}.x", b"\x00not json"),
        *envelopes([orphan], 3),
        batch.Envelope(4, f"parley.chat.{c.sid}.session.created", codec.encode(user)),  # wrong subject
        *envelopes([user], 5),
    ]
    outcome = await apply(db, envs)
    assert outcome.checkpoint == 5 and outcome.applied == 2
    assert set(outcome.dead) == {2, 3, 4}
    assert "malformed event JSON" in outcome.dead[2]
    assert "unknown session" in outcome.dead[3]
    assert "does not match the event" in outcome.dead[4]
    dead = await db.fetch("SELECT stream_seq, subject, payload, reason FROM projection_dead_letters ORDER BY 1")
    assert [(d["stream_seq"], d["payload"]) for d in dead] == [
        (2, b"\x00not json"),
        (3, envs[2].data),
        (4, envs[3].data),
    ]
    page, _ = await queries.list_messages(db, c.sid)
    assert [m["content"] for m in page] == ["fine"]


async def test_rows_the_database_refuses_become_dead_letters(db):
    c = Conversation()
    events, _, answer_id = c.exchange("q", ["a", "b"])
    too_long = c.updated(llm_model="m" * 300)  # over VARCHAR(255): refused by PostgreSQL
    envs = envelopes([c.created(), *events, too_long, c.updated(title="after")])
    outcome = await apply(db, envs)
    assert list(outcome.dead) == [len(envs) - 1]
    assert "refused by the database" in outcome.dead[len(envs) - 1]
    session = await queries.get_session(db, c.sid)
    assert (session["title"], session["llm_model"]) == ("after", "smol")
    assert (await queries.get_message(db, answer_id))["content"] == "ab"


async def test_nul_characters_are_kept_visible_not_fatal(db):
    c = Conversation()
    user = c.submitted("a\x00b")
    await apply(db, envelopes([c.created(title="t\x00"), user]))
    assert (await queries.get_message(db, user.message_id))["content"] == "a\ufffdb"


async def test_a_moved_checkpoint_stops_the_batch(db):
    c = Conversation()
    envs = envelopes([c.created(), c.submitted("q")])
    await apply(db, envs[:1])
    with pytest.raises(batch.CheckpointMoved):
        await apply(db, envs[1:], expect=0)
    assert await queries.checkpoint(db) == 1
    assert (await queries.get_session(db, c.sid))["message_count"] == 0


async def test_a_cache_across_batches_equals_one_batch(db):
    # The live worker keeps the rows of its batches (store.Cache) instead of reading them back.
    c, other = Conversation(), Conversation()
    events, _, _ = c.exchange("hello\x00", ["a\x00", "b", "c", "d"])  # NUL is stored as U+FFFD either way
    more, _, _ = c.exchange("again", ["e"])
    envs = envelopes([c.created(), other.created(), *events, other.submitted("hi"), *more, c.updated(title="t")])
    cache = store.Cache()
    for i in range(0, len(envs), 3):
        await apply(db, envs[i : i + 3], cache=cache)
    cached = await dump(db)
    assert c.sid in cache.tables["chat_sessions"] and len(cache.tables["messages"]) == 5
    async with db.acquire() as conn:
        await conn.execute("TRUNCATE messages, chat_sessions, projection_checkpoints")
    await apply(db, envs)
    assert await dump(db) == cached


async def test_a_cached_row_is_not_read_again(db):
    # What the cache holds is what this worker last committed: a row changed behind it (which
    # only a second writer could do; the advisory lock prevents that) is not read.
    c = Conversation()
    q = c.submitted("q")
    a = c.requested(q.message_id)
    envs = envelopes([c.created(), q, a, c.started(a.message_id), *c.chunks(a.message_id, ["x", "y"])])
    cache = store.Cache()
    await apply(db, envs[:5], cache=cache)
    await db.execute("UPDATE messages SET content = 'behind' WHERE id = $1", uuid.UUID(a.message_id))
    await apply(db, envs[5:], cache=cache)
    assert (await queries.get_message(db, a.message_id))["content"] == "xy"
    cache.clear()  # as the worker does on a re-sync: read again
    await db.execute("UPDATE messages SET content = 'behind' WHERE id = $1", uuid.UUID(a.message_id))
    await apply(db, envelopes(c.chunks(a.message_id, ["z"], first=2), first_seq=len(envs) + 1), cache=cache)
    assert (await queries.get_message(db, a.message_id))["content"] == "behindz"


async def test_a_refused_batch_empties_the_cache(db):
    c = Conversation()
    events, _, _ = c.exchange("q", ["a", "b"])
    envs = envelopes([c.created(), *events, c.updated(llm_model="m" * 300), c.updated(title="after")])
    cache = store.Cache()
    await apply(db, envs[:2], cache=cache)
    assert cache.tables["chat_sessions"]
    outcome = await apply(db, envs[2:], cache=cache)
    assert list(outcome.dead) == [len(envs) - 1] and cache.tables == {}
    assert (await queries.get_session(db, c.sid))["title"] == "after"


def test_the_cache_keeps_the_most_recently_used_rows():
    cache = store.Cache(size=2)
    for key in ("a", "b", "c", "a"):
        rows = CHAT.new_rows({"chat_sessions": {key: key}, "messages": {}})
        cache.keep(rows)
    assert list(cache.tables["chat_sessions"]) == ["c", "a"]


async def test_the_checkpoint_is_checked_where_it_moves(db):
    # The live worker's batch checks ``expect`` in the statement that moves the checkpoint.
    c = Conversation()
    envs = envelopes([c.created(), c.submitted("q"), c.submitted("r")])
    assert (await apply(db, envs[:1], expect=0)).checkpoint == 1  # no row yet: created, then moved
    assert (await apply(db, envs[1:2], expect=1)).checkpoint == 2
    with pytest.raises(batch.CheckpointMoved):
        await apply(db, envs[2:], expect=1)  # moved under it: nothing written
    with pytest.raises(batch.CheckpointMoved):
        await apply(db, envs[:1], expect=1)  # only redeliveries: still checked
    assert await queries.checkpoint(db) == 2
    assert (await queries.get_session(db, c.sid))["message_count"] == 1
