"""The answer lifecycle's cases (and the session's) for the web UI's reducer: each case is a session's events as the
socket frames the edge sends for them (``frames.frame_of``) and, after each frame, the messages as
the one fold (``events.lifecycle``) has them. The UI's test (``web/test/lifecycle.test.ts``)
feeds the frames to ``conversation.reduce`` (from nothing, and after a REST read mid-answer) and
must arrive at the same messages: the reducer runs the fold's rules compiled to TypeScript
(``src/wire/lifecycle.ts``), and these cases check the compiled code and what the reducer adds
(seq and chunk-index checks, REST merges) against the Python fold.

``python -m tests.support.lifecycle_cases`` (run by ``just wire``) writes ``CASES_PATH``;
``tests/test_lifecycle.py`` fails when the committed file is stale.
"""

from __future__ import annotations

import json
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import msgspec

from events import lifecycle
from events.model import ChatMessage
from events.schema import (
    ChatEvent,
    GenerationCancelled,
    GenerationCancelRequested,
    GenerationChunk,
    GenerationCompleted,
    GenerationFailed,
    GenerationRequested,
    GenerationRestarted,
    GenerationStarted,
    MessageSubmitted,
    SessionCreated,
    SessionSettings,
    SessionUpdated,
    Timings,
    Usage,
)
from services.edge import frames

CASES_PATH = Path(__file__).parents[2] / "services/edge/web/test/lifecycle.cases.json"

# What the reducer must agree on with the fold. (``updated_at`` is left out: the UI does not
# move it per token; ``sibling_ids`` only REST reads fill.)
FIELDS = (
    "status",
    "is_streaming",
    "content",
    "reasoning",
    "attempt",
    "llm_provider",
    "llm_model",
    "error_kind",
    "error_message",
    "completion_tokens",
    "tokens_used",
    "response_time_ms",
    "last_seq",
    "reply_to",
    "created_at",
    "metadata",
    "prompt_tokens",
    "time_to_first_token_ms",
    "parent_id",
    "client_message_id",
)

SID, USER, QID, AID = "s-1", "u-1", "q-1", "a-1"
READ_AT = 4  # a REST read mid-answer (after its first chunk), as the projection has it; frames follow
T0 = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


class _Script:
    """Events of one answer, numbered and dated in order (deterministic: ids and times are fixed)."""

    def __init__(self) -> None:
        self.events: list[ChatEvent] = []

    def add(self, kind: type, **fields: Any) -> _Script:
        n = len(self.events)
        if "message_id" in kind.__struct_fields__:
            fields.setdefault("message_id", AID)
        self.events.append(
            kind(
                event_id=f"e-{n}",
                occurred_at=T0 + timedelta(milliseconds=10 * n),
                session_id=SID,
                user_id=USER,
                **fields,
            )
        )
        return self

    def asked(self, **request: Any) -> _Script:
        self.add(MessageSubmitted, message_id=QID, content="hi", client_message_id="c-1")
        return self.add(GenerationRequested, prompt_message_id=QID, **request)

    def started(self, attempt: int = 1) -> _Script:
        return self.add(GenerationStarted, llm_provider="local", llm_model="scripted", attempt=attempt)

    def chunks(self, *deltas: str, attempt: int = 1, first: int = 0, reasoning: bool = False) -> _Script:
        for i, delta in enumerate(deltas, first):
            self.add(
                GenerationChunk,
                attempt=attempt,
                index=i,
                token_index=i,
                token_count=1,
                delta=delta,
                reasoning=reasoning,
            )
        return self


def _ends() -> dict[str, Any]:
    return {"created_at": T0, "reply_to": QID, "timings": Timings(time_to_first_token_ms=5, total_ms=40)}


