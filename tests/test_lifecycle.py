"""events.lifecycle, the one fold: a reasoning model's thinking is kept apart from the answer; the web UI
runs the same rules compiled to TypeScript, checked by the cases of tests/support/lifecycle_cases.py."""

from __future__ import annotations

from events import codec, lifecycle
from events.schema import (
    GenerationCancelled,
    GenerationChunk,
    GenerationCompleted,
    GenerationRequested,
    GenerationRestarted,
    GenerationStarted,
)
from services.edge import wire
from tests.support import lifecycle_cases

SID, USER, AID = "s1", "u1", "a1"


def ev(kind, **fields):
    return codec.make(kind, session_id=SID, user_id=USER, message_id=AID, **fields)


def chunk(index: int, delta: str, reasoning: bool = False, attempt: int = 1):
    return ev(
        GenerationChunk,
        attempt=attempt,
        index=index,
        token_index=index,
        token_count=1,
        delta=delta,
        reasoning=reasoning,
    )


def fold(*events):
    message = lifecycle.answer(ev(GenerationRequested, prompt_message_id="q1"), 1)
    for seq, event in enumerate(events, 2):
        message = lifecycle.evolve(message, seq, event) or message
    return message


STARTED = ev(GenerationStarted, llm_provider="local", llm_model="m")


def test_reasoning_chunks_build_the_reasoning_and_answer_chunks_the_content():
    m = fold(STARTED, chunk(0, "Let me", True), chunk(1, " think.", True), chunk(2, "Yes"))
    assert (m.reasoning, m.content, m.status) == ("Let me think.", "Yes", "streaming")
    assert m.completion_tokens == 3  # streamed so far, thinking included: a mid-stream read shows it
    done = lifecycle.evolve(
        m, 9, ev(GenerationCompleted, content="Yes", reasoning="Let me think.", llm_provider="local", llm_model="m")
    )
    assert (done.reasoning, done.content, done.status) == ("Let me think.", "Yes", "complete")


def test_an_older_end_event_without_reasoning_keeps_what_the_chunks_built():
    m = fold(STARTED, chunk(0, "hmm", True))
    stopped = lifecycle.evolve(m, 9, ev(GenerationCancelled, partial_content=""))
    assert (stopped.reasoning, stopped.status) == ("hmm", "cancelled")


def test_a_restarted_attempt_drops_the_earlier_reasoning():
    m = fold(STARTED, chunk(0, "old thought", True), ev(GenerationRestarted, attempt=2))
    assert (m.reasoning, m.content, m.completion_tokens) == ("", "", None)
    m = lifecycle.evolve(m, 20, chunk(0, "new thought", True, attempt=2))
    assert m.reasoning == "new thought"


def test_the_terminal_event_alone_carries_the_reasoning():
    end = ev(GenerationCompleted, content="Yes", reasoning="Because.", llm_provider="local", llm_model="m")
    assert lifecycle.ended(end, 5).reasoning == "Because."


def test_the_uis_lifecycle_cases_are_current():
    # The web UI's reducer is tested against these (web/test/lifecycle.test.ts): the fold, as it is now.
    assert lifecycle_cases.CASES_PATH.read_text() == lifecycle_cases.render(), (
        "run `python -m tests.support.lifecycle_cases` (or `just wire`) and commit the result"
    )


def test_the_uis_lifecycle_fold_is_current():
    # conversation.ts folds frames with this module: the rules of events/lifecycle.py, compiled.
    assert wire.LIFECYCLE_PATH.read_text() == wire.lifecycle_module(), (
        "run `python -m services.edge.wire` (or `just wire`) and commit src/wire/lifecycle.ts"
    )
