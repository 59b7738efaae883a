"""Messages: send (202, the answer streams over the socket), read, regenerate, cancel."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response

from services.edge.deps import CaughtUp, ChatDep, User
from services.edge.inputs import MAX_PAGE, canonical_id
from services.edge.route import CheckedRoute
from services.edge.schemas import (
    CancelAccepted,
    ChatMessage,
    ProcessLlmAccepted,
    ProcessLlmBody,
    SendAccepted,
    SendBody,
)

router = APIRouter(prefix="/chat/sessions/{session_id}", tags=["messages"], route_class=CheckedRoute)

SEQ_HEADER = "X-Parley-Seq"


@router.post("/messages", status_code=202, response_model=SendAccepted)
async def send_message(session_id: str, body: SendBody, chat: ChatDep, user: User) -> dict:
    """Store a user message and request its answer. The same ``client_message_id`` twice stores
    one message and returns the same ids."""
    message, answer_id, seq = await chat.send(
        user, session_id, body.content, body.client_message_id, parent_id=body.parent_id, edit_of=body.edit_of
    )
    return {"message": message, "answer_message_id": answer_id, "seq": seq}


@router.get("/messages", response_model=list[ChatMessage])
async def list_messages(
    session_id: str,
    chat: ChatDep,
    user: User,
    _seen: CaughtUp,
    response: Response,
    page: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
    before: Annotated[str | None, Query(description="a message id or an ISO 8601 time")] = None,
    branch: Annotated[
        str | None, Query(max_length=64, description="a message id: the branch through it (default: the newest)")
    ] = None,
    branches: Annotated[Literal["active", "all"], Query(description="`all`: every message of every branch")] = "active",
) -> list[dict]:
    """Oldest to newest within the page; page 1 is the newest. ``X-Parley-Seq``: the stream
    sequence the read reflects (use it as the socket's ``after_seq``). The page comes from one
    branch of the conversation: the one ending at the newest message, or the one through
    ``branch``; ``branches=all`` reads every message. ``sibling_ids`` drive a "‹ 2 / 3 ›" switcher."""
    messages, seq = await chat.list_messages(
        user,
        session_id,
        page=page,
        page_size=page_size,
        before=before,
        branch=branch,
        all_branches=branches == "all",
    )
    response.headers[SEQ_HEADER] = str(seq)
    return messages


@router.post("/process-llm", status_code=202, response_model=ProcessLlmAccepted)
async def process_llm(session_id: str, chat: ChatDep, user: User, body: ProcessLlmBody | None = None) -> dict:
    """A new answer to a user message (default: the newest), optionally from another provider/model."""
    body = body or ProcessLlmBody()
    answer_id, prompt_id, seq = await chat.regenerate(
        user, session_id, body.message_id, body.llm_provider, body.llm_model
    )
    return {"answer_message_id": answer_id, "prompt_message_id": prompt_id, "seq": seq}


@router.post("/messages/{message_id}/cancel", status_code=202, response_model=CancelAccepted)
async def cancel(session_id: str, message_id: str, chat: ChatDep, user: User) -> dict:
    """Stop an answer: the generation worker stops the model and keeps the partial text."""
    seq = await chat.cancel(user, session_id, message_id)
    return {"message_id": canonical_id(message_id), "seq": seq}
