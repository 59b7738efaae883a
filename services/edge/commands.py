"""What a client asks for, and the events that store it. Pure: ``decide`` turns one command into
the events to publish, so retries and validation can be tested without NATS.

Ids of a sent message are derived from ``(session_id, client_message_id)``: the same send retried
yields the same event ids (JetStream drops the copy by ``Nats-Msg-Id``) and the same message ids.
"""

from __future__ import annotations

import typing
from dataclasses import dataclass, field

import msgspec

from events import codec
from events.schema import (
    Event,
    GenerationCancelRequested,
    GenerationRequested,
    MessageSubmitted,
    SessionCreated,
    SessionDeleted,
    SessionSettings,
    SessionUpdated,
)
from services.edge.errors import Invalid, TooLarge
from services.edge.inputs import canonical_id
from services.settings import Provider

PROVIDERS: tuple[str, ...] = typing.get_args(Provider)
# Column sizes of the read models (projections/migrations): longer values would be accepted
# here and then fail in the projection, so they are refused at the door.
MAX_TITLE = 255

MAX_MODEL = 255
MAX_CLIENT_MESSAGE_ID = 255
DEFAULT_TITLE = "New chat"


class Command(msgspec.Struct, frozen=True, kw_only=True):
    pass


class CreateSession(Command, frozen=True, kw_only=True):
    session_id: str
    title: str | None = None
    llm_provider: str | None = None
    llm_model: str | None = None
    settings: SessionSettings | None = None


class UpdateSession(Command, frozen=True, kw_only=True):
    session_id: str
    title: str | None = None
    llm_provider: str | None = None
    llm_model: str | None = None
    settings: SessionSettings | None = None
    # The session's provider now: a model named alone is checked against its allowlist.
    current_provider: str | None = None


class DeleteSession(Command, frozen=True, kw_only=True):
    session_id: str


class SendMessage(Command, frozen=True, kw_only=True):
    session_id: str
    content: str
    client_message_id: str | None = None
    parent_id: str | None = None  # the message it follows (a branch); None: the newest
    edit_of: str | None = None  # an edited copy of this message, on a new branch


class Regenerate(Command, frozen=True, kw_only=True):
    session_id: str
    prompt_message_id: str
    llm_provider: str | None = None
    llm_model: str | None = None
    current_provider: str | None = None


class Cancel(Command, frozen=True, kw_only=True):
    session_id: str
    message_id: str


@dataclass(frozen=True, slots=True)
class Limits:
    max_message_bytes: int
    default_provider: str
    # provider -> its default model
    default_models: dict[str, str]
    # provider -> the models sessions may name (/llm/config `models`); not listed: any
    allowed_models: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def model_for(self, provider: str) -> str:
        return self.default_models.get(provider, "")

    def check_model(self, provider: str | None, model: str | None) -> None:
        listed = self.allowed_models.get(provider or self.default_provider)
        if model is not None and listed and model not in listed:
            raise Invalid(
                f"llm_model {model!r} is not allowed for {provider or self.default_provider}"
                f" (allowed: {', '.join(listed)}; /llm/config `models`)",
                "llm_model",
            )


def message_ids(session_id: str, client_message_id: str) -> tuple[str, str]:
    """(user message id, answer id) of a send, stable across retries."""
    return (
        codec.derived_id("message", session_id, client_message_id),
        codec.derived_id("answer", session_id, client_message_id),
    )


def check_content(content: str, limits: Limits, field: str = "content") -> None:
    size = len(content.encode())
    if size > limits.max_message_bytes:
        raise TooLarge(f"{field} is {size} bytes; the limit is {limits.max_message_bytes} (PARLEY_MAX_MESSAGE_BYTES)")
    if not content.strip():
        raise Invalid(f"{field} must not be empty", field)


def check_choice(llm_provider: str | None, llm_model: str | None) -> None:
    if llm_provider is not None and llm_provider not in PROVIDERS:
        raise Invalid(f"llm_provider must be one of {', '.join(PROVIDERS)}; got {llm_provider!r}", "llm_provider")
    if llm_model is not None and not (0 < len(llm_model) <= MAX_MODEL):
        raise Invalid(f"llm_model must be 1 to {MAX_MODEL} characters", "llm_model")


