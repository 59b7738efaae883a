"""services.edge.index: what an edge has seen (owners, message membership), bounded."""

from __future__ import annotations

from events import codec
from events.schema import GenerationChunk, GenerationRequested, MessageSubmitted, SessionCreated, SessionDeleted
from services.edge.index import LRU, Index


def test_owners_and_deletion():
    index = Index()
    index.observe(
        codec.make(SessionCreated, session_id="s", user_id="u", title="t", llm_provider="local", llm_model="m"), 1
    )
    assert index.sessions.get("s").user_id == "u" and not index.sessions.get("s").deleted
    index.observe(codec.make(SessionDeleted, session_id="s", user_id="u"), 9)
    assert index.sessions.get("s").deleted and index.sessions.get("s").last_seq == 9


def test_messages_and_answers():
    index = Index()
    index.observe(codec.make(MessageSubmitted, session_id="s", user_id="u", message_id="m", content="x"), 2)
    index.observe(
        codec.make(GenerationRequested, session_id="s", user_id="u", message_id="a", prompt_message_id="m"), 3
    )
    index.observe(
        codec.make(
            GenerationChunk,
            session_id="s",
            user_id="u",
            message_id="a",
            attempt=1,
            index=0,
            token_index=0,
            token_count=1,
            delta="d",
        ),
        4,
    )
    assert (index.messages.get("m").role, index.messages.get("m").seq) == ("user", 2)
    answer = index.messages.get("a")
    assert (answer.role, answer.seq, answer.prompt_message_id, answer.session_id) == ("assistant", 3, "m", "s")


def test_lru_is_bounded_and_keeps_the_recently_used():
    lru: LRU[str, int] = LRU(2)
    lru.put("a", 1)
    lru.put("b", 2)
    assert lru.get("a") == 1  # "a" is now the most recent
    lru.put("c", 3)
    assert lru.get("b") is None and lru.get("a") == 1 and lru.get("c") == 3 and len(lru) == 2
