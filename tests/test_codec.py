"""The event contract: every event round-trips; anything else is rejected with a clear error."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import jsonschema
import msgspec
import pytest

from events import codec, subjects
from events.errors import EventDecodeError
from events.schema import (
    EVENT_TYPES,
    GenerationCancelRequested,
    GenerationChunk,
    GenerationCompleted,
    GenerationDelta,
    GenerationFailed,
    GenerationRequested,
    GenerationStarted,
    MessageSubmitted,
    SessionCreated,
    SessionDeleted,
    SessionSettings,
    Timings,
    TypingIndicator,
    Usage,
    type_tag,
)
from services.edge import commands
from services.generation import answer
from services.generation.coalescer import Chunk

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
    assert codec.decode(json.dumps(raw).encode(), subjects.for_event(event)) == event


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
        # Lean events may leave both out (the subject, the Nats-Msg-Id header); old ones have them.
        assert {"occurred_at", "user_id"} <= set(definition["required"])
        assert not {"event_id", "session_id"} & set(definition["required"])
        assert {"event_id", "session_id"} <= set(definition["properties"])
    # A schema consumers can use as-is: valid JSON, and the event JSON, old and lean, validates.
    validator = jsonschema.Draft202012Validator(msgspec.json.decode(msgspec.json.encode(schema)))
    for stored in _old_stream(BEFORE_LEAN) + _old_stream(BEFORE_DELTAS):
        validator.validate(json.loads(stored["data"]))
    for event_type in EVENT_TYPES:
        validator.validate(json.loads(codec.encode(codec.make(event_type, **BASE, **SAMPLES[type_tag(event_type)]))))


# -- the lean permanent envelope (issue 17) ---------------------------------------------------------

DATA = Path(__file__).parent / "data"
BEFORE_LEAN = DATA / "stream_before_lean.jsonl"  # commit 820e6d2: full envelopes, with deltas
BEFORE_DELTAS = DATA / "stream_before_deltas.jsonl"  # commit 532bc38: full envelopes, chunks


def _old_stream(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.mark.parametrize("path", [BEFORE_LEAN, BEFORE_DELTAS], ids=lambda p: p.stem)
def test_events_stored_before_decode_as_they_always_did(path):
    """The full envelope (every id, null and default in the body) still decodes, and its ids are
    the body's own; the Nats-Msg-Id header names the same event."""
    stored = _old_stream(path)
    for m in stored:
        raw = json.loads(m["data"])
        event = codec.decode(m["data"].encode(), m["subject"])
        if raw["type"] != "generation.delta":
            assert (event.event_id, event.session_id) == (raw["event_id"], raw["session_id"])
            assert codec.decode(m["data"].encode()) == event  # no subject needed for a full envelope
            assert m["headers"]["Nats-Msg-Id"] == event.event_id
        assert subjects.for_event(event) == m["subject"]
    assert {m["subject"].rsplit(".", 2)[-2] for m in stored} == {"session", "message", "generation"}


@pytest.mark.parametrize("path", [BEFORE_LEAN, BEFORE_DELTAS], ids=lambda p: p.stem)
def test_recorded_events_written_lean_decode_to_the_same_events(path):
    """Every event a real worker and edge path recorded, if written today, is smaller and decodes
    to the very same event: ids derived again equal the stored ones (and the Nats-Msg-Id)."""
    dropped = 0
    for m in _old_stream(path):
        event = codec.decode(m["data"].encode(), m["subject"])
        lean = codec.encode(event)
        assert codec.decode(lean, m["subject"]) == event
        if type(event) is not GenerationDelta:
            assert len(lean) < len(m["data"].encode())
            dropped += "event_id" not in json.loads(lean)
    assert dropped >= 8  # started and ends of four answers at least


