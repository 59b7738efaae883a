"""The socket frames as types (``ServerFrame``, a union discriminated by ``type``, then by
``data.event`` / ``data.status``), and the one JSON Schema document the web UI's TypeScript types
are generated from: the OpenAPI document's schemas plus these frames.

``frames.py`` builds every frame as one of these types; ``tests/test_edge_wire.py`` checks that, and
that ``services/edge/web/src/wire/`` is current (``just wire``: ``python -m services.edge.wire``
rewrites the schema, the UI build turns it into ``wire.ts`` with json-schema-to-typescript, and
writes ``lifecycle.ts``: the answer lifecycle's rules compiled to TypeScript, ``events.compiler``).
"""

from __future__ import annotations

import json
import sys
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import msgspec
from msgspec import UNSET, UnsetType

from events import compiler, lifecycle
from events.model import ChatMessage, ChatSession, Settings

SCHEMA_PATH = Path(__file__).parent / "web" / "src" / "wire" / "wire.schema.json"
LIFECYCLE_PATH = SCHEMA_PATH.with_name("lifecycle.ts")


class Data(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    pass


# -- connectionStatus (discriminated by ``status``) ----------------------------------------------------


class Connected(Data, tag_field="status", tag="connected"):
    connection_id: str
    user_id: str
    after_seq: int | None
    last_seq: int | None


class Live(Data, tag_field="status", tag="live"):
    last_seq: int | None


class Pong(Data, tag_field="status", tag="pong"):
    server_time: datetime


class SessionChanges(msgspec.Struct, kw_only=True):
    """A session, whole (``session.created``) or as a patch of the fields that changed."""

    id: str
    updated_at: datetime
    last_seq: int | None
    title: str | UnsetType | None = UNSET
    user_id: str | UnsetType = UNSET
    llm_provider: str | UnsetType = UNSET
    llm_model: str | UnsetType = UNSET
    created_at: datetime | UnsetType = UNSET
    is_active: bool | UnsetType = UNSET
    message_count: int | UnsetType = UNSET
    settings: Settings | UnsetType = UNSET
    last_activity_at: datetime | UnsetType = UNSET


class SessionUpdated(Data, tag_field="status", tag="session_updated"):
    session: SessionChanges


class SessionDeleted(Data, tag_field="status", tag="session_deleted"):
    pass


# -- messageUpdate (discriminated by ``event``) --------------------------------------------------------


class Started(Data, tag_field="event", tag="started"):
    attempt: int
    llm_provider: str
    llm_model: str


class Token(Data, tag_field="event", tag="token", omit_defaults=True):
    delta: str
    index: int
    token_index: int
    token_count: int
    attempt: int
    reasoning: bool = False  # the delta is the model's thinking: it goes to ``reasoning``, not ``content``


class Restarted(Data, tag_field="event", tag="restarted"):
    attempt: int
    reason: str


class Completed(Data, tag_field="event", tag="completed"):
    message: ChatMessage


class Failed(Data, tag_field="event", tag="failed"):
    error_kind: str
    error_message: str
    partial_content: str
    message: ChatMessage


class CancelRequested(Data, tag_field="event", tag="cancel_requested"):
    pass


class Cancelled(Data, tag_field="event", tag="cancelled"):
    partial_content: str
    message: ChatMessage


# -- frames (discriminated by ``type``) ----------------------------------------------------------------


class TypingData(Data):
    user_id: str
    typing: bool
    connection_id: str


class ErrorData(Data):
    code: str
    message: str
    client_message_id: str | UnsetType = UNSET


class Frame(msgspec.Struct, kw_only=True, tag_field="type", forbid_unknown_fields=True):
    """The plan's WebSocketMessage plus ``seq`` (the stream sequence; null for control frames)."""

    session_id: str
    message_id: str
    seq: int | None


class ConnectionStatusFrame(Frame, tag="connectionStatus"):
    data: Connected | Live | Pong | SessionUpdated | SessionDeleted


class NewMessageFrame(Frame, tag="newMessage"):
    data: ChatMessage


class MessageUpdateFrame(Frame, tag="messageUpdate"):
    data: Started | Token | Restarted | Completed | Failed | CancelRequested | Cancelled


class TypingFrame(Frame, tag="typing"):
    data: TypingData


class ErrorFrame(Frame, tag="error"):
    data: ErrorData


ServerFrame = ConnectionStatusFrame | NewMessageFrame | MessageUpdateFrame | TypingFrame | ErrorFrame
FrameType = Literal["connectionStatus", "newMessage", "messageUpdate", "typing", "error"]

_frame = msgspec.json.Decoder(ServerFrame)


def check(frame: dict[str, Any]) -> ServerFrame:
    """``frame`` (as ``frames.py`` builds it) as a ``ServerFrame``; ``msgspec.ValidationError`` if it is not one."""
    return _frame.decode(msgspec.json.encode(frame))


def document(openapi: dict[str, Any]) -> dict[str, Any]:
    """One JSON Schema: every schema of the OpenAPI document, the frames, and the read model."""
    (root,), frames = msgspec.json.schema_components([ServerFrame], ref_template="#/$defs/{name}")
    defs: dict[str, Any] = dict(frames)
    text = json.dumps(openapi.get("components", {}).get("schemas", {})).replace("#/components/schemas/", "#/$defs/")
    defs.update(json.loads(text))  # the REST shapes win where both name one (the same Struct behind both)
    for name in (ChatSession.__name__, ChatMessage.__name__):
        assert name in defs, f"{name} missing from the OpenAPI document"
    defs["ServerFrame"] = root
    defs = _untitled(defs)  # pydantic titles every field; the generator would make a type of each
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ParleyWire",
        "description": "Generated by `python -m services.edge.wire` from the edge's OpenAPI document and services/edge/wire.py.",
        "$defs": dict(sorted(defs.items())),
    }


def _untitled(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _untitled(v) for k, v in value.items() if not (k == "title" and isinstance(v, str))}
    if isinstance(value, list):
        return [_untitled(v) for v in value]
    return value


def render(openapi: dict[str, Any]) -> str:
    return json.dumps(document(openapi), indent=2, sort_keys=True) + "\n"


def openapi() -> dict[str, Any]:
    from services.edge.app import create_app
    from services.settings import load

    # Addresses only: the app is built, never started (no connection is made).
    settings = load({"NATS_URL": "nats://127.0.0.1:4222", "DATABASE_URL": "postgresql://parley@127.0.0.1/parley"})
    return create_app(settings).openapi()


def lifecycle_module() -> str:
    """The UI's copy of the answer fold: ``events.lifecycle.RULES`` compiled to TypeScript."""
    return compiler.typescript(lifecycle.RULES, "events/lifecycle.py")


if __name__ == "__main__":
    target = Path(sys.argv[1]) if len(sys.argv) > 1 else SCHEMA_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render(openapi()))
    target.with_name(LIFECYCLE_PATH.name).write_text(lifecycle_module())
    print(f"wrote {target} and {LIFECYCLE_PATH.name}")
