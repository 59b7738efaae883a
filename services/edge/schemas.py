"""Request and response bodies of the REST API (pydantic, for validation and the OpenAPI docs).

Wrong types are refused with 422 naming the field (FastAPI's validation); sizes in bytes are
checked by ``commands`` (413).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from events.schema import SessionSettings
from services.edge.commands import MAX_CLIENT_MESSAGE_ID, MAX_MODEL, MAX_TITLE
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


class ProcessLlmBody(Body):
    message_id: str | None = None
    llm_provider: Provider | None = None
    llm_model: str | None = Field(None, min_length=1, max_length=MAX_MODEL)


class SessionSettingsOut(BaseModel):
    system_prompt: str | None = None
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None


class ChatSession(BaseModel):
    id: str
    title: str | None
    user_id: str
    llm_provider: str
    llm_model: str
    created_at: datetime
    updated_at: datetime
    is_active: bool
    message_count: int
    settings: SessionSettingsOut
    last_activity_at: datetime
    last_seq: int | None


class ChatMessage(BaseModel):
    id: str
    session_id: str
    role: Literal["user", "assistant", "system"]
    content: str
    created_at: datetime | None
    updated_at: datetime | None
    is_streaming: bool
    llm_provider: str | None
    llm_model: str | None
    response_time_ms: int | None
    tokens_used: int | None
    error_message: str | None
    metadata: dict[str, Any]
    status: Literal["pending", "streaming", "complete", "failed", "cancelled"]
    reply_to: str | None
    client_message_id: str | None
    time_to_first_token_ms: int | None
    prompt_tokens: int | None
    completion_tokens: int | None
    error_kind: str | None
    attempt: int
    last_seq: int | None


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
