"""The subject taxonomy, checked against a real JetStream stream with the documented filters."""

from __future__ import annotations

import random

import pytest

from events import codec, subjects
from events.errors import InvalidSubjectToken
from events.schema import (
    GenerationChunk,
    GenerationCompleted,
    GenerationFailed,
    GenerationRequested,
    MessageSubmitted,
    SessionCreated,
)
from events.streams import CHAT_STREAM
from services import bus


def _events(session_id: str):
    common = {"session_id": session_id, "user_id": "u"}
    return [
        codec.make(SessionCreated, **common, title="t", llm_provider="local", llm_model="m"),
        codec.make(MessageSubmitted, **common, message_id="m1", content="hi"),
        codec.make(GenerationRequested, **common, message_id="a1", prompt_message_id="m1"),
        codec.make(
            GenerationChunk, **common, message_id="a1", attempt=1, index=0, token_index=0, token_count=1, delta="h"
        ),
        codec.make(GenerationCompleted, **common, message_id="a1", content="h", llm_provider="local", llm_model="m"),
        codec.make(GenerationFailed, **common, message_id="a2", error_kind="timeout", error_message="slow"),
    ]


async def _collect(js, filter_subject: str) -> list[str]:
    sub = await js.pull_subscribe(filter_subject, stream=CHAT_STREAM)
    types = []
    try:
        while True:
            msgs = await sub.fetch(100, timeout=0.5)
            for m in msgs:
                types.append(
                    (codec.decode(m.data, m.subject).session_id, type(codec.decode(m.data, m.subject)).__name__)
                )
                await m.ack()
    except TimeoutError:
        pass
    await sub.unsubscribe()
    return types


def test_subject_of_an_event_is_root_session_type():
    e = _events("abc")[4]
    assert subjects.for_event(e) == "parley.chat.abc.generation.completed"
    assert subjects.session_of(subjects.for_event(e)) == "abc"


@pytest.mark.parametrize("bad", ["", "a.b", "*", ">", "a b", "x>"])
def test_ids_that_would_break_the_subject_are_rejected(bad):
    with pytest.raises(InvalidSubjectToken):
        subjects.session(bad)


async def test_filters_route_as_documented(js):
    for session_id in ("s1", "s2"):
        for event in _events(session_id):
            await bus.publish(js, event)

    one_session = await _collect(js, subjects.session("s1"))
    assert [t for _, t in one_session] == [
        "SessionCreated",
        "MessageSubmitted",
        "GenerationRequested",
        "GenerationChunk",
        "GenerationCompleted",
        "GenerationFailed",
    ]
    assert {s for s, _ in one_session} == {"s1"}

    assert await _collect(js, subjects.COMPLETED) == [("s1", "GenerationCompleted"), ("s2", "GenerationCompleted")]
    assert await _collect(js, subjects.ERRORS) == [("s1", "GenerationFailed"), ("s2", "GenerationFailed")]
    assert await _collect(js, subjects.PROMPTS) == [("s1", "GenerationRequested"), ("s2", "GenerationRequested")]
    assert len(await _collect(js, subjects.GENERATION)) == 8
    assert len(await _collect(js, subjects.ALL)) == 12


async def test_same_event_id_is_stored_once(js):
    event = _events("s1")[1]
    first = await bus.publish(js, event)
    second = await bus.publish(js, event)
    assert second.duplicate and second.seq == first.seq


async def test_typing_is_not_stored(nc, js):
    await nc.publish(subjects.typing("s1"), b"{}")
    await nc.flush()
    info = await js.stream_info(CHAT_STREAM)
    assert info.state.messages == 0


@pytest.mark.parametrize(
    ("filters", "subject", "matched"),
    [
        (["parley.chat.*.generation.delta"], "parley.chat.s1.generation.delta", True),
        (["parley.chat.*.generation.delta"], "parley.chat.s1.generation.completed", False),
        (["parley.chat.*.generation.delta"], "parley.chat.s1.generation.delta.x", False),
        (["parley.chat.*.generation.delta"], "parley.chat.generation.delta", False),
        (["parley.chat.s1.>"], "parley.chat.s1.session.created", True),
        (["parley.chat.s1.>"], "parley.chat.s1", False),
        (["parley.chat.s1.>"], "parley.chat.s2.session.created", False),
        (["parley.chat.>"], "parley.chat.s1", True),
        (["parley.*.*.session.*"], "parley.chat.s1.session.deleted", True),
        (["parley.chat.s1.session.created"], "parley.chat.s1.session.created", True),
        (["parley.chat.s1.session.created"], "parley.chat.s2.session.created", False),
        (["a.*", "a.b.>", "c"], "c", True),
        (["a.*", "a.b.>", "c"], "a.b", True),
        (["a.*", "a.b.>", "c"], "a.c.d", False),
        (["a.*", "a.b.>", "c"], "a.b.c.d", True),
        (["*"], "anything", True),
        (["*"], "two.tokens", False),
        (["single"], "single", True),
        ([], "parley.chat.s1.session.created", False),
    ],
)
def test_matcher_follows_nats_subject_rules(filters, subject, matched):
    assert subjects.matcher(filters)(subject) is matched


def _nats_match(wanted: str, subject: str) -> bool:
    """NATS's rules, token by token: the reference the compiled matcher must agree with."""
    w, t = wanted.split("."), subject.split(".")
    for i, token in enumerate(w):
        if token == ">":
            return len(t) > i
        if i >= len(t) or (token != "*" and token != t[i]):
            return False
    return len(t) == len(w)


def test_matcher_agrees_with_token_by_token_matching_on_random_filters():
    rng = random.Random(7)
    words = ["a", "b", "c"]

    def subject() -> str:
        return ".".join(rng.choice(words) for _ in range(rng.randint(1, 4)))

    def filter_() -> str:
        tokens = [rng.choice([*words, "*"]) for _ in range(rng.randint(1, 4))]
        if rng.random() < 0.3:
            tokens[-1] = ">"
        return ".".join(tokens)

    for _ in range(400):
        filters = [filter_() for _ in range(rng.randint(1, 5))]
        matches = subjects.matcher(filters)
        for s in [subject() for _ in range(30)]:
            assert matches(s) == any(_nats_match(f, s) for f in filters), (filters, s)
