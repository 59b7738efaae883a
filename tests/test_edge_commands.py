"""services.edge.commands: commands to events, with the limits checked. Pure."""

from __future__ import annotations

import pytest

from events.schema import (
    GenerationCancelRequested,
    GenerationRequested,
    MessageSubmitted,
    SessionCreated,
    SessionDeleted,
    SessionSettings,
    SessionUpdated,
)
from services.edge.commands import (
    Cancel,
    Command,
    CreateSession,
    DeleteSession,
    Limits,
    Regenerate,
    SendMessage,
    UpdateSession,
    decide,
)
from services.edge.errors import Invalid, TooLarge

LIMITS = Limits(max_message_bytes=10, default_provider="local", default_models={"local": "small", "openrouter": "big"})


def test_send_derives_ids_from_the_client_key():
    one = decide(SendMessage(session_id="s", content="hi", client_message_id="k"), "u", LIMITS)
    two = decide(SendMessage(session_id="s", content="hi", client_message_id="k"), "u", LIMITS)
    other = decide(SendMessage(session_id="s2", content="hi", client_message_id="k"), "u", LIMITS)
    submitted, requested = one
    assert isinstance(submitted, MessageSubmitted) and isinstance(requested, GenerationRequested)
    assert [e.event_id for e in one] == [e.event_id for e in two]
    assert (submitted.message_id, requested.message_id) == (two[0].message_id, two[1].message_id)
    assert requested.prompt_message_id == submitted.message_id
    assert submitted.message_id != other[0].message_id, "keys are per session"
    assert len({submitted.event_id, requested.event_id, submitted.message_id, requested.message_id}) == 4


def test_send_without_a_key_is_new_each_time():
    one = decide(SendMessage(session_id="s", content="hi"), "u", LIMITS)
    two = decide(SendMessage(session_id="s", content="hi"), "u", LIMITS)
    assert one[0].message_id != two[0].message_id and one[0].client_message_id is None


@pytest.mark.parametrize(
    "command, error",
    [
        (SendMessage(session_id="s", content="x" * 11), TooLarge),
        (SendMessage(session_id="s", content="éééééé"), TooLarge),  # 12 bytes in UTF-8
        (SendMessage(session_id="s", content=" \n "), Invalid),
        (SendMessage(session_id="s", content="x", client_message_id="k" * 256), Invalid),
        (CreateSession(session_id="s", title="t" * 256), Invalid),
        (CreateSession(session_id="s", llm_provider="nope"), Invalid),
        (CreateSession(session_id="s", settings=SessionSettings(system_prompt="p" * 11)), TooLarge),
        (UpdateSession(session_id="s", llm_model="m" * 256), Invalid),
        (Regenerate(session_id="s", prompt_message_id="m", llm_provider="nope"), Invalid),
    ],
)
def test_limits(command, error):
    with pytest.raises(error):
        decide(command, "u", LIMITS)


def test_session_defaults_follow_the_limits():
    (created,) = decide(CreateSession(session_id="s"), "u", LIMITS)
    assert isinstance(created, SessionCreated)
    assert (created.title, created.llm_provider, created.llm_model, created.user_id) == (
        "New chat",
        "local",
        "small",
        "u",
    )
    (created,) = decide(CreateSession(session_id="s", llm_provider="openrouter"), "u", LIMITS)
    assert created.llm_model == "big"
    (updated,) = decide(UpdateSession(session_id="s", llm_provider="openrouter"), "u", LIMITS)
    assert isinstance(updated, SessionUpdated) and updated.llm_model == "big" and updated.title is None


def test_cancel_and_delete_are_idempotent():
    a = decide(Cancel(session_id="s", message_id="m"), "u", LIMITS)
    b = decide(Cancel(session_id="s", message_id="m"), "u", LIMITS)
    assert isinstance(a[0], GenerationCancelRequested) and a[0].event_id == b[0].event_id
    d1 = decide(DeleteSession(session_id="s"), "u", LIMITS)
    d2 = decide(DeleteSession(session_id="s"), "u", LIMITS)
    assert isinstance(d1[0], SessionDeleted) and d1[0].event_id == d2[0].event_id


def test_regenerate_is_a_new_answer_each_time():
    (one,) = decide(Regenerate(session_id="s", prompt_message_id="m"), "u", LIMITS)
    (two,) = decide(Regenerate(session_id="s", prompt_message_id="m", llm_model="x"), "u", LIMITS)
    assert one.regenerate and one.message_id != two.message_id and two.llm_model == "x"


def test_unknown_command_is_a_type_error():
    with pytest.raises(TypeError):
        decide(Command(), "u", LIMITS)


def test_models_outside_the_allowlist_are_refused():
    limits = Limits(
        max_message_bytes=100,
        default_provider="local",
        default_models={"local": "small"},
        allowed_models={"local": ("small", "big")},
    )
    decide(CreateSession(session_id="s", llm_model="big"), "u", limits)
    decide(CreateSession(session_id="s", llm_provider="openrouter", llm_model="any/model"), "u", limits)
    for command in (
        CreateSession(session_id="s", llm_model="huge"),
        UpdateSession(session_id="s", llm_model="huge", current_provider="local"),
        Regenerate(session_id="s", prompt_message_id="p", llm_provider="local", llm_model="huge"),
    ):
        with pytest.raises(Invalid, match="not allowed") as refused:
            decide(command, "u", limits)
        assert refused.value.field == "llm_model"
    decide(UpdateSession(session_id="s", llm_model="huge", current_provider="openrouter"), "u", limits)
