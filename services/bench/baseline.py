"""The direct baseline: the naive design Parley is measured against.

One FastAPI process, one WebSocket per session; a ``send`` frame makes the handler call the
provider in-process (with Parley's own provider client, so both sides pay the same per token
from the provider and keep their connections alive) and forward every token as it arrives. No
bus, no persistence, no coalescing, no resume: history lives in a dict and dies with the process.
Frames have Parley's format (docs/protocol.md) so the same load generator and the same checks run
against both.

``python -m services.bench.baseline --port P --llm-url http://127.0.0.1:Q`` (until SIGTERM).
"""

from __future__ import annotations

import argparse
import json
import time
import uuid
from contextlib import asynccontextmanager
from typing import Any

import msgspec
import uvicorn
from fastapi import FastAPI, WebSocket, WebSocketDisconnect

from services.generation.errors import ProviderFailure
from services.generation.providers import Delta, Provider

_encode = msgspec.json.Encoder().encode


class Session:
    def __init__(self, session_id: str) -> None:
        self.id = session_id
        self.messages: list[dict[str, str]] = []
        self.seq = 0

    def frame(self, type_: str, data: dict[str, Any], message_id: str = "", stored: bool = True) -> str:
        """One frame; ``stored`` frames get the next sequence number (Parley: the event's)."""
        if stored:
            self.seq += 1
        frame = {"session_id": self.id, "message_id": message_id, "type": type_, "data": data}
        frame["seq"] = self.seq if stored else None
        return _encode(frame).decode()


def _message(session: Session, message_id: str, role: str, content: str, **extra: Any) -> dict[str, Any]:
    return {"id": message_id, "session_id": session.id, "role": role, "content": content, **extra}


def build(llm_url: str, model: str = "scripted") -> FastAPI:
    sessions: dict[str, Session] = {}
    http: dict[str, Provider] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        # The fairest client: Parley's (no connection limit, every finished connection kept alive).
        http["provider"] = Provider("local", f"{llm_url.rstrip('/')}/v1", model, retries=0)
        yield
        await http["provider"].aclose()

    app = FastAPI(lifespan=lifespan)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/api/v1/chat/sessions", status_code=201)
    async def create_session() -> dict[str, Any]:
        session = Session(uuid.uuid4().hex)
        sessions[session.id] = session
        return {"id": session.id, "title": "", "user_id": "local", "message_count": 0, "last_seq": 0}

    async def answer(ws: WebSocket, session: Session, content: str, client_message_id: str | None) -> None:
        user_id, answer_id = uuid.uuid4().hex, uuid.uuid4().hex
        user = _message(session, user_id, "user", content, client_message_id=client_message_id, status="complete")
        await ws.send_text(session.frame("newMessage", user, user_id))
        pending = _message(session, answer_id, "assistant", "", reply_to=user_id, status="pending", is_streaming=True)
        await ws.send_text(session.frame("newMessage", pending, answer_id))
        session.messages.append({"role": "user", "content": content})
        started = time.perf_counter()
        parts: list[str] = []
        await ws.send_text(
            session.frame("messageUpdate", {"event": "started", "attempt": 1, "llm_model": model}, answer_id)
        )
        try:
            async for item in http["provider"].stream(session.messages):
                if isinstance(item, Delta) and not item.reasoning:
                    i = len(parts)
                    parts.append(item.text)
                    data = {
                        "event": "token",
                        "delta": item.text,
                        "index": i,
                        "token_index": i,
                        "token_count": 1,
                        "attempt": 1,
                    }
                    await ws.send_text(session.frame("messageUpdate", data, answer_id))
        except ProviderFailure as exc:
            failed = _message(session, answer_id, "assistant", "".join(parts), status="failed")
            error = f"{type(exc).__name__}: {exc}"
            data = {"event": "failed", "error_kind": "provider_error", "error_message": error, "message": failed}
            await ws.send_text(session.frame("messageUpdate", data, answer_id))
            return
        content = "".join(parts)
        session.messages.append({"role": "assistant", "content": content})
        done = _message(
            session,
            answer_id,
            "assistant",
            content,
            status="complete",
            completion_tokens=len(parts),
            response_time_ms=round((time.perf_counter() - started) * 1000),
        )
        await ws.send_text(session.frame("messageUpdate", {"event": "completed", "message": done}, answer_id))

    @app.websocket("/api/v1/chat/websocket/{session_id}")
    async def socket(ws: WebSocket, session_id: str) -> None:
        await ws.accept()
        session = sessions.get(session_id)
        if session is None:
            await ws.close(4404, "no such session")
            return
        connected = {"status": "connected", "user_id": "local", "after_seq": None, "last_seq": session.seq}
        await ws.send_text(session.frame("connectionStatus", connected, stored=False))
        await ws.send_text(session.frame("connectionStatus", {"status": "live", "last_seq": session.seq}, stored=False))
        try:
            while True:
                raw = await ws.receive_text()
                try:
                    frame = json.loads(raw)
                except ValueError:
                    error = {"code": "bad_json", "message": "not JSON"}
                    await ws.send_text(session.frame("error", error, stored=False))
                    continue
                if frame.get("type") == "send" and isinstance(frame.get("content"), str):
                    # The naive part: the answer streams inside this socket's handler.
                    await answer(ws, session, frame["content"], frame.get("client_message_id"))
                elif frame.get("type") == "ping":
                    pong = {"status": "pong", "server_time": time.time()}
                    await ws.send_text(session.frame("connectionStatus", pong, stored=False))
                else:
                    error = {"code": "unknown_type", "message": f"unsupported frame: {frame.get('type')!r}"}
                    await ws.send_text(session.frame("error", error, stored=False))
        except WebSocketDisconnect:
            return

    return app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m services.bench.baseline", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--llm-url", required=True, help="root URL of the OpenAI-compatible server")
    args = parser.parse_args(argv)
    # The edge's uvicorn settings that matter for speed: the same WebSocket implementation.
    uvicorn.run(
        build(args.llm_url),
        host=args.host,
        port=args.port,
        ws="websockets-sansio",
        log_level="warning",
        access_log=False,
        lifespan="on",
    )


if __name__ == "__main__":
    main()