def check_settings(settings: SessionSettings | None, limits: Limits) -> None:
    if settings is not None and settings.system_prompt:
        size = len(settings.system_prompt.encode())
        if size > limits.max_message_bytes:
            raise TooLarge(
                f"settings.system_prompt is {size} bytes; the limit is {limits.max_message_bytes} (PARLEY_MAX_MESSAGE_BYTES)"
            )


def check_title(title: str | None) -> None:
    if title is not None and len(title) > MAX_TITLE:
        raise Invalid(f"title must be at most {MAX_TITLE} characters", "title")


def _reference(value: str | None, field: str) -> str | None:
    """A message id a new message refers to, in its one stored form; 422 when it is none."""
    if value is None:
        return None
    canonical = canonical_id(value)
    if canonical is None:
        raise Invalid(f"{field} must be a message id (a UUID)", field)
    return canonical


def decide(command: Command, user_id: str, limits: Limits) -> list[Event]:
    """The events that carry out ``command`` for ``user_id``, or ``TooLarge``/``Invalid``."""
    match command:
        case CreateSession():
            check_title(command.title)
            check_choice(command.llm_provider, command.llm_model)
            limits.check_model(command.llm_provider, command.llm_model)
            check_settings(command.settings, limits)
            provider = command.llm_provider or limits.default_provider
            model = command.llm_model or limits.model_for(provider)
            return [
                codec.make(
                    SessionCreated,
                    session_id=command.session_id,
                    user_id=user_id,
                    title=command.title or DEFAULT_TITLE,
                    llm_provider=provider,
                    llm_model=model,
                    settings=command.settings or SessionSettings(),
                )
            ]
        case UpdateSession():
            check_title(command.title)
            check_choice(command.llm_provider, command.llm_model)
            limits.check_model(command.llm_provider or command.current_provider, command.llm_model)
            check_settings(command.settings, limits)
            return [
                codec.make(
                    SessionUpdated,
                    session_id=command.session_id,
                    user_id=user_id,
                    title=command.title,
                    llm_provider=command.llm_provider,
                    # Switching provider without naming a model picks that provider's default:
                    # the old model would not exist there.
                    llm_model=command.llm_model
                    or (limits.model_for(command.llm_provider) if command.llm_provider else None),
                    settings=command.settings,
                )
            ]
        case DeleteSession():
            return [
                codec.make(
                    SessionDeleted,
                    event_id=codec.derived_id("session.deleted", command.session_id),
                    session_id=command.session_id,
                    user_id=user_id,
                )
            ]
        case SendMessage():
            check_content(command.content, limits)
            cmid = command.client_message_id
            if cmid is not None and not (0 < len(cmid) <= MAX_CLIENT_MESSAGE_ID):
                raise Invalid(f"client_message_id must be 1 to {MAX_CLIENT_MESSAGE_ID} characters", "client_message_id")
            key = cmid or codec.new_id()
            message_id, answer_id = message_ids(command.session_id, key)
            submitted = codec.make(
                MessageSubmitted,
                event_id=codec.derived_id("message.submitted", command.session_id, key),
                session_id=command.session_id,
                user_id=user_id,
                message_id=message_id,
                content=command.content,
                client_message_id=cmid,
                parent_id=_reference(command.parent_id, "parent_id"),
                edit_of=_reference(command.edit_of, "edit_of"),
            )
            requested = codec.make(
                GenerationRequested,
                event_id=codec.derived_id("generation.requested", command.session_id, key),
                occurred_at=submitted.occurred_at,
                session_id=command.session_id,
                user_id=user_id,
                message_id=answer_id,
                prompt_message_id=message_id,
            )
            return [submitted, requested]
        case Regenerate():
            check_choice(command.llm_provider, command.llm_model)
            limits.check_model(command.llm_provider or command.current_provider, command.llm_model)
            return [
                codec.make(
                    GenerationRequested,
                    session_id=command.session_id,
                    user_id=user_id,
                    message_id=codec.new_id(),
                    prompt_message_id=command.prompt_message_id,
                    llm_provider=command.llm_provider,
                    llm_model=command.llm_model,
                    regenerate=True,
                )
            ]
        case Cancel():
            return [
                codec.make(
                    GenerationCancelRequested,
                    # One cancel per answer is enough: repeats are dropped by JetStream.
                    event_id=codec.derived_id("generation.cancel_requested", command.message_id),
                    session_id=command.session_id,
                    user_id=user_id,
                    message_id=command.message_id,
                )
            ]
        case _:
            raise TypeError(f"unknown command {type(command).__name__}")
