"""The event contract: every event round-trips; anything else is rejected with a clear error."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest

from events import codec, subjects
from events.errors import EventDecodeError
from events.schema import (
    EVENT_TYPES,
    GenerationChunk,
    GenerationCompleted,
    GenerationDelta,
    GenerationFailed,
    MessageSubmitted,
    SessionCreated,
    SessionSettings,
    Timings,
    TypingIndicator,
    Usage,
    type_tag,
)

BASE = {"session_id": "s-1", "user_id": "u-1", "occurred_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)}

SAMPLES = {
    "session.created": {
        "title": "t",
        "llm_provider": "local",
        "llm_model": "m",
        "settings": SessionSettings(system_prompt="be brief", temperature=0.2),
    },
    "session.updated": {"title": "renamed"},
    "session.deleted": {},
    "message.submitted": {"message_id": "m-1", "content": "héllo <b>", "client_message_id": "c-1"},
    "generation.requested": {"message_id": "a-1", "prompt_message_id": "m-1", "llm_model": "x", "regenerate": True},
    "generation.started": {"message_id": "a-1", "llm_provider": "local", "llm_model": "m", "attempt": 2},
    "generation.restarted": {"message_id": "a-1", "attempt": 2, "reason": "worker lost"},
    "generation.chunk": {
        "message_id": "a-1",
        "attempt": 1,
        "index": 3,
        "token_index": 7,
        "token_count": 2,
        "delta": "lo",
    },
    "generation.delta": {"message_id": "a-1", "attempt": 2, "index": 3, "token_index": 7, "delta": "lo"},
    "generation.completed": {
        "message_id": "a-1",
        "content": "hello",
        "llm_provider": "local",
        "llm_model": "m",
        "usage": Usage(prompt_tokens=5, completion_tokens=2, reported=True),
        "timings": Timings(time_to_first_token_ms=12, total_ms=40),
        "chunk_count": 2,
    },
    "generation.failed": {
        "message_id": "a-1",
        "error_kind": "provider_error",
        "error_message": "boom",
        "partial_content": "hel",
    },
    "generation.cancel_requested": {"message_id": "a-1"},
    "generation.cancelled": {"message_id": "a-1", "partial_content": "he"},
}


def test_samples_cover_every_event_type():
    assert set(SAMPLES) == {type_tag(t) for t in EVENT_TYPES}


@pytest.mark.parametrize("event_type", EVENT_TYPES, ids=type_tag)
def test_every_event_round_trips(event_type):
    event = codec.make(event_type, **BASE, **SAMPLES[type_tag(event_type)])
    data = codec.encode(event)
    assert json.loads(data)["type"] == type_tag(event_type)
    assert codec.decode(data, subjects.for_event(event)) == event


def test_every_event_carries_the_common_ids():
    for event_type in EVENT_TYPES:
        fields = set(event_type.__struct_fields__)
        assert {"event_id", "occurred_at", "session_id", "user_id"} <= fields, event_type
        if type_tag(event_type).startswith(("generation.", "message.")):
            assert "message_id" in fields, event_type


def test_make_fills_id_and_time():
    a = codec.make(SessionCreated, session_id="s", user_id="u", title="t", llm_provider="p", llm_model="m")
    b = codec.make(SessionCreated, session_id="s", user_id="u", title="t", llm_provider="p", llm_model="m")
    assert a.event_id != b.event_id
    assert a.occurred_at.tzinfo is not None


def test_derived_ids_are_stable_and_distinct():
    assert codec.derived_id("s", "c-1") == codec.derived_id("s", "c-1")
    assert codec.derived_id("s", "c-1") != codec.derived_id("s", "c-2")
    assert codec.derived_id("s", "c-1") != codec.derived_id("s-c", "-1")


def test_headers_carry_the_event_id_for_dedup():
    event = codec.make(GenerationFailed, **BASE, message_id="a", error_kind="timeout", error_message="slow")
    assert codec.headers(event) == {"Nats-Msg-Id": event.event_id}


def _delta(**fields) -> GenerationDelta:
    values = {"session_id": "s-1", "message_id": "a-1", "index": 4, "token_index": 9, "delta": " wo"}
    return GenerationDelta(occurred_at=datetime(2026, 11, 30, 16, 2, 44, 123456, tzinfo=UTC), **{**values, **fields})


def test_a_delta_is_a_chunk_with_a_lean_wire():
    delta = _delta()
    assert isinstance(delta, GenerationChunk) and delta.attempt == 1 and delta.token_count == 1
    raw = json.loads(codec.encode(delta))
    # short keys, defaults and derivable ids left out, the session named by the subject only
    assert raw == {
        "type": "generation.delta",
        "m": "a-1",
        "i": 4,
        "t": 9,
        "d": " wo",
        "at": "2026-11-30T16:02:44.123456Z",
    }
    assert codec.headers(delta) is None
    assert subjects.for_event(delta) == "parley.chat.s-1.generation.delta"


def test_a_delta_takes_its_session_from_the_subject():
    data = codec.encode(_delta(attempt=2, token_count=3))
    decoded = codec.decode(data, "parley.chat.s-1.generation.delta")
    assert decoded == _delta(attempt=2, token_count=3) and decoded.session_id == "s-1"
    with pytest.raises(EventDecodeError, match="subject"):
        codec.decode(data)
    with pytest.raises(EventDecodeError, match="subject"):
        codec.decode(data, "elsewhere")


def test_decoder_rejects_unknown_type():
    data = json.dumps(
        {
            "type": "session.exploded",
            "event_id": "e",
            "occurred_at": "2026-01-01T00:00:00Z",
            "session_id": "s",
            "user_id": "u",
        }
    ).encode()
    with pytest.raises(EventDecodeError, match=r"session\.exploded"):
        codec.decode(data)


def test_decoder_rejects_missing_field():
    event = codec.make(MessageSubmitted, **BASE, message_id="m", content="x")
    raw = json.loads(codec.encode(event))
    del raw["content"]
    with pytest.raises(EventDecodeError, match="content"):
        codec.decode(json.dumps(raw).encode())


def test_decoder_rejects_wrong_type_naming_the_field():
    event = codec.make(
        GenerationChunk, **BASE, message_id="m", attempt=1, index=0, token_index=0, token_count=1, delta="x"
    )
    raw = json.loads(codec.encode(event))
    raw["index"] = "zero"
    with pytest.raises(EventDecodeError, match=r"\$\.index"):
        codec.decode(json.dumps(raw).encode())


@pytest.mark.parametrize("data", [b"", b"not json", b"[1,2]", b'{"type": 3}', b"\xff\xfe"])
def test_decoder_rejects_malformed_bytes(data):
    with pytest.raises(EventDecodeError):
        codec.decode(data)


def test_unknown_extra_fields_are_ignored_for_forward_compatibility():
    event = codec.make(GenerationCompleted, **BASE, message_id="a", content="c", llm_provider="p", llm_model="m")
    raw = json.loads(codec.encode(event))
    raw["added_in_a_later_version"] = {"x": 1}
    assert codec.decode(json.dumps(raw).encode()) == event


def test_typing_indicator_round_trips_and_is_not_a_stored_event():
    t = TypingIndicator(session_id="s", user_id="u", typing=False)
    assert codec.decode_typing(codec.encode(t)) == t
    with pytest.raises(EventDecodeError):
        codec.decode(codec.encode(t))


def test_json_schema_describes_every_event():
    schema = codec.json_schema()
    assert set(schema["types"]) == {type_tag(t) for t in EVENT_TYPES}
    for event_type in EVENT_TYPES:
        definition = schema["$defs"][event_type.__name__]
        if event_type is GenerationDelta:  # the lean wire: ids derived, session in the subject
            assert definition["required"] == ["type", "m", "i", "t", "d", "at"]
            continue
        assert "event_id" in definition["required"]
    # A schema consumers can use as-is: valid JSON, and the event JSON validates against it.
    msgspec.json.decode(msgspec.json.encode(schema))
