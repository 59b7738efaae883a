"""Frames a client sends on a socket, parsed strictly. Pure.

Every refusal is a ``BadFrame`` whose ``code`` is one of the protocol's error codes
(``bad_json``, ``unknown_type``, ``invalid_frame``, ``too_large``), so the socket answers
with an ``error`` frame and stays open.
"""

from __future__ import annotations

from typing import Annotated

import msgspec

from services.edge import inputs
from services.edge.errors import BadFrame

_Id = Annotated[str, msgspec.Meta(min_length=1, max_length=255)]


class Frame(msgspec.Struct, frozen=True, kw_only=True, tag_field="type"):
    pass


class Send(Frame, tag="send"):
    content: str
    client_message_id: _Id | None = None
    parent_id: _Id | None = None
    edit_of: _Id | None = None


class Cancel(Frame, tag="cancel"):
    # Required on a session socket; an llm-stream socket defaults to its own answer.
    message_id: _Id | None = None


class Regenerate(Frame, tag="regenerate"):
    message_id: _Id | None = None
    llm_provider: str | None = None
    llm_model: str | None = None


class Typing(Frame, tag="typing"):
    typing: bool = True


class Ping(Frame, tag="ping"):
    pass


class Auth(Frame, tag="auth"):
    token: str


ClientFrame = Send | Cancel | Regenerate | Typing | Ping | Auth
TYPES = frozenset(t.__struct_config__.tag for t in ClientFrame.__args__)  # type: ignore[attr-defined]

_json = msgspec.json.Decoder()


def parse(raw: str | bytes) -> ClientFrame:
    """One client frame, or ``BadFrame`` naming what is wrong (and the field, for wrong types)."""
    try:
        value = _json.decode(raw.encode() if isinstance(raw, str) else raw)
    except msgspec.DecodeError as exc:
        raise BadFrame("bad_json", f"not JSON: {exc}") from None
    except RecursionError:  # msgspec's own depth limit
        raise BadFrame("bad_json", "not JSON we accept: nested too deeply") from None
    if not isinstance(value, dict):
        raise BadFrame("invalid_frame", f"a frame is a JSON object, got {type(value).__name__}")
    if found := inputs.problem(value):
        path, why = found
        raise BadFrame(
            "invalid_frame",
            f"{why} - at `$" + "".join(f"[{p!r}]" if isinstance(p, int) else f".{p}" for p in path) + "`",
        )
    kind = value.get("type")
    if not isinstance(kind, str):
        raise BadFrame("invalid_frame", "`type` is missing or not a string")
    if kind not in TYPES:
        raise BadFrame("unknown_type", f"unknown frame type {kind!r}; expected one of {', '.join(sorted(TYPES))}")
    try:
        return msgspec.convert(value, ClientFrame)
    except msgspec.ValidationError as exc:
        # msgspec names the field: "Expected `str`, got `int` - at `$.content`"
        raise BadFrame("invalid_frame", str(exc)) from None


def client_message_id_of(raw: str | bytes) -> str | None:
    """Best effort: the ``client_message_id`` of a refused frame, so the client can match the error."""
    try:
        value = _json.decode(raw.encode() if isinstance(raw, str) else raw)
    except (msgspec.DecodeError, RecursionError):
        return None
    cmid = value.get("client_message_id") if isinstance(value, dict) else None
    return cmid if isinstance(cmid, str) else None
