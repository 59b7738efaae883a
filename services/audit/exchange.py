"""Export and import of a conversation (pure).

Export is the replay document (``render.document``: the REST session and messages with every
metric, each answer's attempts and token timing) under a format marker, optionally with the raw
stored events. Import turns an exported document into the events of a NEW session of the
caller's: ``session.created`` carries ``imported_from``, each answer's ``generation.requested``
carries ``imported`` (so no worker generates it again) and is followed by its stored end
(completed, failed or cancelled) with the exported content, usage and timings.
"""

from __future__ import annotations

import typing
from datetime import datetime
from typing import Any

import msgspec

from events import codec
from events.schema import (
    ErrorKind,
    Event,
    GenerationCancelled,
    GenerationCompleted,
    GenerationFailed,
    GenerationRequested,
    MessageSubmitted,
    SessionCreated,
    SessionSettings,
    Timings,
    Usage,
)
from services.audit import render
from services.audit.conversation import Conversation, StoredEvent
from services.audit.errors import BadExport

FORMAT = "parley.export/1"
MAX_MESSAGES = 5000
_ERROR_KINDS = frozenset(typing.get_args(ErrorKind))


def export(conv: Conversation, events: list[StoredEvent] | None = None) -> dict[str, Any]:
    doc = {"format": FORMAT, **render.document(conv)}
    if events is not None:
        doc["events"] = [
            {"seq": e.seq, "subject": e.subject, "stored_at": e.stored_at, "event": msgspec.json.decode(e.data)}
            for e in events
        ]
    return doc


# -- import ----------------------------------------------------------------------------------------


class InSettings(msgspec.Struct, kw_only=True):
    system_prompt: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


class InSession(msgspec.Struct, kw_only=True):
    id: str | None = None
    title: str | None = None
    llm_provider: str
    llm_model: str
    settings: InSettings = msgspec.field(default_factory=InSettings)


class InMessage(msgspec.Struct, kw_only=True):
    id: str
    role: typing.Literal["user", "assistant"]
    content: str = ""
    status: str = "complete"
    reply_to: str | None = None
    parent_id: str | None = None  # a user message's place in the tree (events/tree.py)
    llm_provider: str | None = None
    llm_model: str | None = None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    response_time_ms: int | None = None
    time_to_first_token_ms: int | None = None
    error_kind: str | None = None
    error_message: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    reasoning: str = ""  # a reasoning model's thinking (exports before it existed have none)


class InDocument(msgspec.Struct, kw_only=True):
    format: str
    session: InSession
    messages: list[InMessage]


def parse(body: bytes | dict) -> InDocument:
    try:
        doc = (
            msgspec.convert(body, InDocument) if isinstance(body, dict) else msgspec.json.decode(body, type=InDocument)
        )
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise BadExport(f"not a Parley export: {exc}") from None
    if doc.format != FORMAT:
        raise BadExport(f"format must be {FORMAT!r}, got {doc.format!r}")
    if len(doc.messages) > MAX_MESSAGES:
        raise BadExport(f"at most {MAX_MESSAGES} messages per import, got {len(doc.messages)}")
    return doc


def import_events(doc: InDocument, user_id: str, session_id: str, now: datetime) -> list[Event]:
    """The events that store ``doc`` as session ``session_id`` of ``user_id`` (new ids throughout)."""
    base = {"session_id": session_id, "user_id": user_id, "occurred_at": now}
    s = doc.session
    events: list[Event] = [
        SessionCreated(
            **base,
            event_id=codec.new_id(),
            title=s.title,
            llm_provider=s.llm_provider,
            llm_model=s.llm_model,
            settings=SessionSettings(**msgspec.structs.asdict(s.settings)),
            imported_from=s.id,
        )
    ]
    new_ids: dict[str, str] = {}
    last_user: str | None = None
    for n, m in enumerate(doc.messages):
        mid = codec.new_id()
        new_ids[m.id] = mid
        if m.role == "user":
            parent = new_ids.get(m.parent_id) if m.parent_id else None  # unknown: after the newest
            events.append(
                MessageSubmitted(**base, event_id=codec.new_id(), message_id=mid, content=m.content, parent_id=parent)
            )
            last_user = mid
            continue
        prompt = new_ids.get(m.reply_to or "", last_user)
        if prompt is None:
            raise BadExport(f"messages[{n}]: an answer with no user message before it")
        provider, model = m.llm_provider or s.llm_provider, m.llm_model or s.llm_model
        events.append(
            GenerationRequested(
                **base,
                event_id=codec.new_id(),
                message_id=mid,
                prompt_message_id=prompt,
                llm_provider=provider,
                llm_model=model,
                regenerate=bool(m.metadata.get("regenerate")),
                imported=True,
            )
        )
        events.append(_end(base, mid, m, provider, model))
    return events


def _end(base: dict, mid: str, m: InMessage, provider: str, model: str) -> Event:
    usage = Usage(
        prompt_tokens=m.prompt_tokens or 0,
        completion_tokens=m.completion_tokens or 0,
        reported=bool(m.metadata.get("usage_reported")),
    )
    timings = Timings(time_to_first_token_ms=m.time_to_first_token_ms, total_ms=m.response_time_ms or 0)
    common = {
        **base,
        "event_id": codec.new_id(),
        "message_id": mid,
        "llm_provider": provider,
        "llm_model": model,
        "reasoning": m.reasoning,
    }
    match m.status:
        case "complete":
            finish = m.metadata.get("finish_reason")
            return GenerationCompleted(
                **common,
                content=m.content,
                usage=usage,
                timings=timings,
                finish_reason=finish if isinstance(finish, str) else None,
            )
        case "failed":
            kind = m.error_kind if m.error_kind in _ERROR_KINDS else "internal"
            return GenerationFailed(
                **common,
                error_kind=kind,  # type: ignore[arg-type]
                error_message=m.error_message or "",
                partial_content=m.content,
                usage=usage,
                timings=timings,
            )
        case _:  # cancelled; an answer exported while it streamed is kept as it stood, stopped
            return GenerationCancelled(**common, partial_content=m.content, usage=usage, timings=timings)
