"""Request and response bodies of the REST API (pydantic, for validation and the OpenAPI docs).

Wrong types are refused with 422 naming the field (FastAPI's validation); sizes in bytes are
checked by ``commands`` (413).
"""

from __future__ import annotations

import functools
import operator
import types
from functools import cache
from typing import Annotated, Any, Union, get_args, get_origin

import msgspec
from pydantic import BaseModel, ConfigDict, Field, create_model

from events import model
from events.schema import SessionSettings
from services.edge.commands import MAX_CLIENT_MESSAGE_ID, MAX_MODEL, MAX_TITLE
from services.generation import config, status
from services.generation.providers import Health
from services.settings import Provider


class Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class SettingsBody(Body):
    system_prompt: str | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    top_p: float | None = Field(None, ge=0, le=1)
    max_tokens: int | None = Field(None, ge=1, le=1_000_000)

    def to_event(self) -> SessionSettings:
        return SessionSettings(**self.model_dump())


class SessionBody(Body):
    title: str | None = Field(None, max_length=MAX_TITLE)
    llm_provider: Provider | None = None
    llm_model: str | None = Field(None, min_length=1, max_length=MAX_MODEL)
    settings: SettingsBody | None = None

    def command_fields(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "llm_provider": self.llm_provider,
            "llm_model": self.llm_model,
            "settings": self.settings.to_event() if self.settings is not None else None,
        }


class SendBody(Body):
    content: str
    client_message_id: str | None = Field(None, min_length=1, max_length=MAX_CLIENT_MESSAGE_ID)
    parent_id: str | None = Field(None, description="the message this one follows (a branch); unset: the newest")
    edit_of: str | None = Field(None, description="an edited copy of this earlier user message, on a new branch")


class ProcessLlmBody(Body):
    message_id: str | None = None
    llm_provider: Provider | None = None
    llm_model: str | None = Field(None, min_length=1, max_length=MAX_MODEL)


def _pydantic(kind: Any) -> Any:
    """``kind`` with every msgspec Struct in it replaced by its pydantic model."""
    origin, args = get_origin(kind), get_args(kind)
    if isinstance(kind, type) and issubclass(kind, msgspec.Struct):
        return model_of(kind)
    if origin is Annotated:  # msgspec's own constraints: these models only describe responses
        return _pydantic(args[0])
    if origin in (Union, types.UnionType):
        return functools.reduce(operator.or_, (_pydantic(a) for a in args))
    if origin in (list, tuple):
        return list[_pydantic(args[0])]
    return kind


@cache
def model_of(struct: type[msgspec.Struct], name: str | None = None) -> type[BaseModel]:
    """A pydantic model of a msgspec Struct, for FastAPI's responses and OpenAPI document: the
    shape itself is defined once, as the Struct."""
    fields: dict[str, Any] = {}
    for f in msgspec.structs.fields(struct):
        kind = _pydantic(f.type)
        if f.default is not msgspec.NODEFAULT:
            default = Field(default_factory=kind) if isinstance(f.default, msgspec.Struct) else f.default
        elif f.default_factory is not msgspec.NODEFAULT:
            default = Field(default_factory=f.default_factory)
        else:
            default = ...
        fields[f.name] = (kind, default)
    # Responses always carry every field: the OpenAPI output schema says so (generated types need no "?").
    config = ConfigDict(json_schema_serialization_defaults_required=True)
    return create_model(name or struct.__name__, __config__=config, __doc__=struct.__doc__, **fields)


ChatSession = model_of(model.ChatSession)
ChatMessage = model_of(model.ChatMessage)


class SendAccepted(BaseModel):
    message: ChatMessage
    answer_message_id: str
    seq: int


class ProcessLlmAccepted(BaseModel):
    answer_message_id: str
    prompt_message_id: str
    seq: int


class CancelAccepted(BaseModel):
    message_id: str
    seq: int


# -- /llm/* ---------------------------------------------------------------------------------------

ProviderStatus = model_of(status.ProviderStatus)


class ProviderModels(BaseModel):
    provider: str
    default_model: str | None
    models: list[str]
    error: str | None


class LlmHealth(BaseModel):
    ok: bool
    default_provider: str
    providers: list[model_of(Health)]  # type: ignore[valid-type]


class _ConfigState(config.LlmConfig, frozen=True, kw_only=True):
    """The LLM configuration in force, its KV revision, and whether it is stored (else from settings)."""

    revision: int
    stored: bool


LlmConfigState = model_of(_ConfigState, "LlmConfigState")
