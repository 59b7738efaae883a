"""The conversation sent to the model, from the session's events (pure), and reading those events
from a real JetStream (chunks left out by the server)."""

from __future__ import annotations

from datetime import timedelta

from events import codec
from events.schema import (
    GenerationCancelled,
    GenerationCancelRequested,
    GenerationChunk,
    GenerationCompleted,
    GenerationFailed,
    GenerationRequested,
    MessageSubmitted,
    SessionCreated,
    SessionSettings,
    SessionUpdated,
    utcnow,
)
from services import bus
from services.generation import context
from services.generation.context import conversation, fold, is_terminal, unfinished_before

SID, USER = "s1", "u1"


def ev(kind, **fields):
    return codec.make(kind, session_id=SID, user_id=USER, **fields)


def history(*events):
    return fold(SID, list(enumerate(events, 1)))


def turn(qid, question, aid, reply=None, end=GenerationCompleted):
    events = [
        ev(MessageSubmitted, message_id=qid, content=question),
        ev(GenerationRequested, message_id=aid, prompt_message_id=qid),
    ]
    if reply is not None:
        if end is GenerationCompleted:
            events.append(ev(GenerationCompleted, message_id=aid, content=reply, llm_provider="local", llm_model="m"))
        elif end is GenerationCancelled:
            events.append(ev(GenerationCancelled, message_id=aid, partial_content=reply))
        else:
            events.append(
                ev(
                    GenerationFailed,
                    message_id=aid,
                    error_kind="provider_error",
                    error_message="x",
                    partial_content=reply,
                )
            )
    return events


CREATED = ev(
    SessionCreated, title="t", llm_provider="local", llm_model="m", settings=SessionSettings(system_prompt="Be brief.")
)


def test_conversation_has_system_prompt_turns_and_answers_up_to_the_prompt():
    h = history(CREATED, *turn("q1", "one", "a1", "answer one"), *turn("q2", "two", "a2"))
    assert conversation(h, "q2", "a2") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
        {"role": "assistant", "content": "answer one"},
        {"role": "user", "content": "two"},
    ]


def test_regenerating_an_earlier_message_stops_at_it_and_leaves_its_old_answer_out():
    h = history(
        CREATED,
        *turn("q1", "one", "a1", "old answer"),
        *turn("q2", "two", "a2", "answer two"),
        ev(GenerationRequested, message_id="a3", prompt_message_id="q1", regenerate=True),
    )
    assert conversation(h, "q1", "a3") == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "one"},
    ]


def test_the_latest_answer_with_text_wins_and_failed_answers_are_left_out():
    h = history(
        CREATED,
        *turn("q1", "one", "a1", "first"),
        ev(GenerationRequested, message_id="a1b", prompt_message_id="q1", regenerate=True),
        ev(GenerationCompleted, message_id="a1b", content="second", llm_provider="local", llm_model="m"),
        *turn("q2", "two", "a2", "half", end=GenerationCancelled),
        *turn("q3", "three", "a3", "broken", end=GenerationFailed),
        *turn("q4", "four", "a4"),
    )
    assert [m["content"] for m in conversation(h, "q4", "a4")] == [
        "Be brief.",
        "one",
        "second",
        "two",
        "half",
        "three",
        "four",
    ]


def test_max_messages_keeps_the_latest_turns_starting_on_a_user_turn():
    h = history(CREATED, *turn("q1", "one", "a1", "r1"), *turn("q2", "two", "a2", "r2"), *turn("q3", "three", "a3"))
    assert [m["content"] for m in conversation(h, "q3", "a3", max_messages=4)] == ["Be brief.", "two", "r2", "three"]
    assert [m["content"] for m in conversation(h, "q3", "a3", max_messages=2)] == ["Be brief.", "three"]


def test_unknown_prompt_message_gives_none():
    assert conversation(history(CREATED), "nope", "a1") is None


def test_session_updates_replace_settings_and_choice():
    h = history(
        CREATED,
        ev(SessionUpdated, llm_provider="openrouter", llm_model="x/y", settings=SessionSettings(temperature=0.0)),
    )
    assert (h.llm_provider, h.llm_model) == ("openrouter", "x/y")
    assert h.settings == SessionSettings(temperature=0.0)  # replaced whole: no system prompt any more
    h = history(CREATED, ev(SessionUpdated, title="renamed"))
    assert h.settings.system_prompt == "Be brief." and h.llm_model == "m"