def scripts() -> dict[str, list[ChatEvent]]:
    names = ("completed", "failed", "cancelled", "restarted", "unanswered", "taken over")
    s = {name: _Script().asked() for name in names}
    s["completed"] = _Script().asked(regenerate=True)  # a second answer to the prompt: marked in metadata
    s["completed"].started().chunks("thinking", reasoning=True).chunks("Hel", "lo", first=1).add(
        GenerationCompleted,
        content="Hello",
        reasoning="thinking",
        llm_provider="local",
        llm_model="scripted",
        usage=Usage(prompt_tokens=4, completion_tokens=3),
        chunk_count=3,
        finish_reason="stop",
        **_ends(),
    )
    # An end event without reasoning: what the chunks built stays.
    s["failed"].started().chunks("hmm", reasoning=True).chunks("Par", "tial", first=1).add(
        GenerationFailed,
        error_kind="provider_error",
        error_message="local failed mid-stream",
        partial_content="Partial",
        llm_provider="local",
        llm_model="scripted",
        usage=Usage(completion_tokens=2, reported=False),
        chunk_count=2,
        **_ends(),
    )
    # An older end event (no usage, timings, created_at or reply_to): what the answer held stays.
    s["cancelled"].started().chunks("Stop", "ped").add(GenerationCancelRequested).add(
        GenerationCancelled, partial_content="Stopped", llm_provider="local", llm_model="scripted"
    )
    # A second worker took over: the first attempt's text is void, and its late chunk ignored.
    s["restarted"].started().chunks("void").add(GenerationRestarted, attempt=2, reason="delivery 2").started(2)
    s["restarted"].chunks("kept", attempt=2).chunks("late", first=1).add(
        GenerationCompleted,
        content="kept",
        llm_provider="local",
        llm_model="scripted",
        attempt=2,
        usage=Usage(prompt_tokens=4, completion_tokens=1),
        chunk_count=1,
        **_ends(),
    )
    # No provider answered: the end comes without a start or any text.
    s["unanswered"].add(
        GenerationFailed,
        error_kind="provider_unavailable",
        error_message="local: connection refused",
        partial_content="",
        **_ends(),
    )
    # Another worker's chunk before any restart (its text starts afresh), then a bare end (no text,
    # provider or usage: the answer keeps what it held), then a late end (the first end wins).
    s["taken over"].started().chunks("void").chunks("new", attempt=2).add(GenerationCancelled).add(
        GenerationCompleted, content="late", llm_provider="other", llm_model="other", **_ends()
    )
    return {name: script.events for name, script in s.items()}


def _fold(messages: dict[str, ChatMessage], seq: int, event: ChatEvent) -> None:
    match event:
        case MessageSubmitted():
            messages[event.message_id] = lifecycle.user_message(event, seq)
        case GenerationRequested():
            messages[event.message_id] = lifecycle.answer(event, seq)
        case GenerationCancelRequested():
            pass  # asks the worker; the answer changes when it ends
        case _:
            held = messages[event.message_id]
            messages[event.message_id] = lifecycle.evolve(held, seq, event) or held


def cases() -> list[dict[str, Any]]:
    out = []
    for name, events in scripts().items():
        messages: dict[str, ChatMessage] = {}
        steps = []
        read_at = min(READ_AT, len(events) - 1)
        for seq, event in enumerate(events, 1):
            _fold(messages, seq, event)
            expected = {mid: {f: getattr(m, f) for f in FIELDS} for mid, m in messages.items()}
            steps.append({"frame": frames.for_event(event, seq), "messages": expected})
            if seq == read_at:
                read = {"seq": seq, "messages": list(messages.values())}
        out.append({"name": name, "steps": steps, "read": read})
    return out


# The session a conversation holds: created whole, then patched (``settings`` replaced whole).
SESSION_FIELDS = ("id", "title", "llm_provider", "llm_model", "settings", "updated_at", "last_seq")


def session_case() -> list[dict[str, Any]]:
    script = _Script()
    script.add(SessionCreated, title="New chat", llm_provider="local", llm_model="scripted")
    script.add(SessionUpdated, title="Renamed")
    script.add(SessionUpdated, settings=SessionSettings(temperature=0.2, max_tokens=50))
    script.add(SessionUpdated, llm_provider="openrouter", llm_model="x/y", settings=SessionSettings(top_p=0.5))
    steps, held = [], None
    for seq, event in enumerate(script.events, 1):
        if isinstance(event, SessionCreated):
            held = lifecycle.session(event, seq)
        else:
            held = lifecycle.session_updated(held, seq, event)
        steps.append({"frame": frames.for_event(event, seq), "session": {f: getattr(held, f) for f in SESSION_FIELDS}})
    return steps


def render() -> str:
    body = {
        "description": "Generated by `python -m tests.support.lifecycle_cases` from events.lifecycle and services.edge.frames.",
        "fields": list(FIELDS),
        "cases": cases(),
        "session": session_case(),
    }
    # Through msgspec: times as the socket sends them (RFC 3339).
    return json.dumps(json.loads(msgspec.json.encode(body)), indent=1, sort_keys=True) + "\n"


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else CASES_PATH
    target.write_text(render())
