"""One answer's pure decisions: the opening of a delivery, the events of each command."""

from __future__ import annotations

import pytest

from events import codec
from events.schema import (
    GenerationCancelled,
    GenerationCancelRequested,
    GenerationChunk,
    GenerationCompleted,
    GenerationDelta,
    GenerationFailed,
    GenerationRequested,
    GenerationRestarted,
    GenerationStarted,
    MessageSubmitted,
    SessionCreated,
    SessionDeleted,
    Timings,
    Usage,
)
from services.generation import answer
from services.generation.answer import (
    AddChunk,
    Answer,
    AnswerStateError,
    Cancel,
    Complete,
    Fail,
    Start,
    decide,
    evolve,
    opening,
)
from services.generation.coalescer import Chunk
from services.generation.context import fold

SID, USER = "s1", "u1"


def ev(kind, **fields):
    return codec.make(kind, session_id=SID, user_id=USER, **fields)


def history(*events):
    return fold(SID, list(enumerate(events, 1)))


CREATED = ev(SessionCreated, title="t", llm_provider="local", llm_model="m1")
ASKED = ev(MessageSubmitted, message_id="q1", content="hi")
REQUEST = ev(GenerationRequested, message_id="a1", prompt_message_id="q1")


def run(state: Answer, *commands):
    events = []
    for command in commands:
        for event in decide(state, command):
            state = evolve(state, event)
            events.append(event)
    return state, events


# -- opening ------------------------------------------------------------------------------------------


def test_first_delivery_begins_attempt_one():
    assert opening(history(CREATED, ASKED, REQUEST), REQUEST, 1) == answer.Begin(attempt=1, restarted=False)


def test_redelivery_restarts_with_the_delivery_number_as_attempt():
    assert opening(history(CREATED, ASKED, REQUEST), REQUEST, 3) == answer.Begin(attempt=3, restarted=True)


@pytest.mark.parametrize("end", [GenerationCompleted, GenerationFailed, GenerationCancelled])
def test_redelivery_of_an_ended_answer_only_acks(end):
    fields = {
        GenerationCompleted: {"content": "x", "llm_provider": "local", "llm_model": "m"},
        GenerationFailed: {"error_kind": "internal", "error_message": "boom"},
        GenerationCancelled: {},
    }[end]
    h = history(CREATED, ASKED, REQUEST, ev(end, message_id="a1", **fields))
    assert opening(h, REQUEST, 2) == answer.AlreadyEnded()


def test_cancel_before_start_needs_no_provider():
    h = history(CREATED, ASKED, REQUEST, ev(GenerationCancelRequested, message_id="a1"))
    assert opening(h, REQUEST, 1) == answer.CancelledEarly()


@pytest.mark.parametrize(
    ("events", "says"),
    [
        ((ASKED, REQUEST), "no session.created"),
        ((CREATED, ASKED, REQUEST, ev(SessionDeleted)), "deleted"),
        ((CREATED, REQUEST), "prompt message q1 is not in the session"),
    ],
)
def test_unanswerable_prompts_are_rejected_as_bad_requests(events, says):
    result = opening(history(*events), REQUEST, 1)
    assert isinstance(result, answer.Rejected) and result.kind == "bad_request" and says in result.message


# -- commands -----------------------------------------------------------------------------------------


def test_a_full_answer_yields_started_chunks_and_completed_with_the_joined_content():
    usage, timings = Usage(prompt_tokens=3, completion_tokens=4, reported=True), Timings(total_ms=9)
    state, events = run(
        Answer.of(REQUEST),
        Start("local", "m1", "w1"),
        AddChunk(Chunk(0, 0, 2, "Hello")),
        AddChunk(Chunk(1, 2, 2, " world")),
        Complete("local", "m1", usage, timings, "stop"),
    )
    # chunks are written as short-lived deltas (a GenerationChunk subclass)
    assert [type(e) for e in events] == [GenerationStarted, GenerationDelta, GenerationDelta, GenerationCompleted]
    assert all(isinstance(e, GenerationChunk) for e in events[1:3])
    done = events[-1]
    assert done.content == "Hello world" and done.chunk_count == 2 and done.usage == usage and done.timings == timings
    assert state.status == "complete"  # events.model's vocabulary (was phase "ended", "generation.completed")
    assert (done.created_at, done.reply_to) == (REQUEST.occurred_at, REQUEST.prompt_message_id)
    assert all(e.message_id == "a1" and e.session_id == SID for e in events)
    # ids derive from (answer, attempt, kind, index): deciding again gives the same ids
    again = decide(Answer.of(REQUEST), Start("local", "m1", "w1"))
    assert again[0].event_id == events[0].event_id


def test_a_restart_announces_itself_before_starting():
    _, events = run(Answer.of(REQUEST, attempt=2), Start("local", "m1", "w2", restarted=True, reason="took over"))
    assert [type(e) for e in events] == [GenerationRestarted, GenerationStarted]
    assert events[0].attempt == events[1].attempt == 2 and events[0].reason == "took over"


def test_failure_and_cancel_keep_the_partial_content():
    state, _ = run(Answer.of(REQUEST), Start("local", "m1"), AddChunk(Chunk(0, 0, 1, "part")))
    (failed,) = decide(state, Fail("provider_error", "cut"))
    assert failed.partial_content == "part" and failed.llm_provider == "local" and failed.error_kind == "provider_error"
    (cancelled,) = decide(state, Cancel())
    assert cancelled.partial_content == "part"


def test_partial_answers_count_the_tokens_that_streamed():
    state, _ = run(
        Answer.of(REQUEST), Start("local", "m1"), AddChunk(Chunk(0, 0, 3, "a b c")), AddChunk(Chunk(1, 3, 2, " d e"))
    )
    for ending in (decide(state, Fail("provider_error", "cut"))[0], decide(state, Cancel())[0]):
        assert ending.usage == Usage(completion_tokens=5, reported=False)


def test_ending_twice_yields_nothing_more():
    state, _ = run(Answer.of(REQUEST), Start("local", "m1"), Cancel())
    assert decide(state, Fail("internal", "late")) == []


def test_out_of_order_commands_are_refused():
    with pytest.raises(AnswerStateError, match="chunk before start"):
        decide(Answer.of(REQUEST), AddChunk(Chunk(0, 0, 1, "x")))
    state, _ = run(Answer.of(REQUEST), Start("local", "m1"))
    with pytest.raises(AnswerStateError, match="out of order"):
        decide(state, AddChunk(Chunk(1, 1, 1, "x")))
    with pytest.raises(AnswerStateError, match="already started"):
        decide(state, Start("local", "m1"))
    with pytest.raises(TypeError):
        decide(state, "chunk")
    with pytest.raises(TypeError):
        evolve(state, ASKED)
