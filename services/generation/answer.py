"""One answer as a pure state machine: ``opening`` decides what a delivered prompt calls for,
``decide(state, command)`` gives the events a command produces, ``evolve(state, event)`` applies
them. The rules that pick the commands (provider choice, failover, usage) are in ``policy``; the
responder only loads, decides and publishes.

Event ids derive from (answer, attempt, kind, index): a retried publish is stored once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import msgspec
from msgspec.structs import replace

from events import codec
from events.model import TERMINAL, Status
from events.schema import (
    ErrorKind,
    Event,
    GenerationCancelled,
    GenerationChunk,
    GenerationCompleted,
    GenerationDelta,
    GenerationFailed,
    GenerationRequested,
    GenerationRestarted,
    GenerationStarted,
    Timings,
    Usage,
    utcnow,
)
from services.generation.coalescer import Chunk
from services.generation.context import History, is_terminal

# -- what a delivery calls for ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class AlreadyEnded:
    """A terminal event for this answer is stored (a worker died after it, before the ack)."""


@dataclass(frozen=True, slots=True)
class CancelledEarly:
    """The user cancelled before any worker began: no provider call."""


@dataclass(frozen=True, slots=True)
class Rejected:
    kind: ErrorKind
    message: str


@dataclass(frozen=True, slots=True)
class Begin:
    attempt: int
    restarted: bool  # an earlier delivery may have streamed text that is now void


Opening = AlreadyEnded | CancelledEarly | Rejected | Begin


def opening(history: History, request: GenerationRequested, num_delivered: int) -> Opening:
    if request.imported or is_terminal(history, request.message_id):
        return AlreadyEnded()  # an imported answer's end is stored with it: nothing to generate
    if request.message_id in history.cancel_requested:
        return CancelledEarly()
    if not history.exists:
        return Rejected("bad_request", f"session {request.session_id} has no session.created event")
    if history.deleted:
        return Rejected("bad_request", f"session {request.session_id} is deleted")
    if request.prompt_message_id not in {mid for mid, _ in history.user_messages}:
        return Rejected("bad_request", f"prompt message {request.prompt_message_id} is not in the session")
    return Begin(attempt=max(1, num_delivered), restarted=num_delivered > 1)


# -- one answer ---------------------------------------------------------------------------------------


class Answer(msgspec.Struct, frozen=True):
    """A msgspec struct, not a dataclass: every chunk replaces it, and ``dataclasses.replace`` of a
    frozen dataclass of these fifteen fields costs ~5× more."""

    session_id: str
    user_id: str
    message_id: str
    attempt: int = 1
    provider: str | None = None
    model: str | None = None
    status: Status = "pending"  # the read model's vocabulary (events.model)
    content: str = ""
    reasoning: str = ""  # reasoning chunks joined: stored with the answer, never its content
    chunk_count: int = 0
    token_count: int = 0
    context_dropped: int = 0  # oldest messages left out to fit the model's context window
    created_at: datetime | None = None  # of the request: the terminal event carries it for readers
    reply_to: str | None = None

    @classmethod
    def of(cls, request: GenerationRequested, attempt: int = 1) -> Answer:
        return cls(
            request.session_id,
            request.user_id,
            request.message_id,
            attempt,
            created_at=request.occurred_at,
            reply_to=request.prompt_message_id,
        )


@dataclass(frozen=True, slots=True)
class Start:
    provider: str
    model: str
    worker_id: str = ""
    restarted: bool = False
    reason: str = ""


@dataclass(frozen=True, slots=True)
class AddChunk:
    chunk: Chunk
    at: datetime | None = None  # when it was cut (default: now)


@dataclass(frozen=True, slots=True)
class Complete:
    provider: str
    model: str
    usage: Usage
    timings: Timings
    finish_reason: str | None = None
    tokens: str = ""  # events.tokens encoding of the streamed tokens


@dataclass(frozen=True, slots=True)
class Fail:
    kind: ErrorKind
    message: str
    timings: Timings = field(default_factory=Timings)
    provider: str | None = None
    model: str | None = None
    tokens: str = ""


@dataclass(frozen=True, slots=True)
class Cancel:
    timings: Timings = field(default_factory=Timings)
    tokens: str = ""


Command = Start | AddChunk | Complete | Fail | Cancel


class AnswerStateError(Exception):
    """A command that does not fit the answer's phase: a bug in the caller."""


def _id(state: Answer, kind: str, index: int = 0) -> str:
    return codec.derived_id("answer", state.message_id, str(state.attempt), kind, str(index))


