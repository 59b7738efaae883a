"""``parley replay SESSION_ID``: a conversation rebuilt from the event log alone (never PostgreSQL)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from datetime import UTC, datetime

import msgspec

from events import subjects
from events.errors import InvalidSubjectToken
from services import bus, runtime
from services.audit import reader, render
from services.audit.conversation import Conversation, apply, fold
from services.audit.errors import AuditError, UnknownSession
from services.settings import Settings


def parse_time(text: str) -> datetime:
    """ISO 8601; a time without a zone is UTC."""
    try:
        at = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return at if at.tzinfo else at.replace(tzinfo=UTC)


async def load(js, session_id: str, as_of: datetime | None = None) -> Conversation:
    try:
        subjects.token(session_id)
    except InvalidSubjectToken:
        raise UnknownSession(f"no such session: {session_id!r}") from None
    items = await reader.session(js, session_id)
    if not items:
        raise UnknownSession(f"no events for session {session_id}")
    return fold(session_id, items, as_of)


async def play(conv: Conversation, speed: float, out=sys.stdout) -> None:
    """Each answer's final attempt written out at its recorded token timing, ``speed`` x faster."""
    out.write("\n".join(render.header(conv)) + "\n")
    for m in conv.messages():
        if m["role"] == "user":
            out.write(f"user: {m['content']}\n")
            continue
        out.write("assistant: ")
        life = conv.answers.get(m["id"])
        attempts = [a for a in (life.attempts if life else []) if a.timing()]
        if not attempts:
            out.write(m["content"] + "\n")
            continue
        last = 0
        for offset, text in attempts[-1].timing():
            await asyncio.sleep(max(0, offset - last) / 1000 / speed)
            last = offset
            out.write(text)
            out.flush()
        out.write(f"  [{m['status']}]\n")
    out.flush()


async def run(settings: Settings, args: argparse.Namespace) -> None:
    nc = await bus.connect(runtime.resolve(settings, database=False).nats_url, "parley-replay")
    try:
        js = nc.jetstream()
        conv = await load(js, args.session_id, args.as_of)
        if args.speed:
            await play(conv, args.speed)
        else:
            print(render.render(conv, args.format, args.as_of), flush=True)
        if args.follow:
            async for item in reader.read(
                js, subjects.session(args.session_id), from_seq=conv.last_seq + 1, follow=True
            ):
                apply(conv, item)
                print(render.timeline_line(conv.timeline[-1]), flush=True)
    finally:
        await nc.close()


def main(settings: Settings, args: argparse.Namespace) -> None:
    if args.speed is not None and args.speed <= 0:
        raise AuditError("--speed must be > 0")
    asyncio.run(run(settings, args))


async def export(settings: Settings, session_id: str, fmt: str, with_events: bool) -> str:
    """``parley export``: the same document the edge's export route serves, read from the log."""
    from services.audit import exchange

    nc = await bus.connect(runtime.resolve(settings, database=False).nats_url, "parley-export")
    try:
        js = nc.jetstream()
        conv = await load(js, session_id)
        if fmt == "markdown":
            return render.to_markdown(conv)
        events = await reader.session(js, session_id) if with_events else None
        return msgspec.json.format(msgspec.json.encode(exchange.export(conv, events)), indent=2).decode()
    finally:
        await nc.close()
