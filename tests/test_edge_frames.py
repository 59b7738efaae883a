"""services.edge.frames: every event becomes a frame of the plan's WebSocketMessage shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import msgspec
import pytest

from events import codec
from events.model import ChatMessage
from events.schema import (
    EVENT_TYPES,
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
    SessionSettings,
    SessionUpdated,
    Timings,
    Usage,
)
from services.edge import frames

T0 = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
CHAT_MESSAGE_FIELDS = {
    # the plan's ChatMessage
    "id", "session_id", "role", "content", "created_at", "updated_at", "is_streaming", "llm_provider",
    "llm_model", "response_time_ms", "tokens_used", "error_message", "metadata",
    # extensions (docs/protocol.md)
    "status", "reply_to", "client_message_id", "time_to_first_token_ms", "prompt_tokens", "completion_tokens",
    "error_kind", "attempt", "last_seq", "parent_id", "sibling_ids", "reasoning",
}  # fmt: skip

SID, MID, AID, USER = "s-1", "m-1", "a-1", "alice"


def ev(event_type, **fields):
    return codec.make(event_type, session_id=SID, user_id=USER, occurred_at=T0, **fields)


ONE_OF_EACH = [
    ev(SessionCreated, title="t", llm_provider="local", llm_model="m", settings=SessionSettings(temperature=0.5)),
    ev(SessionUpdated, title="new"),
    ev(SessionDeleted),
    ev(MessageSubmitted, message_id=MID, content="hi", client_message_id="c1"),
    ev(GenerationRequested, message_id=AID, prompt_message_id=MID),
    ev(GenerationStarted, message_id=AID, llm_provider="local", llm_model="m"),
    ev(GenerationRestarted, message_id=AID, attempt=2, reason="worker lost"),
    ev(GenerationChunk, message_id=AID, attempt=2, index=0, token_index=0, token_count=2, delta="he"),
    ev(GenerationCancelRequested, message_id=AID),
    ev(
        GenerationCompleted,
        message_id=AID,
        content="hello",
        llm_provider="local",
        llm_model="m",
        attempt=2,
        usage=Usage(prompt_tokens=3, completion_tokens=2, reported=True),
        timings=Timings(time_to_first_token_ms=12, total_ms=40),
        finish_reason="stop",
        chunk_count=1,
        created_at=T0,  # the request's time and prompt, carried by the end for readers
        reply_to=MID,
    ),
    ev(GenerationFailed, message_id=AID, error_kind="timeout", error_message="slow", partial_content="he"),
    ev(GenerationCancelled, message_id=AID, partial_content="he"),
    GenerationDelta(
        session_id=SID, occurred_at=T0, message_id=AID, attempt=2, index=0, token_index=0, token_count=2, delta="he"
    ),
]


def test_every_event_type_has_a_frame():
    assert {type(e) for e in ONE_OF_EACH} == set(EVENT_TYPES)
    for seq, event in enumerate(ONE_OF_EACH, start=1):
        frame = frames.for_event(event, seq)
        assert set(frame) == {"session_id", "message_id", "type", "data", "seq"}
        assert frame["session_id"] == SID and frame["seq"] == seq
        assert isinstance(frame["message_id"], str)
        assert frame["type"] in {"newMessage", "messageUpdate", "connectionStatus"}
        json.loads(frames.encode(frame))  # JSON all the way down


def test_user_message_and_pending_answer_are_chat_messages():
    user = frames.for_event(ONE_OF_EACH[3], 10)
    assert user["type"] == "newMessage" and user["message_id"] == MID
    assert set(user["data"]) == CHAT_MESSAGE_FIELDS
    assert (user["data"]["role"], user["data"]["status"], user["data"]["client_message_id"]) == (
        "user",
        "complete",
        "c1",
    )
    answer = frames.for_event(ONE_OF_EACH[4], 11)["data"]
    assert set(answer) == CHAT_MESSAGE_FIELDS
    assert (answer["role"], answer["status"], answer["is_streaming"], answer["content"]) == (
        "assistant",
        "pending",
        True,
        "",
    )
    assert answer["reply_to"] == MID and answer["last_seq"] == 11


def test_token_frame_carries_both_counters():
    data = frames.for_event(ONE_OF_EACH[7], 20)["data"]
    assert data == {"event": "token", "delta": "he", "index": 0, "token_index": 0, "token_count": 2, "attempt": 2}
    # an old chunk and a new delta with the same content make the same frame
    assert frames.for_event(ONE_OF_EACH[-1], 20) == frames.for_event(ONE_OF_EACH[7], 20)


def test_a_reasoning_chunk_says_so_in_its_token_frame():
    chunk = msgspec.structs.replace(ONE_OF_EACH[7], reasoning=True)
    data = frames.for_event(chunk, 20)["data"]
    assert data["reasoning"] is True and data["delta"] == "he"


def test_final_messages_keep_usage_timings_and_partial_text():
    done = frames.for_event(ONE_OF_EACH[9], 30)["data"]
    assert done["event"] == "completed"
    message = done["message"]
    assert set(message) == CHAT_MESSAGE_FIELDS
    assert (message["content"], message["status"], message["tokens_used"], message["reply_to"]) == (
        "hello",
        "complete",
        5,
        MID,
    )
    assert (message["response_time_ms"], message["time_to_first_token_ms"], message["attempt"]) == (40, 12, 2)
    assert message["metadata"]["finish_reason"] == "stop"
    failed = frames.for_event(ONE_OF_EACH[10], 31)["data"]
    assert (failed["error_kind"], failed["partial_content"]) == ("timeout", "he")
    assert (failed["message"]["status"], failed["message"]["content"], failed["message"]["error_kind"]) == (
        "failed",
        "he",
        "timeout",
    )
    cancelled = frames.for_event(ONE_OF_EACH[11], 32)["data"]
    assert (cancelled["message"]["status"], cancelled["message"]["content"]) == ("cancelled", "he")
    assert frames.is_terminal(ONE_OF_EACH[11]) and not frames.is_terminal(ONE_OF_EACH[7])


def test_session_frames():
    created = frames.for_event(ONE_OF_EACH[0], 1)["data"]
    assert created["status"] == "session_updated"
    assert created["session"]["settings"] == {
        "system_prompt": None,
        "temperature": 0.5,
        "top_p": None,
        "max_tokens": None,
    }
    updated = frames.for_event(ONE_OF_EACH[1], 2)["data"]["session"]
    assert updated == {"id": SID, "updated_at": T0, "last_seq": 2, "title": "new"}
    assert frames.for_event(ONE_OF_EACH[2], 3)["data"] == {"status": "session_deleted"}


def test_chat_message_refuses_unknown_fields():
    with pytest.raises(TypeError):
        ChatMessage(id=MID, session_id=SID, role="user", colour="red")


def test_same_event_same_frame():
    event = ONE_OF_EACH[7]
    assert frames.encode(frames.for_event(event, 5)) == frames.encode(frames.for_event(event, 5))