def _base(state: Answer, kind: str, index: int = 0) -> dict:
    return {
        "event_id": _id(state, kind, index),
        "session_id": state.session_id,
        "user_id": state.user_id,
        "message_id": state.message_id,
    }


def _end(state: Answer, kind: str, timings: Timings, tokens: str) -> dict:
    """The fields every end event of the answer carries."""
    return {
        **_base(state, kind),
        "attempt": state.attempt,
        "created_at": state.created_at,
        "reply_to": state.reply_to,
        "context_dropped": state.context_dropped,
        "timings": timings,
        "chunk_count": state.chunk_count,
        "tokens": tokens,
        "reasoning": state.reasoning,
    }


def _cut(state: Answer, kind: str, timings: Timings, tokens: str) -> dict:
    """An end before the provider finished: the partial text, and usage as we counted it (providers
    report usage only at the end of a stream)."""
    usage = Usage(completion_tokens=state.token_count, reported=False)
    return {**_end(state, kind, timings, tokens), "partial_content": state.content, "usage": usage}


def decide(state: Answer, command: Command) -> list[Event]:
    """The events ``command`` produces. Ending twice yields nothing (the first end wins)."""
    if state.status in TERMINAL:
        return []
    match command:
        case Start():
            if state.status != "pending":
                raise AnswerStateError("already started")
            events: list[Event] = []
            if command.restarted:
                events.append(
                    codec.make(
                        GenerationRestarted, **_base(state, "restarted"), attempt=state.attempt, reason=command.reason
                    )
                )
            events.append(
                codec.make(
                    GenerationStarted,
                    **_base(state, "started"),
                    llm_provider=command.provider,
                    llm_model=command.model,
                    attempt=state.attempt,
                    worker_id=command.worker_id,
                )
            )
            return events
        case AddChunk(chunk=chunk):
            if state.status != "streaming":
                raise AnswerStateError("chunk before start")
            if chunk.index != state.chunk_count or chunk.token_index != state.token_count:
                raise AnswerStateError(f"chunk {chunk.index}/{chunk.token_index} out of order")
            # No event id: a delta is never republished (a retry is a new attempt).
            return [
                GenerationDelta(
                    session_id=state.session_id,
                    message_id=state.message_id,
                    occurred_at=command.at or utcnow(),
                    attempt=state.attempt,
                    index=chunk.index,
                    token_index=chunk.token_index,
                    token_count=chunk.token_count,
                    delta=chunk.delta,
                    reasoning=chunk.reasoning,
                )
            ]
        case Complete():
            return [
                codec.make(
                    GenerationCompleted,
                    **_end(state, "completed", command.timings, command.tokens),
                    content=state.content,
                    llm_provider=command.provider,
                    llm_model=command.model,
                    usage=command.usage,
                    finish_reason=command.finish_reason,
                )
            ]
        case Fail():
            return [
                codec.make(
                    GenerationFailed,
                    **_cut(state, "failed", command.timings, command.tokens),
                    error_kind=command.kind,
                    error_message=command.message,
                    llm_provider=command.provider or state.provider,
                    llm_model=command.model or state.model,
                )
            ]
        case Cancel():
            return [
                codec.make(
                    GenerationCancelled,
                    **_cut(state, "cancelled", command.timings, command.tokens),
                    llm_provider=state.provider,
                    llm_model=state.model,
                )
            ]
        case _:
            raise TypeError(f"not an answer command: {command!r}")


def streamed(state: Answer, deltas: list[GenerationChunk]) -> Answer:
    """``state`` with the text of the newest attempt among ``deltas`` (stream order): what an end
    written by someone who did not stream it keeps."""
    newest = max((d.attempt for d in deltas), default=None)
    for delta in deltas:
        if delta.attempt == newest:
            state = evolve(state, delta)
    return state


def evolve(state: Answer, event: Event) -> Answer:
    match event:
        case GenerationRestarted():
            return state
        case GenerationStarted():
            return replace(state, status="streaming", provider=event.llm_provider, model=event.llm_model)
        case GenerationChunk(reasoning=True):
            return replace(
                state,
                reasoning=state.reasoning + event.delta,
                chunk_count=state.chunk_count + 1,
                token_count=state.token_count + event.token_count,
            )
        case GenerationChunk():
            return replace(
                state,
                content=state.content + event.delta,
                chunk_count=state.chunk_count + 1,
                token_count=state.token_count + event.token_count,
            )
        case GenerationCompleted():
            return replace(state, status="complete")
        case GenerationFailed():
            return replace(state, status="failed")
        case GenerationCancelled():
            return replace(state, status="cancelled")
        case _:
            raise TypeError(f"not an answer event: {event!r}")
