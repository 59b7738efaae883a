"""Full-text search on a real PostgreSQL, rows written by the real projection."""

from __future__ import annotations

from projections import queries, search
from projections.search import Segment, segments
from tests.test_batch import apply, envelopes
from tests.test_chat import Conversation


def test_segments_split_at_markers():
    text = "the \ue000cat\ue001 sat on \ue000mat\ue001"
    assert segments(text) == [Segment("the "), Segment("cat", True), Segment(" sat on "), Segment("mat", True)]
    assert segments("") == []
    assert segments("plain") == [Segment("plain")]
    assert segments("\ue000a\ue001\ue000b\ue001") == [Segment("ab", True)]


async def _conversations(db):
    mine, theirs, gone = Conversation("alice"), Conversation("bob"), Conversation("alice")
    q1 = mine.submitted("How do I configure the flux capacitor?")
    a1 = mine.requested(q1.message_id)
    q2 = theirs.submitted("My flux capacitor is secret")
    q3 = gone.submitted("flux in a deleted chat")
    events = [
        mine.created(title="Time travel"),
        q1,
        a1,
        mine.started(a1.message_id),
        mine.completed(a1.message_id, "Set it to 1.21 gigawatts and keep running."),
        theirs.created(title="Bob's flux notes"),
        q2,
        gone.created(title="Old"),
        q3,
        gone.deleted(),
    ]
    await apply(db, envelopes(events))
    return mine, q1, a1


async def test_finds_messages_by_content_and_titles_only_of_the_caller(db):
    mine, q1, a1 = await _conversations(db)
    hits = await search.search(db, "alice", "flux")
    assert [(h.kind, h.message_id) for h in hits] == [("message", q1.message_id)]
    hit = hits[0]
    assert hit.session_id == mine.sid and hit.session_title == "Time travel" and hit.role == "user"
    assert Segment("flux", True) in hit.snippet
    assert "".join(s.text for s in hit.snippet) == "How do I configure the flux capacitor?"

    # Stemming: "run" finds "running" in the answer; titles are searched too.
    (answer,) = await search.search(db, "alice", "run")
    assert answer.message_id == a1.message_id and answer.role == "assistant"
    (title,) = await search.search(db, "alice", "travel")
    assert title.kind == "title" and title.message_id is None and title.session_id == mine.sid

    # Bob's words are never Alice's results, and nothing of a deleted session is.
    assert await search.search(db, "alice", "secret") == []
    assert await search.search(db, "alice", "deleted") == []
    assert sorted(h.kind for h in await search.search(db, "bob", "flux")) == ["message", "title"]


async def test_odd_queries_never_fail(db):
    await _conversations(db)
    for q in ['"unclosed', "-", "or or", "&|!():*", "flux -capacitor", "'; DROP TABLE messages; --", "\ue000flux"]:
        assert isinstance(await search.search(db, "alice", q), list)
    # A forged marker in content cannot add a highlight.
    (hit,) = await search.search(db, "alice", '"flux capacitor"')
    assert all(s.match == (s.text.lower() in {"flux", "capacitor", "flux capacitor"}) for s in hit.snippet)


async def test_paging(db):
    c = Conversation("carol")
    events = [c.created(title="Paging")] + [c.submitted(f"needle number {i}") for i in range(7)]
    await apply(db, envelopes(events))
    first = await search.search(db, "carol", "needle", page=1, page_size=5)
    second = await search.search(db, "carol", "needle", page=2, page_size=5)
    assert len(first) == 5 and len(second) == 2
    assert not {h.message_id for h in first} & {h.message_id for h in second}


async def test_an_answer_is_searchable_once_it_has_ended(db):
    # Its search vector is computed at its end (migration 180), not at every flush of its text.
    c = Conversation("dave")
    q = c.submitted("Tell me about zebras")
    streaming, failed = c.requested(q.message_id), c.requested(q.message_id)
    s, f = streaming.message_id, failed.message_id
    events = [c.created(title="Animals"), q, streaming, failed, c.started(s), c.started(f)]
    events += [*c.chunks(s, ["Striped ", "quagga ", "facts"]), *c.chunks(f, ["okapi ", "notes"])]
    await apply(db, envelopes(events))

    # Mid-stream, a reload shows the text so far; search does not find it until the answer ends.
    reloaded = await queries.get_message(db, s)
    assert reloaded["content"] == "Striped quagga facts" and reloaded["status"] == "streaming"
    assert await search.search(db, "dave", "quagga") == []
    assert await search.search(db, "dave", "okapi") == []

    ends = [c.completed(s, "Striped quagga facts, all of them."), c.failed(f, partial="okapi notes")]
    await apply(db, envelopes(ends, first_seq=len(events) + 1))
    (hit,) = await search.search(db, "dave", "quagga")
    assert hit.message_id == s and "".join(x.text for x in hit.snippet) == "Striped quagga facts, all of them."
    (hit,) = await search.search(db, "dave", "okapi")
    assert hit.message_id == f