def test_unfinished_earlier_answers_are_found_within_the_window():
    h = history(CREATED, *turn("q1", "one", "a1"), *turn("q2", "two", "a2"))
    assert unfinished_before(h, "a2") == ["a1"]
    assert unfinished_before(h, "a1") == []
    assert unfinished_before(h, "a2", since=utcnow() + timedelta(seconds=1)) == []
    h = history(CREATED, *turn("q1", "one", "a1", "done"), *turn("q2", "two", "a2"))
    assert unfinished_before(h, "a2") == [] and is_terminal(h, "a1") and not is_terminal(h, "a2")


def test_first_terminal_event_wins_and_cancel_requests_are_kept():
    h = history(
        CREATED,
        *turn("q1", "one", "a1", "done"),
        ev(GenerationCancelled, message_id="a1", partial_content="late"),
        ev(GenerationCancelRequested, message_id="a9"),
    )
    assert h.answers["a1"].status == "complete" and h.answers["a1"].content == "done"
    assert "a9" in h.cancel_requested


async def test_load_reads_the_session_without_chunks(js):
    events = [CREATED, *turn("q1", "one", "a1")]
    events.append(ev(GenerationChunk, message_id="a1", attempt=1, index=0, token_index=0, token_count=1, delta="x"))
    events.append(ev(GenerationCompleted, message_id="a1", content="x", llm_provider="local", llm_model="m"))
    other = codec.make(MessageSubmitted, session_id="s2", user_id=USER, message_id="q9", content="elsewhere")
    for event in [*events, other]:
        await bus.publish(js, event)
    loaded = await context.load(js, SID)
    assert [type(e) for _, e in loaded] == [SessionCreated, MessageSubmitted, GenerationRequested, GenerationCompleted]
    seqs = [s for s, _ in loaded]
    assert seqs == sorted(seqs)
    assert conversation(fold(SID, loaded), "q1", "a2") is not None
    # the ephemeral consumer is gone afterwards
    names = [c.name for c in await js.consumers_info("PARLEY_CHAT")]
    assert names == []
    assert await context.load(js, "empty-session") == []


def test_reasoning_stays_out_of_the_context_sent_back():
    h = history(
        CREATED,
        ev(MessageSubmitted, message_id="q1", content="one"),
        ev(GenerationRequested, message_id="a1", prompt_message_id="q1"),
        ev(
            GenerationChunk,
            message_id="a1",
            attempt=1,
            index=0,
            token_index=0,
            token_count=2,
            delta="hmm, ",
            reasoning=True,
        ),
        ev(GenerationChunk, message_id="a1", attempt=1, index=1, token_index=2, token_count=1, delta="answer"),
        ev(
            GenerationCompleted,
            message_id="a1",
            content="answer",
            reasoning="hmm, ",
            llm_provider="local",
            llm_model="m",
        ),
        *turn("q2", "two", "a2"),
    )
    sent = conversation(h, "q2", "a2")
    assert [m["content"] for m in sent] == ["Be brief.", "one", "answer", "two"]
    assert "hmm" not in repr(sent)


def long_session(exchanges: int):
    events = [CREATED]
    for i in range(exchanges):
        events += turn(f"q{i}", f"question {i}", f"a{i}", f"answer {i}")
    return history(*events)


def test_a_long_history_is_compacted_to_its_newest_messages_and_their_answers():
    keep = 4
    full = long_session(9)  # more than twice `keep` user messages
    small = context.compact(full, keep)
    assert small.compacted and not full.compacted
    assert [m for m, _ in small.user_messages] == ["q5", "q6", "q7", "q8"]
    assert sorted(small.answers) == ["a5", "a6", "a7", "a8"] and small.answer_order == ("a5", "a6", "a7", "a8")
    assert set(small.parents) == {"q5", "q6", "q7", "q8", "a5", "a6", "a7", "a8"}
    assert context.covers(small, "a8") and not context.covers(small, "a2")
    # the newest answer's context is the same from either copy, as far as the compacted one reaches
    assert conversation(small, "q8", "a9")[-1] == conversation(full, "q8", "a9")[-1]
    assert context.compact(long_session(8), keep).compacted is False  # up to twice `keep`: untouched


def test_a_regeneration_of_a_message_compacted_away_is_not_covered():
    keep = 2
    small = context.compact(long_session(5), keep)
    again = context.evolve(small, ev(GenerationRequested, message_id="a0-again", prompt_message_id="q0"))
    assert "a0-again" in again.answers and not context.covers(again, "a0-again")  # its prompt is gone


def test_a_context_holds_at_most_the_newest_user_messages_of_its_branch():
    limit = context.CONTEXT_USER_MESSAGES
    turns = conversation(long_session(limit + 3), f"q{limit + 2}", "new")
    users = [t["content"] for t in turns if t["role"] == "user"]
    assert len(users) == limit and users[0] == "question 3" and users[-1] == f"question {limit + 2}"
    assert turns[0] == {"role": "system", "content": "Be brief."}