def _exchange(cmid: str | None = "c-7") -> list:
    """One exchange as the edge and a generation worker make it: send, request, start, a chunk, end."""
    limits = commands.Limits(max_message_bytes=10_000, default_provider="local", default_models={"local": "m"})
    sent = commands.decide(commands.SendMessage(session_id="s-9", content="hi", client_message_id=cmid), "u-1", limits)
    request = sent[1]
    state, events = answer.Answer.of(request), list(sent)
    usage, timings = Usage(completion_tokens=1, reported=True), Timings(time_to_first_token_ms=5, total_ms=9)
    for command in (
        answer.Start("local", "m", "w-1"),
        answer.AddChunk(Chunk(0, 0, 1, "yo")),
        answer.Complete("local", "m", usage, timings, "stop", "AQk"),
    ):
        for event in answer.decide(state, command):
            state = answer.evolve(state, event)
            events.append(event)
    return events


def test_the_permanent_wire_leaves_out_what_the_subject_and_the_ids_repeat():
    """Written by today's producers: no session_id (the subject names it), no event_id the event
    determines (the Nats-Msg-Id header still carries it), no field at its default; decoding with
    the subject gives back the very same events."""
    events = _exchange()
    for event in events:
        data, subject = codec.encode(event), subjects.for_event(event)
        raw = json.loads(data)
        assert "session_id" not in raw, raw
        assert ("event_id" in raw) == (type(event) is GenerationRequested), raw
        assert codec.decode(data, subject) == event
        if type(event) is not GenerationDelta:
            assert codec.headers(event) == {"Nats-Msg-Id": event.event_id}
        with pytest.raises(EventDecodeError, match="subject"):
            codec.decode(data)
    submitted, requested, started, _, completed = (json.loads(codec.encode(e)) for e in events)
    assert set(submitted) == {"type", "message_id", "content", "client_message_id", "occurred_at", "user_id"}
    # A request's id comes from the client's key, which the event does not hold: it stays.
    assert set(requested) == {"type", "message_id", "prompt_message_id", "event_id", "occurred_at", "user_id"}
    assert set(started) == {"type", "message_id", "llm_provider", "llm_model", "worker_id", "occurred_at", "user_id"}
    assert completed["usage"] == {"completion_tokens": 1, "reported": True}
    assert not {"attempt", "context_dropped", "reasoning", "event_id"} & set(completed)


def test_ids_that_are_random_or_not_the_derived_one_stay_in_the_body():
    events = _exchange(cmid=None)  # the edge picks a random key: the message's id cannot be derived
    assert "event_id" in json.loads(codec.encode(events[0]))
    for event_type, fields in [
        (SessionCreated, SAMPLES["session.created"]),
        (GenerationStarted, {"message_id": "a-1", "llm_provider": "p", "llm_model": "m"}),  # a random id
    ]:
        event = codec.make(event_type, **BASE, **fields)
        raw = json.loads(codec.encode(event))
        assert raw["event_id"] == event.event_id
        assert codec.decode(codec.encode(event), subjects.for_event(event)) == event


def test_derivable_ids_of_stop_and_delete_are_left_out():
    stop = commands.decide(commands.Cancel(session_id="s-9", message_id="a-1"), "u-1", None)[0]
    gone = commands.decide(commands.DeleteSession(session_id="s-9"), "u-1", None)[0]
    for event in (stop, gone):
        assert isinstance(event, GenerationCancelRequested | SessionDeleted)
        data = codec.encode(event)
        assert "event_id" not in json.loads(data)
        assert codec.decode(data, subjects.for_event(event)).event_id == event.event_id


def test_a_lean_event_without_an_id_that_can_be_derived_is_rejected():
    raw = {"type": "session.created", "title": "t", "llm_provider": "p", "llm_model": "m", "user_id": "u"}
    raw["occurred_at"] = "2026-01-01T00:00:00Z"
    with pytest.raises(EventDecodeError, match="event_id"):
        codec.decode(json.dumps(raw).encode(), "parley.chat.s-1.session.created")


def test_an_event_without_ids_is_not_encoded():
    with pytest.raises(ValueError, match="event_id"):
        codec.encode(SessionDeleted(occurred_at=BASE["occurred_at"], session_id="s-1", user_id="u"))
    with pytest.raises(ValueError, match="session_id"):
        codec.encode(SessionDeleted(event_id="e", occurred_at=BASE["occurred_at"], user_id="u"))
