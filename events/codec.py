"""The one codec for stored events: JSON on the bus so any consumer can read it.

The stored JSON is lean where it would repeat (issue 17): fields at their default are left out
(the schema's ``omit_defaults``), ``session_id`` is left out (the subject names it), and so is an
``event_id`` that the event itself determines (``_implied_id``: the id its producer derives, which
is also the ``Nats-Msg-Id`` header). ``decode`` fills both back in. Events stored before carry
them in full and decode as they always did; nothing here ever re-encodes a stored event.
"""

from __future__ import annotations

import functools
import uuid
from typing import Any

import msgspec

from events import subjects
from events.errors import EventDecodeError, InvalidSubjectToken
from events.schema import (
    EVENT_TYPES,
    ChatEvent,
    Event,
    GenerationCancelled,
    GenerationCancelRequested,
    GenerationCompleted,
    GenerationDelta,
    GenerationFailed,
    GenerationRestarted,
    GenerationStarted,
    MessageSubmitted,
    SessionDeleted,
    TypingIndicator,
    type_tag,
    utcnow,
)

_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ChatEvent)
_typing_decoder = msgspec.json.Decoder(TypingIndicator)

MSG_ID_HEADER = "Nats-Msg-Id"
# Namespace for ids derived from client-chosen keys (idempotent send): same key, same id.
_NAMESPACE = uuid.UUID("6f1c3c1e-3a53-4d0c-9a8f-2f4f6b7f1a10")


def encode(event: Event | TypingIndicator) -> bytes:
    """The stored JSON of ``event``: without ``session_id`` (its subject names it) and without an
    ``event_id`` that ``decode`` derives again."""
    if type(event) is GenerationDelta:
        if event.session_id:
            event = msgspec.structs.replace(event, session_id="")
    elif isinstance(event, Event):
        if not event.event_id or not event.session_id:
            raise ValueError(f"a {type_tag(type(event))} event needs an event_id and a session_id")
        implied = event.event_id == _implied_id(event)
        event = msgspec.structs.replace(event, session_id="", event_id="" if implied else event.event_id)
    return _encoder.encode(event)


def decode(data: bytes, subject: str | None = None) -> ChatEvent:
    """Decode one stored event; anything else raises ``EventDecodeError`` saying why.

    ``subject``: where it was stored. An event stored lean names its session only there, so pass
    ``msg.subject`` whenever decoding what a stream delivered.
    """
    try:
        event = _decoder.decode(data)
    except msgspec.ValidationError as exc:
        raise EventDecodeError(f"invalid event: {exc}") from None
    except msgspec.DecodeError as exc:
        raise EventDecodeError(f"malformed event JSON: {exc}") from None
    if not event.session_id:
        if subject is None:
            raise EventDecodeError(
                f"a {type_tag(type(event))} event names its session in its subject: decode it with the subject"
            )
        try:
            msgspec.structs.force_setattr(event, "session_id", subjects.session_of(subject))
        except InvalidSubjectToken as exc:
            raise EventDecodeError(str(exc)) from None
    if not event.event_id and type(event) is not GenerationDelta:  # a delta has no id at all
        implied = _implied_id(event)
        if implied is None:
            raise EventDecodeError(f"a {type_tag(type(event))} event without an event_id")
        msgspec.structs.force_setattr(event, "event_id", implied)
    return event


def _implied_id(event: Event) -> str | None:
    """The event id ``event``'s producer derives from what the event holds, if it does (the ids
    of services/generation/answer.py and services/edge/commands.py); None for random ids."""
    match event:
        case (
            GenerationStarted()
            | GenerationRestarted()
            | GenerationCompleted()
            | GenerationFailed()
            | GenerationCancelled()
        ):
            kind = type_tag(type(event)).removeprefix("generation.")
            return derived_id("answer", event.message_id, str(event.attempt), kind, "0")
        case MessageSubmitted(client_message_id=str() as key):
            return derived_id("message.submitted", event.session_id, key)
        case GenerationCancelRequested():
            return derived_id("generation.cancel_requested", event.message_id)
        case SessionDeleted():
            return derived_id("session.deleted", event.session_id)
        case _:
            return None


def decode_typing(data: bytes) -> TypingIndicator:
    try:
        return _typing_decoder.decode(data)
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise EventDecodeError(f"invalid typing indicator: {exc}") from None


def headers(event: Event) -> dict[str, str] | None:
    """Publish headers: the event id doubles as JetStream's dedup id. Deltas carry none: a
    retried answer is a new attempt with new ids, so a delta is never published twice."""
    if type(event) is GenerationDelta:
        return None
    return {MSG_ID_HEADER: event.event_id}


def new_id() -> str:
    return str(uuid.uuid4())


def derived_id(*parts: str) -> str:
    """A stable id from stable parts, so a retried command yields the same event id."""
    return _derived("\x1f".join(parts))


@functools.lru_cache(maxsize=4096)
def _derived(name: str) -> str:
    # Memoised: one id is derived several times in a process (an answer's event when it is made,
    # again when it is encoded lean, again by a reader decoding it), and uuid5 (SHA-1 and a UUID
    # object) costs ~3 us each time.
    return str(uuid.uuid5(_NAMESPACE, name))


def make(event_type: type[Event], **fields: Any) -> Any:
    """Build an event, filling ``event_id`` and ``occurred_at`` unless given."""
    fields.setdefault("event_id", new_id())
    fields.setdefault("occurred_at", utcnow())
    return event_type(**fields)


def json_schema() -> dict[str, Any]:
    """JSON Schema of every stored event (and the typing indicator), for analytics consumers."""
    (union, *_), components = msgspec.json.schema_components([ChatEvent, TypingIndicator])
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Parley events",
        "description": (
            "Stored events: one JSON object per NATS message on parley.chat.<session>.<type>;"
            " a field at its default may be left out (docs/events.md)"
        ),
        "types": [type_tag(t) for t in EVENT_TYPES],
        **union,
        "$defs": components,
    }
