"""Export a conversation (owner only) and import one as a new session of the caller's."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import msgspec
from fastapi import APIRouter, Query, Request
from fastapi.responses import PlainTextResponse, Response
from nats.errors import Error as NatsError
from nats.js.errors import Error as JsError

from events import codec
from services import logs
from services.audit import exchange, reader, render
from services.audit.conversation import fold
from services.audit.errors import BadExport
from services.edge.commands import check_choice, check_content, check_settings, check_title
from services.edge.deps import ChatDep, User
from services.edge.errors import Invalid, Unavailable

log = logs.get("edge.exports")
router = APIRouter(prefix="/chat/sessions", tags=["export"])

MAX_IMPORT_BYTES = 32 * 1024 * 1024


async def _events(chat, session_id: str):
    try:
        return await reader.session(chat.js, session_id)
    except (NatsError, JsError, TimeoutError) as exc:
        raise Unavailable(f"NATS did not answer the export: {exc or type(exc).__name__}") from None


@router.get(
    "/{session_id}/export",
    responses={200: {"content": {"application/json": {}, "text/markdown": {}}}},
    response_model=None,
)
async def export_session(
    session_id: str,
    chat: ChatDep,
    user: User,
    format: Annotated[Literal["json", "markdown"], Query(description="json or markdown")] = "json",
    events: Annotated[bool, Query(description="json only: add the raw stored events")] = False,
) -> Response:
    """The conversation rebuilt from its events: JSON (every message with its metrics, each
    answer's attempts and token timing; ``events=true`` adds the raw events) or Markdown."""
    ref = await chat.access.session(user, session_id)
    stored = await _events(chat, ref.session_id)
    conv = fold(ref.session_id, stored)
    name = f"parley-{ref.session_id}"
    if format == "markdown":
        return PlainTextResponse(
            render.to_markdown(conv),
            media_type="text/markdown; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.md"'},
        )
    doc = exchange.export(conv, stored if events else None)
    return Response(
        msgspec.json.encode(doc),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}.json"'},
    )


@router.post("/import", status_code=201)
async def import_session(request: Request, chat: ChatDep, user: User) -> Response:
    """A new session of the caller's from an exported JSON document, marked imported in its events."""
    body = await request.body()
    if len(body) > MAX_IMPORT_BYTES:
        raise Invalid(f"an import is at most {MAX_IMPORT_BYTES} bytes", "body")
    try:
        doc = exchange.parse(body)
    except BadExport as exc:
        raise Invalid(str(exc), "body") from None
    check_title(doc.session.title)
    check_choice(doc.session.llm_provider, doc.session.llm_model)
    for n, m in enumerate(doc.messages):
        if m.role == "user":
            check_content(m.content, chat.limits, f"messages[{n}].content")
    try:
        events = exchange.import_events(doc, user, codec.new_id(), datetime.now(UTC))
    except BadExport as exc:
        raise Invalid(str(exc), "body") from None
    check_settings(events[0].settings, chat.limits)
    acks = await chat.journal.publish(events)
    session_id = events[0].session_id
    log.info("session imported", session_id=session_id, user_id=user, events=len(events), imported_from=doc.session.id)
    session = await chat._session_after(session_id, acks[-1].seq, fallback=events[0])
    out: dict[str, Any] = {"session": session, "messages": len(doc.messages), "seq": acks[-1].seq}
    return Response(msgspec.json.encode(out), status_code=201, media_type="application/json")
