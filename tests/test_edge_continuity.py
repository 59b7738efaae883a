"""Deltas of one attempt are passed on only without a hole; a new attempt starts over."""

from __future__ import annotations

from datetime import UTC, datetime

from events.schema import GenerationCompleted, GenerationDelta, GenerationRestarted, GenerationStarted
from services.edge.continuity import Continuity

AT = datetime(2026, 1, 1, tzinfo=UTC)
BASE = {"session_id": "s", "user_id": "u", "occurred_at": AT}


def delta(index: int, attempt: int = 1, mid: str = "m") -> GenerationDelta:
    return GenerationDelta(
        session_id="s", message_id=mid, attempt=attempt, index=index, token_index=index, delta="x", occurred_at=AT
    )


def started(attempt: int) -> GenerationStarted:
    return GenerationStarted(
        **BASE, event_id=f"st{attempt}", message_id="m", llm_provider="p", llm_model="m", attempt=attempt
    )


def restarted(attempt: int) -> GenerationRestarted:
    return GenerationRestarted(**BASE, event_id=f"re{attempt}", message_id="m", attempt=attempt)


def admitted(events) -> list:
    continuity = Continuity()
    return [(getattr(e, "attempt", None), getattr(e, "index", type(e).__name__)) for e in events if continuity.admit(e)]


def test_an_unbroken_attempt_passes_whole():
    assert admitted([started(1), delta(0), delta(1), delta(2)]) == [(1, "GenerationStarted"), (1, 0), (1, 1), (1, 2)]


def test_after_a_hole_the_attempt_pauses_until_the_next_one_starts_over():
    # Chunks 1 and 2 were lost with nats-server: 3.. are held back; attempt 2 is passed whole.
    events = [started(1), delta(0), delta(3), delta(4), restarted(2), started(2), delta(0, 2), delta(1, 2)]
    assert admitted(events) == [
        (1, "GenerationStarted"),
        (1, 0),
        (2, "GenerationRestarted"),
        (2, "GenerationStarted"),
        (2, 0),
        (2, 1),
    ]


def test_repeats_and_a_void_attempts_stragglers_are_held_back():
    events = [delta(0), delta(1), delta(1), restarted(2), delta(2, 1), delta(0, 2), delta(0, 2)]
    assert admitted(events) == [(1, 0), (1, 1), (2, "GenerationRestarted"), (2, 0)]


def test_a_new_attempt_must_start_at_its_first_delta():
    assert admitted([delta(0), delta(1, 2), delta(2, 2)]) == [(1, 0)]


def test_a_reader_that_joins_midway_starts_where_it_joined():
    assert admitted([delta(7), delta(8), delta(5, mid="n"), delta(6, mid="n")]) == [(1, 7), (1, 8), (1, 5), (1, 6)]


def test_an_ended_answer_is_forgotten():
    continuity = Continuity()
    assert continuity.admit(delta(0)) and not continuity.admit(delta(2))
    end = GenerationCompleted(**BASE, event_id="c", message_id="m", content="x", llm_provider="p", llm_model="m")
    assert continuity.admit(end)
    assert continuity.admit(delta(2))  # what it knew of the answer is gone: a reader joining midway
