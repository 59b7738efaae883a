"""Bytes JetStream stores for the chat (issue 17): every stream's size before and after a
scenario, split into the permanent log (no age or size limit: kept forever) and short-lived
streams (any limit), per delivered token and per answer, beside the UTF-8 size of the answers'
text. ``snapshot`` reads the server; the rest is pure."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext

# Internal streams of KV buckets and object stores: configuration, not chat events.
_INTERNAL = ("KV_", "OBJ_")


@dataclass(frozen=True, slots=True)
class Stream:
    name: str
    permanent: bool  # no max age, bytes or messages: the log keeps it forever
    messages: int
    bytes: int


def is_permanent(max_age_s: float | None, max_bytes: int | None, max_msgs: int | None) -> bool:
    return not (max_age_s or 0) > 0 and not (max_bytes or -1) > 0 and not (max_msgs or -1) > 0


async def snapshot(js: JetStreamContext) -> dict[str, Stream]:
    """Every chat stream now (KV buckets left out)."""
    out = {}
    for info in await js.streams_info():
        name = info.config.name
        if name is None or name.startswith(_INTERNAL):
            continue
        out[name] = Stream(
            name,
            is_permanent(info.config.max_age, info.config.max_bytes, info.config.max_msgs),
            info.state.messages,
            info.state.bytes,
        )
    return out


def grown(before: dict[str, Stream], after: dict[str, Stream]) -> dict[str, dict[str, Any]]:
    """Messages and bytes added per stream between two snapshots (a stream new since: all of it)."""
    out = {}
    for name, now in after.items():
        then = before.get(name)
        out[name] = {
            "permanent": now.permanent,
            "messages": now.messages - (then.messages if then else 0),
            "bytes": now.bytes - (then.bytes if then else 0),
        }
    return out


def text_bytes(tokens: list[str]) -> int:
    return len("".join(tokens).encode())


def per_unit(growth: dict[str, dict[str, Any]], tokens: int, answers: int, text: int) -> dict[str, Any]:
    """The growth as bytes per token and per answer, for the permanent log, the short-lived
    streams and all of it; ``text``: UTF-8 bytes of the answers' text (the same answers)."""

    def share(kind: str, keep) -> dict[str, Any]:
        picked = [g for g in growth.values() if keep(g)]
        stored = sum(g["bytes"] for g in picked)
        return {
            "bytes": stored,
            "messages": sum(g["messages"] for g in picked),
            "bytes_per_token": round(stored / tokens, 1) if tokens else None,
            "bytes_per_answer": round(stored / answers, 1) if answers else None,
            "times_text": round(stored / text, 2) if text else None,
        }

    return {
        "tokens": tokens,
        "answers": answers,
        "text_bytes": text,
        "text_bytes_per_token": round(text / tokens, 2) if tokens else None,
        "permanent": share("permanent", lambda g: g["permanent"]),
        "short_lived": share("short_lived", lambda g: not g["permanent"]),
        "all": share("all", lambda g: True),
        "streams": growth,
    }
