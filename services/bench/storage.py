"""Bytes JetStream stores for the chat (issue 17): what a scenario added, split into the
permanent log and anything short-lived, per delivered token and per answer, beside the UTF-8
size of the answers' text.

Short-lived is a stream with any age or size limit, or, in a permanent stream, a subject that is
purged after a while (token deltas: ``SHORT_LIVED``). A stream's size is read from its info; the
split by subject reads every message the scenario added and sizes it as nats-server's file store
does (``record_bytes``), so the parts add up to the stream's own byte count (``unaccounted``
says if not). ``snapshot`` and ``tally`` read the server; the rest is pure."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from nats.js import JetStreamContext, api

# Internal streams of KV buckets and object stores: configuration, not chat events.
_INTERNAL = ("KV_", "OBJ_")
# Event types purged after a retention time inside the permanent stream (the chunks' deltas).
SHORT_LIVED = ("generation.delta",)


@dataclass(frozen=True, slots=True)
class Stream:
    name: str
    permanent: bool  # no max age, bytes or messages: the log keeps it forever
    messages: int
    bytes: int
    last_seq: int = 0
    subject: str = ">"  # what a consumer of the whole stream filters on


def record_bytes(subject: str, header: int, data: int) -> int:
    """A message's size in nats-server's file store (filestore.go, fileStoreMsgSizeRaw): record
    length, sequence, timestamp, subject length (22), the subject, the headers with their length
    (4) when there are any, the payload, and the hash (8)."""
    return 22 + len(subject) + (4 + header if header else 0) + data + 8


def header_bytes(headers: dict[str, str] | None) -> int:
    """The raw NATS header block of a message published with ``headers`` (``NATS/1.0``, one
    ``key: value`` line each, a blank line)."""
    if not headers:
        return 0
    return len(b"NATS/1.0\r\n") + sum(len(k.encode()) + 2 + len(v.encode()) + 2 for k, v in headers.items()) + 2


def event_type(subject: str) -> str:
    """``parley.chat.<session>.generation.delta`` -> ``generation.delta`` (event tags are two words)."""
    return ".".join(subject.split(".")[-2:])


async def tally(
    js: JetStreamContext, stream: str, after_seq: int, last_seq: int, subject: str = ">"
) -> dict[str, list[int]]:
    """Per event type of ``stream``'s messages ``after_seq + 1 .. last_seq``: ``[messages, bytes,
    payload bytes]`` (the rest of the bytes is the store's framing: record, subject, headers)."""
    found: dict[str, list[int]] = {}
    if last_seq <= after_seq:
        return found
    done = asyncio.Event()

    async def on_msg(msg) -> None:
        seq = msg.metadata.sequence.stream
        kind = event_type(msg.subject)
        counts = found.setdefault(kind, [0, 0, 0])
        counts[0] += 1
        counts[1] += record_bytes(msg.subject, header_bytes(msg.headers), len(msg.data))
        counts[2] += len(msg.data)
        if seq >= last_seq:
            done.set()

    sub = await js.subscribe(
        subject,
        stream=stream,
        cb=on_msg,
        ordered_consumer=True,
        deliver_policy=api.DeliverPolicy.BY_START_SEQUENCE,
        config=api.ConsumerConfig(opt_start_seq=after_seq + 1),
    )
    try:
        async with asyncio.timeout(300):
            await done.wait()
    finally:
        await sub.unsubscribe()
    return found


def is_permanent(
    max_age_s: float | None, max_bytes: int | None, max_msgs: int | None, discard: api.DiscardPolicy | None = None
) -> bool:
    """Kept forever unless an age limit expires events, or a size or count limit with
    ``DiscardPolicy.OLD`` drops the oldest (with ``NEW`` a full stream refuses new events
    and keeps every stored one)."""
    if (max_age_s or 0) > 0:
        return False
    limited = (max_bytes or -1) > 0 or (max_msgs or -1) > 0
    return not (limited and discard != api.DiscardPolicy.NEW)


async def snapshot(js: JetStreamContext) -> dict[str, Stream]:
    """Every chat stream now (KV buckets left out)."""
    out = {}
    for info in await js.streams_info():
        name = info.config.name
        if name is None or name.startswith(_INTERNAL):
            continue
        out[name] = Stream(
            name,
            is_permanent(info.config.max_age, info.config.max_bytes, info.config.max_msgs, info.config.discard),
            info.state.messages,
            info.state.bytes,
            info.state.last_seq,
            info.config.subjects[0] if len(info.config.subjects or []) == 1 else ">",
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


def split(growth: dict[str, dict[str, Any]], types: dict[str, dict[str, list[int]]]) -> dict[str, dict[str, Any]]:
    """Per stream growth into parts: a permanent stream's short-lived event types become their
    own part (``<stream>/short-lived``), with ``types`` (per stream: event type -> [messages,
    bytes, payload bytes]) kept beside; the bytes no message accounts for are ``unaccounted`` (0 unless
    something was purged or the size formula is off)."""
    out: dict[str, dict[str, Any]] = {}
    for name, g in growth.items():
        kinds = types.get(name)
        if not g["permanent"] or kinds is None:
            out[name] = g
            continue
        short = [v for k, v in kinds.items() if k in SHORT_LIVED]
        counted = sum(v[1] for v in kinds.values())
        out[name] = {
            "permanent": True,
            "messages": g["messages"] - sum(v[0] for v in short),
            "bytes": g["bytes"] - sum(v[1] for v in short),
            "unaccounted": g["bytes"] - counted,
            "types": {k: {"messages": v[0], "bytes": v[1], "payload": v[2]} for k, v in sorted(kinds.items())},
        }
        if short:
            out[f"{name}/short-lived"] = {
                "permanent": False,
                "messages": sum(v[0] for v in short),
                "bytes": sum(v[1] for v in short),
            }
    return out


def text_bytes(tokens: list[str]) -> int:
    return len("".join(tokens).encode())


def per_unit(growth: dict[str, dict[str, Any]], tokens: int, answers: int, text: int) -> dict[str, Any]:
    """The growth as bytes per token and per answer, for the permanent log, the short-lived
    streams and all of it; ``text``: UTF-8 bytes of the answers' text (the same answers)."""

    def share(keep) -> dict[str, Any]:
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
        "permanent": share(lambda g: g["permanent"]),
        "short_lived": share(lambda g: not g["permanent"]),
        "all": share(lambda g: True),
        "streams": growth,
    }
